"""Users, channels and stream keys: create accounts, issue, resolve and reset stream keys."""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass

from argon2 import PasswordHasher
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from streamhub.storage.models import Channel, StreamKey, User, utcnow

LOGIN_RE = re.compile(r"^[a-z0-9_]{3,25}$")
# Paths the web/origin app owns; a channel cannot be named after them.
RESERVED_LOGINS = frozenset(
    {"api", "hls", "dash", "static", "docs", "helix", "oauth2", "admin", "login", "logout",
     "signup", "settings", "dashboard", "directory", "search", "health", "metrics", "www",
     "favicon_ico", "robots_txt", "vod", "videos", "clips", "eventsub", "ws", "web",
     "thumbnails", "previews", "following"}
)
_KEY_ALPHABET = string.ascii_letters + string.digits


class AccountError(Exception):
    """A user-facing account error (bad login, taken name, unknown user)."""


@dataclass(frozen=True, slots=True)
class UserInfo:
    id: int
    login: str
    display_name: str
    stream_key: str | None


def new_stream_key(user_id: int) -> str:
    """A Twitch-style stream key: `live_<user id>_<30 random alphanumerics>`."""
    return f"live_{user_id}_" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(30))


def normalize_login(login: str) -> str:
    value = login.strip().lower()
    if not LOGIN_RE.fullmatch(value):
        raise AccountError(
            f"invalid login {login!r}: 3-25 characters of a-z, 0-9 and underscore"
        )
    if value in RESERVED_LOGINS:
        raise AccountError(f"login {value!r} is reserved")
    return value


class ChannelService:
    """Account and stream-key operations over the database."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._hasher = PasswordHasher()

    async def create_user(self, login: str, password: str | None = None) -> UserInfo:
        name = normalize_login(login)
        if password is not None and len(password) < 8:
            raise AccountError("password must have at least 8 characters")
        pw_hash = self._hasher.hash(password) if password is not None else None
        async with self._sessions() as session:
            user = User(login=name, display_name=login.strip(), password_hash=pw_hash)
            session.add(user)
            try:
                await session.flush()
            except IntegrityError:
                raise AccountError(f"login {name!r} is taken") from None
            session.add(Channel(user_id=user.id, title=""))
            await session.flush()
            key = new_stream_key(user.id)
            session.add(StreamKey(channel_id=user.id, key=key))
            await session.commit()
            return UserInfo(user.id, user.login, user.display_name, key)

    async def get_user(self, login: str) -> UserInfo | None:
        async with self._sessions() as session:
            user = await session.scalar(select(User).where(User.login == login.lower()))
            if user is None:
                return None
            return UserInfo(user.id, user.login, user.display_name, await _key(session, user.id))

    async def verify_password(self, login: str, password: str) -> bool:
        async with self._sessions() as session:
            user = await session.scalar(select(User).where(User.login == login.lower()))
        if user is None or user.password_hash is None:
            return False
        try:
            return self._hasher.verify(user.password_hash, password)
        except Exception:
            return False

    async def resolve_stream_key(self, key: str) -> str | None:
        """The login that owns an active stream key, or None for unknown/revoked keys."""
        if not key or len(key) > 80:
            return None
        async with self._sessions() as session:
            row = await session.execute(
                select(User.login)
                .join(StreamKey, StreamKey.channel_id == User.id)
                .where(StreamKey.key == key, StreamKey.revoked_at.is_(None))
            )
            found = row.scalar_one_or_none()
        if found is None:
            return None
        return str(found)

    async def reset_stream_key(self, login: str) -> str:
        """Revoke the channel's keys and issue a new one; the old key stops working at once."""
        async with self._sessions() as session:
            user = await session.scalar(select(User).where(User.login == login.lower()))
            if user is None:
                raise AccountError(f"no user {login!r}")
            await session.execute(
                update(StreamKey)
                .where(StreamKey.channel_id == user.id, StreamKey.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            key = new_stream_key(user.id)
            session.add(StreamKey(channel_id=user.id, key=key))
            await session.commit()
            return key


async def _key(session: AsyncSession, user_id: int) -> str | None:
    found = await session.scalar(
        select(StreamKey.key).where(
            StreamKey.channel_id == user_id, StreamKey.revoked_at.is_(None)
        )
    )
    return found
