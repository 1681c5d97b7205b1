"""StreamHub: self-hostable multi-channel live streaming platform."""

__version__ = "0.1.0"
