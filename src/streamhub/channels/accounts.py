"""Account operations: sign up, check passwords (argon2), change password, delete, site admin."""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from streamhub.channels.hooks import AuthorizationEnded
from streamhub.channels.service import LOGIN_RE, AccountError, ChannelService, UserInfo
from streamhub.storage.models import User, WebSession, utcnow

MIN_PASSWORD = 8
MAX_PASSWORD = 1024


@dataclass(frozen=True, slots=True)
class Account:
    """A user as the account pages see it."""

    id: int
    login: str
    display_name: str
    is_admin: bool


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"password must have at most {MAX_PASSWORD} characters")


class AccountService:
    """Passwords are argon2id hashes (argon2-cffi defaults); a login with an unknown name
    still runs one verification, so timing does not reveal which names exist."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession],
                 channels: ChannelService, *, on_revoked: AuthorizationEnded | None = None,
                 ) -> None:
        self._sessions = sessions
        self._channels = channels
        self._on_revoked = on_revoked
        self._hasher = PasswordHasher()
        self._dummy_hash = self._hasher.hash("not a password of anyone")

    async def sign_up(self, login: str, password: str) -> UserInfo:
        check_new_password(password)
        return await self._channels.create_user(login, password)

    async def get(self, user_id: int) -> Account | None:
        async with self._sessions() as session:
            user = await session.get(User, user_id)
            return _account(user) if user is not None else None

    def _verify(self, pw_hash: str | None, password: str) -> bool:
        if len(password) > MAX_PASSWORD:
            return False
        try:
            return self._hasher.verify(pw_hash or self._dummy_hash, password) and (
                pw_hash is not None)
        except (VerificationError, InvalidHashError):
            return False

    async def authenticate(self, login: str, password: str) -> Account | None:
        """The account if `password` is right for `login`, else None."""
        name = login.strip().lower()
        if not LOGIN_RE.fullmatch(name):
            self._verify(None, password)
            return None
        async with self._sessions() as session:
            user = await session.scalar(select(User).where(User.login == name))
            if user is None or not self._verify(user.password_hash, password):
                if user is None:
                    self._verify(None, password)
                return None
            assert user.password_hash is not None
            if self._hasher.check_needs_rehash(user.password_hash):
                user.password_hash = self._hasher.hash(password)
                await session.commit()
            return _account(user)

    async def change_password(self, user_id: int, current: str, new: str,
                              *, keep_session_hash: str | None = None) -> None:
        """Set a new password (the current one must be right) and end every other web
        session of the user (all but `keep_session_hash`)."""
        check_new_password(new)
        async with self._sessions() as session:
            user = await session.get(User, user_id)
            if user is None:
                raise AccountError("no such account")
            if not self._verify(user.password_hash, current):
                raise AccountError("the current password is wrong")
            user.password_hash = self._hasher.hash(new)
            user.password_changed_at = utcnow()
            ended = delete(WebSession).where(WebSession.user_id == user_id)
            if keep_session_hash is not None:
                ended = ended.where(WebSession.id_hash != keep_session_hash)
            await session.execute(ended)
            await session.commit()

    async def delete_account(self, user_id: int, password: str) -> None:
        """Delete the user after checking the password; the database cascades to the
        channel, stream keys, tokens, sessions, follows, roles, apps and the rest, and
        `on_revoked(user_id, None)` ends what others keep for the user (EventSub)."""
        async with self._sessions() as session:
            user = await session.get(User, user_id)
            if user is None:
                raise AccountError("no such account")
            if not self._verify(user.password_hash, password):
                raise AccountError("the password is wrong")
            await session.execute(delete(User).where(User.id == user_id))
            await session.commit()
        if self._on_revoked is not None:
            await self._on_revoked(user_id, None)

    async def set_admin(self, login: str, admin: bool = True) -> None:
        async with self._sessions() as session:
            result = await session.execute(
                update(User).where(User.login == login.strip().lower()).values(is_admin=admin))
            if not result.rowcount:  # type: ignore[attr-defined]
                raise AccountError(f"no user {login!r}")
            await session.commit()


def _account(user: User) -> Account:
    return Account(user.id, user.login, user.display_name, bool(user.is_admin))
