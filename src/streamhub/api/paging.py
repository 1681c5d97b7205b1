"""Helix paging: first/after/before, opaque cursors and the data + pagination envelope."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Query

from streamhub.api.errors import ApiError

DEFAULT_FIRST = 20
MAX_FIRST = 100
MAX_IDS = 100


def encode_cursor(value: dict[str, Any]) -> str:
    raw = json.dumps(value, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        if len(cursor) > 500:
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "Invalid cursor") from exc
    if not isinstance(value, dict):
        raise ApiError(400, "Invalid cursor")
    return value


@dataclass(frozen=True, slots=True)
class Page:
    """A request's page: how many, and after/before which cursor."""

    first: int = DEFAULT_FIRST
    after: str | None = None
    before: str | None = None

    def offset(self) -> int:
        """The row offset of an offset cursor (`after`/`before` from `offset_cursor`)."""
        if self.after:
            start = _offset_of(self.after)
        elif self.before:
            start = max(0, _offset_of(self.before) - self.first)
        else:
            start = 0
        return start


def _offset_of(cursor: str) -> int:
    value = decode_cursor(cursor).get("o")
    if not isinstance(value, int) or value < 0 or value > 10**9:
        raise ApiError(400, "Invalid cursor")
    return value


def offset_cursor(offset: int) -> str:
    return encode_cursor({"o": offset})


async def page_params(
    first: Annotated[int, Query(ge=1, le=MAX_FIRST, description="Items per page (1-100)")] = (
        DEFAULT_FIRST),
    after: Annotated[str | None, Query(max_length=500, description="Cursor of the next page")] = (
        None),
    before: Annotated[str | None, Query(max_length=500,
                                        description="Cursor of the previous page")] = None,
) -> Page:
    """FastAPI dependency: the standard paging parameters."""
    if after and before:
        raise ApiError(400, "Use either 'after' or 'before', not both")
    return Page(first, after, before)


def envelope(data: list[Any], cursor: str | None = None, **extra: Any) -> dict[str, Any]:
    """The Helix response body; `pagination` is `{}` on the last page."""
    body: dict[str, Any] = {"data": data}
    body.update(extra)
    body["pagination"] = {"cursor": cursor} if cursor else {}
    return body


def offset_envelope(rows: list[Any], page: Page, **extra: Any) -> dict[str, Any]:
    """Envelope for offset paging: pass up to `page.first + 1` rows (the extra one says
    there is a next page)."""
    start = page.offset()
    more = len(rows) > page.first
    data = rows[: page.first]
    return envelope(data, offset_cursor(start + len(data)) if more else None, **extra)


def check_ids(values: list[str], name: str) -> list[str]:
    """Repeated-id filters: at most 100, each non-empty."""
    if len(values) > MAX_IDS:
        raise ApiError(400, f"Too many {name!r} values (at most {MAX_IDS})")
    for value in values:
        if not value or len(value) > 100:
            raise ApiError(400, f"Invalid {name!r} value")
    return values


def int_ids(values: list[str], name: str) -> list[int]:
    """Repeated numeric ids (user ids, category ids): 400 for anything not a positive integer."""
    out: list[int] = []
    for value in check_ids(values, name):
        if not value.isdigit() or len(value) > 18 or int(value) > 2**31 - 1:  # int4 ids
            raise ApiError(400, f"Invalid {name!r} value {value!r}")
        out.append(int(value))
    return out
