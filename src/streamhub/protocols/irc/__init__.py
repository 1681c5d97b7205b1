"""Sans-I/O IRC with IRCv3 message tags (Twitch TMI dialect)."""
