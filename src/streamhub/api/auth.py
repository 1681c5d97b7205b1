"""Who is calling: bearer tokens, Client-Id, scopes, channel roles, rate-limit accounting."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Header, Request
from fastapi.security import HTTPBearer
from sqlalchemy import select

from streamhub.api.context import ApiContext
from streamhub.api.errors import ApiError
from streamhub.channels.tokens import AppTokenInfo
from streamhub.storage.models import ChannelRole, User

# Declared so /docs shows the scheme; the check itself is `requires` below.
bearer_scheme = HTTPBearer(auto_error=False, description="Helix access token (user or app)")


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of one request."""

    token: str
    client_id: str | None
    user_id: int | None  # None for app access tokens
    login: str | None
    scopes: frozenset[str]

    def require_user(self) -> int:
        if self.user_id is None:
            raise ApiError(401, "This endpoint requires a user access token")
        return self.user_id

    def require_self(self, user_id: int, name: str = "broadcaster_id") -> None:
        """403 unless the token belongs to `user_id` (the id in parameter `name`)."""
        if self.require_user() != user_id:
            raise ApiError(403, f"The ID in {name} must match the user ID in the access token")


Dependency = Callable[..., Awaitable[Principal]]


def requires(ctx: ApiContext, *scopes: str, user: bool = False, cost: int = 1) -> Dependency:
    """A FastAPI dependency: a valid token with all `scopes` (and a user, if `user`), charged
    `cost` points of its rate-limit bucket."""

    async def principal(
        request: Request,
        authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
        client_id: Annotated[str | None, Header(alias="Client-Id", include_in_schema=False)] = (
            None),
    ) -> Principal:
        if not authorization:
            raise ApiError(401, "OAuth token is missing")
        kind, _, token = authorization.partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            raise ApiError(401, "Invalid OAuth token: use 'Authorization: Bearer <token>'")
        info = await ctx.tokens.validate_any(token.strip())
        if info is None:
            raise ApiError(401, "Invalid OAuth token")
        if not client_id:
            raise ApiError(401, "Client ID is missing: send the Client-Id header")
        if info.client_id is not None and info.client_id != client_id:
            raise ApiError(401, "Client ID and OAuth token do not match")
        if isinstance(info, AppTokenInfo):
            found = Principal(token.strip(), info.client_id, None, None, info.scopes)
        else:
            found = Principal(token.strip(), info.client_id or client_id, info.user_id,
                              info.login, info.scopes)
        key = f"{found.client_id}:{found.user_id or ''}"
        allowance = ctx.buckets.take(key, cost)
        request.scope.setdefault("state", {})["ratelimit"] = allowance
        if not allowance.allowed:
            raise ApiError(429, "Too Many Requests", allowance.headers())
        if user and found.user_id is None:
            raise ApiError(401, "This endpoint requires a user access token")
        for scope in scopes:
            if scope not in found.scopes:
                raise ApiError(401, f"Missing scope: {scope}")
        return found

    return principal


async def is_admin(ctx: ApiContext, user_id: int | None) -> bool:
    if user_id is None:
        return False
    async with ctx.sessions() as session:
        return bool(await session.scalar(select(User.is_admin).where(User.id == user_id)))


async def channel_roles(ctx: ApiContext, channel_id: int, user_id: int) -> set[str]:
    """The user's roles in the channel: broadcaster, moderator, vip, editor."""
    roles: set[str] = {"broadcaster"} if channel_id == user_id else set()
    async with ctx.sessions() as session:
        found = await session.scalars(select(ChannelRole.role).where(
            ChannelRole.channel_id == channel_id, ChannelRole.user_id == user_id))
        roles.update(found)
    return roles


async def authorize_channel(
    ctx: ApiContext, who: Principal, channel_id: int, allowed: Iterable[str] = ("broadcaster",),
    *, admin: bool = True,
) -> set[str]:
    """403 unless the caller holds one of `allowed` roles in the channel (or is a site admin,
    when `admin`). Returns the caller's roles."""
    user_id = who.require_user()
    roles = await channel_roles(ctx, channel_id, user_id)
    if roles & set(allowed):
        return roles
    if admin and await is_admin(ctx, user_id):
        return roles | {"admin"}
    needed = " or ".join(sorted(allowed))
    raise ApiError(403, f"The user in the access token is not the channel's {needed}")
