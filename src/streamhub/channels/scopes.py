"""OAuth2 scopes: the known Twitch scope names, parsing of `scope` parameters, descriptions."""

from __future__ import annotations

import re

SCOPE_SYNTAX = re.compile(r"^[a-z_]+(?::[a-z_]+){1,3}$")

# Twitch's scope names (dev.twitch.tv/docs/authentication/scopes), chat and API alike.
KNOWN_SCOPES: frozenset[str] = frozenset({
    "analytics:read:extensions", "analytics:read:games",
    "bits:read",
    "channel:bot", "channel:edit:commercial", "channel:manage:ads", "channel:read:ads",
    "channel:manage:broadcast", "channel:read:charity", "channel:read:editors",
    "channel:manage:editors",
    "channel:manage:extensions", "channel:read:goals", "channel:read:guest_star",
    "channel:manage:guest_star", "channel:read:hype_train", "channel:manage:moderators",
    "channel:moderate", "channel:read:polls", "channel:manage:polls",
    "channel:read:predictions", "channel:manage:predictions", "channel:manage:raids",
    "channel:read:redemptions", "channel:manage:redemptions", "channel:manage:schedule",
    "channel:read:stream_key", "channel:read:subscriptions", "channel:manage:videos",
    "channel:read:vips", "channel:manage:vips", "channel:manage:clips",
    "chat:read", "chat:edit",
    "clips:edit",
    "moderation:read",
    "moderator:manage:announcements", "moderator:manage:automod",
    "moderator:read:automod_settings", "moderator:manage:automod_settings",
    "moderator:read:banned_users", "moderator:manage:banned_users",
    "moderator:read:blocked_terms", "moderator:manage:blocked_terms",
    "moderator:read:chat_messages", "moderator:manage:chat_messages",
    "moderator:read:chat_settings", "moderator:manage:chat_settings",
    "moderator:read:chatters", "moderator:read:followers",
    "moderator:read:guest_star", "moderator:manage:guest_star",
    "moderator:read:moderators", "moderator:read:shield_mode", "moderator:manage:shield_mode",
    "moderator:read:shoutouts", "moderator:manage:shoutouts",
    "moderator:read:suspicious_users", "moderator:read:unban_requests",
    "moderator:manage:unban_requests", "moderator:read:vips",
    "moderator:read:warnings", "moderator:manage:warnings",
    "user:bot", "user:edit", "user:edit:broadcast", "user:edit:follows",
    "user:read:blocked_users", "user:manage:blocked_users", "user:read:broadcast",
    "user:read:chat", "user:manage:chat_color", "user:read:email", "user:read:emotes",
    "user:read:follows", "user:read:moderated_channels", "user:read:subscriptions",
    "user:read:whispers", "user:manage:whispers", "user:write:chat",
    "whispers:read", "whispers:edit",
})

_VERBS = {"read": "View", "manage": "Manage", "edit": "Edit", "write": "Send",
          "moderate": "Moderate", "bot": "Act as a chat bot in"}
_NOUN_TEXT = {"edit:commercial": "Run commercials on", "chat:read": "View live chat messages",
              "chat:edit": "Send live chat messages", "bits:read": "View Bits information for",
              "clips:edit": "Create clips of", "whispers:read": "View your whisper messages",
              "whispers:edit": "Send whisper messages"}


class ScopeError(ValueError):
    """A `scope` parameter with bad syntax or a scope this server does not know."""


def parse_scopes(raw: str | None, *, max_scopes: int = 100) -> tuple[str, ...]:
    """Split a space-separated `scope` value into known scopes (order kept, duplicates dropped).

    Raises ScopeError naming the first scope with bad syntax or not in KNOWN_SCOPES."""
    if raw is None:
        return ()
    found: list[str] = []
    for scope in raw.split():
        if not SCOPE_SYNTAX.fullmatch(scope):
            raise ScopeError(f"invalid scope syntax: {scope[:60]!r} (expected e.g. chat:read)")
        if scope not in KNOWN_SCOPES:
            raise ScopeError(f"unknown scope: {scope!r}")
        if scope not in found:
            found.append(scope)
    if len(found) > max_scopes:
        raise ScopeError(f"too many scopes (at most {max_scopes})")
    return tuple(found)


def describe(scope: str) -> str:
    """A short human description of a scope for the consent page."""
    if scope in _NOUN_TEXT:
        return _NOUN_TEXT[scope] if scope.startswith(("chat:", "whispers:")) else (
            f"{_NOUN_TEXT[scope]} your channel")
    parts = scope.split(":")
    owner = {"channel": "your channel", "user": "your account",
             "moderator": "channels you moderate", "moderation": "channels you moderate",
             "analytics": "your analytics", "clips": "your channel"}.get(parts[0], parts[0])
    verb = _VERBS.get(parts[1], parts[1].capitalize()) if len(parts) > 1 else "Use"
    what = " ".join(p.replace("_", " ") for p in parts[2:]) or "information"
    return f"{verb} {what} of {owner}" if len(parts) > 2 else f"{verb} {owner}"
