"""UTC datetimes: the database's naive values made aware, and RFC 3339 text as Helix writes it."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["aware", "rfc3339"]


def aware(value: datetime) -> datetime:
    """An aware UTC datetime (SQLite gives naive UTC values back)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def rfc3339(value: datetime | None) -> str:
    """`2026-11-23T15:04:21Z` (empty string for None, as Helix does)."""
    if value is None:
        return ""
    return aware(value).strftime("%Y-%m-%dT%H:%M:%SZ")
