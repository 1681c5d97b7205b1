"""Access tokens: issue, validate and revoke bearer tokens (stored as SHA-256 hashes)."""

from __future__ import annotations

import hashlib
import re
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from streamhub.channels.service import AccountError
from streamhub.storage.models import AccessToken, User, utcnow

_ALPHABET = string.ascii_lowercase + string.digits
SCOPE_RE = re.compile(r"^[a-z_]+(?::[a-z_]+){1,3}$")
DEFAULT_SCOPES = ("chat:read", "chat:edit")


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """Who a valid token belongs to and what it may do."""

    user_id: int
    login: str
    display_name: str
    color: str | None
    scopes: frozenset[str]
    expires_at: datetime | None
    client_id: str | None = None
    is_admin: bool = False  # a site admin (staff): chat shows the staff badge


@dataclass(frozen=True, slots=True)
class AppTokenInfo:
    """An app access token (client-credentials flow): a client, no user."""

    client_id: str
    scopes: frozenset[str]
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    info: TokenInfo


def _new_token(scopes: tuple[str, ...], ttl: timedelta | None) -> tuple[str, datetime | None]:
    """A fresh token and its expiry, after checking the scopes' syntax."""
    for scope in scopes:
        if not SCOPE_RE.fullmatch(scope):
            raise AccountError(f"invalid scope {scope!r} (expected e.g. chat:read)")
    token = "".join(secrets.choice(_ALPHABET) for _ in range(30))
    return token, (utcnow() + ttl if ttl is not None else None)


def _row(token: str, scopes: tuple[str, ...], expires: datetime | None, client_id: str | None,
         user_id: int | None) -> AccessToken:
    return AccessToken(user_id=user_id, token_hash=hash_token(token),
                       scopes=" ".join(sorted(set(scopes))), client_id=client_id,
                       expires_at=expires)


def _expired(expires: datetime | None) -> bool:
    return expires is not None and expires <= utcnow()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenService:
    """Issues Twitch-style opaque tokens (30 lowercase alphanumerics) and checks them.

    Valid tokens are remembered for `cache_ttl` seconds so a client polling the API costs
    one lookup per token per interval. Every revocation made through this process clears
    the cache at once; a revocation made on another node is seen within `cache_ttl`.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, cache_ttl: float = 0.0,
                 clock: Callable[[], float] = time.monotonic, cache_size: int = 100_000) -> None:
        self._sessions = sessions
        self._ttl = cache_ttl
        self._clock = clock
        self._cache_size = cache_size
        self._cache: dict[str, tuple[float, TokenInfo | AppTokenInfo]] = {}
        self._generation = 0  # bumped by forget(): lookups in flight then are not cached

    def forget(self) -> None:
        """Drop every remembered validation (call after revoking or deleting tokens)."""
        self._generation += 1
        self._cache.clear()

    async def create(
        self, login: str, scopes: tuple[str, ...] = DEFAULT_SCOPES,
        *, ttl: timedelta | None = None, client_id: str | None = None,
    ) -> IssuedToken:
        token, expires = _new_token(scopes, ttl)
        async with self._sessions() as session:
            user = await session.scalar(select(User).where(User.login == login.lower()))
            if user is None:
                raise AccountError(f"no user {login!r}")
            session.add(_row(token, scopes, expires, client_id, user.id))
            await session.commit()
            info = TokenInfo(user.id, user.login, user.display_name, user.chat_color,
                             frozenset(scopes), expires, client_id, bool(user.is_admin))
        return IssuedToken(token, info)

    async def create_app_token(
        self, client_id: str, scopes: tuple[str, ...] = (), *, ttl: timedelta | None = None,
    ) -> tuple[str, AppTokenInfo]:
        """An app access token for a registered client (no user)."""
        token, expires = _new_token(scopes, ttl)
        async with self._sessions() as session:
            session.add(_row(token, scopes, expires, client_id, None))
            await session.commit()
        return token, AppTokenInfo(client_id, frozenset(scopes), expires)

    async def validate(self, token: str) -> TokenInfo | None:
        """The token's owner and scopes, or None if unknown, revoked, expired or an app token."""
        found = await self.validate_any(token)
        return found if isinstance(found, TokenInfo) else None

    async def validate_any(self, token: str) -> TokenInfo | AppTokenInfo | None:
        """A user token's owner and scopes, an app token's client, or None if not valid."""
        if not token or len(token) > 200:
            return None
        digest = hash_token(token)
        now = self._clock()
        cached = self._cache.get(digest)
        if cached is not None:
            if cached[0] > now and not _expired(cached[1].expires_at):
                return cached[1]
            del self._cache[digest]
        generation = self._generation
        found = await self._lookup(digest)
        if found is not None and self._ttl > 0 and generation == self._generation:
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            self._cache[digest] = (now + self._ttl, found)
        return found

    async def _lookup(self, digest: str) -> TokenInfo | AppTokenInfo | None:
        async with self._sessions() as session:
            row = (await session.execute(
                select(AccessToken, User)
                .outerjoin(User, User.id == AccessToken.user_id)
                .where(AccessToken.token_hash == digest,
                       AccessToken.revoked_at.is_(None))
            )).first()
        if row is None:
            return None
        tok, user = row
        expires = tok.expires_at
        if expires is not None:
            if expires.tzinfo is None:  # SQLite returns naive UTC
                expires = expires.replace(tzinfo=utcnow().tzinfo)
            if _expired(expires):
                return None
        scopes = frozenset(tok.scopes.split())
        if user is None:
            if tok.client_id is None:
                return None
            return AppTokenInfo(tok.client_id, scopes, expires)
        return TokenInfo(user.id, user.login, user.display_name, user.chat_color,
                         scopes, expires, tok.client_id, bool(user.is_admin))

    async def revoke(self, token: str) -> bool:
        self.forget()
        async with self._sessions() as session:
            result = await session.execute(
                update(AccessToken)
                .where(AccessToken.token_hash == hash_token(token),
                       AccessToken.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            await session.commit()
            return bool(result.rowcount)  # type: ignore[attr-defined]
