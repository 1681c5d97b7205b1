"""Looking users up by id or login, and the Helix `<prefix>_id/_login/_name` field triple."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from streamhub.api.context import ApiContext
from streamhub.api.errors import ApiError
from streamhub.storage.models import User

MAX_ID = 2**31 - 1  # ids are 32-bit integer columns (PostgreSQL rejects larger parameters)


@dataclass(frozen=True, slots=True)
class Person:
    id: int
    login: str
    display_name: str

    def fields(self, prefix: str) -> dict[str, Any]:
        """e.g. prefix "broadcaster" -> broadcaster_id, broadcaster_login, broadcaster_name."""
        return {f"{prefix}_id": str(self.id), f"{prefix}_login": self.login,
                f"{prefix}_name": self.display_name}


async def people_by_id(ctx: ApiContext, ids: Iterable[int]) -> dict[int, Person]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    async with ctx.sessions() as session:
        rows = await session.execute(
            select(User.id, User.login, User.display_name).where(User.id.in_(wanted)))
        return {r.id: Person(r.id, r.login, r.display_name) for r in rows}


async def people_by_login(ctx: ApiContext, logins: Iterable[str]) -> dict[str, Person]:
    wanted = sorted({login.lower() for login in logins})
    if not wanted:
        return {}
    async with ctx.sessions() as session:
        rows = await session.execute(
            select(User.id, User.login, User.display_name).where(User.login.in_(wanted)))
        return {r.login: Person(r.id, r.login, r.display_name) for r in rows}


def parse_user_id(value: str, name: str) -> int:
    """A Helix user id parameter: 400 unless a positive integer."""
    if not value.isdigit() or len(value) > 18 or not 0 < int(value) <= MAX_ID:
        raise ApiError(400, f"Invalid {name!r}: expected a user ID")
    return int(value)


async def person(ctx: ApiContext, user_id: int | str, name: str = "broadcaster_id") -> Person:
    """The user with this id; 400 for a malformed id and 400 naming `name` when unknown
    (Helix answers unknown ids in parameters with 400)."""
    uid = parse_user_id(user_id, name) if isinstance(user_id, str) else user_id
    found = (await people_by_id(ctx, [uid])).get(uid)
    if found is None:
        raise ApiError(400, f"Invalid {name!r}: no user with ID {uid}")
    return found
