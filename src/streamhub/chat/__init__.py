"""Chat: rooms, fan-out, moderation, emotes, badges, rate limits, buses, gateways."""
