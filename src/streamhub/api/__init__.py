"""Helix-style REST API, OAuth2 endpoints and EventSub."""
