"""Web sessions: cookie-held ids stored hashed in `web_sessions`, and CSRF tokens for forms.

Cookies are HttpOnly, SameSite=Lax, and Secure when the request came over https. A logged-in
form carries the session's CSRF token; anonymous forms (sign up, log in) carry a double-submit
token that must equal the `streamhub_csrf` cookie.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import Response

from streamhub.channels.tokens import hash_token
from streamhub.storage.models import User, WebSession, utcnow
from streamhub.utc import aware

SESSION_COOKIE = "streamhub_session"
CSRF_COOKIE = "streamhub_csrf"
SESSION_TTL = timedelta(days=30)
_TOUCH_EVERY = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class WebUser:
    """The logged-in user of a request."""

    user_id: int
    login: str
    display_name: str
    is_admin: bool
    csrf_token: str
    session_hash: str


class CsrfError(Exception):
    """A form came without the right CSRF token."""


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


class WebSessionService:
    """Creates, looks up and ends browser sessions."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create(self, user_id: int) -> str:
        """A new session for the user; returns the cookie value (only its hash is stored)."""
        value = secrets.token_urlsafe(32)
        now = utcnow()
        async with self._sessions() as session:
            session.add(WebSession(id_hash=hash_token(value), user_id=user_id,
                                   csrf_token=secrets.token_urlsafe(32), created_at=now,
                                   expires_at=now + SESSION_TTL, last_seen_at=now))
            await session.commit()
        return value

    async def lookup(self, value: str | None) -> WebUser | None:
        if not value or len(value) > 100:
            return None
        digest = hash_token(value)
        now = utcnow()
        async with self._sessions() as session:
            row = (await session.execute(
                select(WebSession, User).join(User, User.id == WebSession.user_id)
                .where(WebSession.id_hash == digest))).first()
            if row is None:
                return None
            web, user = row
            if aware(web.expires_at) <= now:
                await session.execute(delete(WebSession).where(WebSession.id_hash == digest))
                await session.commit()
                return None
            if web.last_seen_at is None or aware(web.last_seen_at) < now - _TOUCH_EVERY:
                await session.execute(update(WebSession).where(WebSession.id_hash == digest)
                                      .values(last_seen_at=now))
                await session.commit()
            return WebUser(user.id, user.login, user.display_name, bool(user.is_admin),
                           web.csrf_token, digest)

    async def end(self, value: str | None) -> None:
        if not value or len(value) > 100:
            return
        async with self._sessions() as session:
            await session.execute(delete(WebSession).where(WebSession.id_hash == hash_token(value)))
            await session.commit()

    async def current(self, request: Request) -> WebUser | None:
        return await self.lookup(request.cookies.get(SESSION_COOKIE))


def set_session_cookie(response: Response, request: Request, value: str) -> None:
    response.set_cookie(SESSION_COOKIE, value, max_age=int(SESSION_TTL.total_seconds()),
                        path="/", httponly=True, samesite="lax", secure=is_https(request))


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=is_https(request))


def anonymous_csrf(request: Request) -> tuple[str, bool]:
    """The double-submit token for anonymous forms: (token, whether the cookie must be set)."""
    found = request.cookies.get(CSRF_COOKIE)
    if found and 20 <= len(found) <= 100:
        return found, False
    return secrets.token_urlsafe(32), True


def set_csrf_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(CSRF_COOKIE, token, path="/", httponly=True, samesite="lax",
                        secure=is_https(request))


def check_csrf(request: Request, submitted: object, user: WebUser | None) -> None:
    """Raise CsrfError unless `submitted` is the session's token (logged in) or equals the
    anonymous CSRF cookie (not logged in)."""
    if not isinstance(submitted, str) or not submitted:
        raise CsrfError("missing CSRF token")
    expected = user.csrf_token if user is not None else request.cookies.get(CSRF_COOKIE)
    if not expected or not hmac.compare_digest(expected.encode(), submitted.encode()):
        raise CsrfError("invalid CSRF token")
