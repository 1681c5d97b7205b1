"""People and channels: accounts, stream keys."""
