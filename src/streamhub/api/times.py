"""RFC 3339 timestamps as Helix writes them (UTC, `Z`)."""

from __future__ import annotations

from datetime import UTC, datetime

from streamhub.api.errors import ApiError
from streamhub.utc import aware, rfc3339

__all__ = ["aware", "parse_rfc3339", "rfc3339"]


def parse_rfc3339(value: str, name: str) -> datetime:
    """Parse an RFC 3339 time from a request; 400 naming `name` when it is not one."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"Invalid {name!r}: expected an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise ApiError(400, f"Invalid {name!r}: the time needs a zone (e.g. Z)")
    return parsed.astimezone(UTC)
