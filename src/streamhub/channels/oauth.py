"""OAuth2 like Twitch's: registered apps, authorization codes, access/refresh/app tokens."""

from __future__ import annotations

import hmac
import re
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from streamhub.channels.hooks import AuthorizationEnded
from streamhub.channels.scopes import ScopeError, parse_scopes
from streamhub.channels.service import AccountError
from streamhub.channels.tokens import AppTokenInfo, TokenInfo, TokenService, hash_token
from streamhub.storage.models import AccessToken, OAuthApp, OAuthCode, RefreshToken, User, utcnow

_ALPHABET = string.ascii_lowercase + string.digits
ACCESS_TTL = timedelta(hours=4)
APP_TOKEN_TTL = timedelta(days=60)
CODE_TTL = timedelta(minutes=10)
MAX_REDIRECT_URIS = 10
CLIENT_ID_RE = re.compile(r"^[a-z0-9]{1,30}$")
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class OAuthError(Exception):
    """A refused OAuth2 request, with the HTTP status Twitch answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def check_redirect_uri(uri: str) -> str:
    """A redirect URI an app may register: absolute https, or http on a loopback host,
    no fragment, at most 500 characters. Returns it unchanged; raises ValueError."""
    if not uri or len(uri) > 500 or any(c.isspace() or ord(c) < 32 for c in uri):
        raise ValueError(f"invalid redirect URI {uri[:80]!r}: empty, too long or has spaces")
    try:
        parts = urlsplit(uri)
        host = parts.hostname
        _ = parts.port
    except ValueError:
        raise ValueError(f"invalid redirect URI {uri[:80]!r}") from None
    if parts.scheme not in ("https", "http") or not host:
        raise ValueError(f"invalid redirect URI {uri[:80]!r}: must be an absolute http(s) URL")
    if parts.scheme == "http" and host not in LOOPBACK_HOSTS:
        raise ValueError(f"invalid redirect URI {uri[:80]!r}: http is only allowed for "
                         "localhost; use https")
    if parts.fragment or uri.endswith("#"):
        raise ValueError(f"invalid redirect URI {uri[:80]!r}: must not have a fragment")
    if parts.username or parts.password:
        raise ValueError(f"invalid redirect URI {uri[:80]!r}: must not hold credentials")
    return uri


def redirect_matches(registered: tuple[str, ...], given: str) -> bool:
    """Exact string match against a registered URI (no prefix or wildcard matching)."""
    return any(hmac.compare_digest(uri.encode(), given.encode()) for uri in registered)


@dataclass(frozen=True, slots=True)
class AppInfo:
    client_id: str
    name: str
    owner_id: int | None
    redirect_uris: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RegisteredApp:
    """A new app; the client secret is only ever shown here (the database keeps its hash)."""

    app: AppInfo
    client_secret: str


@dataclass(frozen=True, slots=True)
class Grant:
    """What the token endpoint answers."""

    access_token: str
    expires_in: int
    scopes: tuple[str, ...]
    refresh_token: str | None = None


@dataclass(frozen=True, slots=True)
class Validation:
    """What /oauth2/validate answers (login and user_id are None for app tokens)."""

    client_id: str | None
    login: str | None
    user_id: int | None
    scopes: tuple[str, ...]
    expires_in: int


def _seconds_left(expires: datetime | None) -> int:
    if expires is None:
        return 0
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=utcnow().tzinfo)
    return max(0, int((expires - utcnow()).total_seconds()))


class OAuthService:
    """Apps, codes and tokens; every secret is stored as a SHA-256 hash."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], tokens: TokenService, *,
                 on_revoked: AuthorizationEnded | None = None) -> None:
        self._sessions = sessions
        self._tokens = tokens
        self._on_revoked = on_revoked

    # -- applications --------------------------------------------------------------------

    async def register_app(self, name: str, redirect_uris: tuple[str, ...] = (),
                           owner_login: str | None = None) -> RegisteredApp:
        name = name.strip()
        if not name or len(name) > 100:
            raise AccountError("app name must have 1-100 characters")
        if len(redirect_uris) > MAX_REDIRECT_URIS:
            raise AccountError(f"at most {MAX_REDIRECT_URIS} redirect URIs")
        try:
            uris = tuple(dict.fromkeys(check_redirect_uri(u) for u in redirect_uris))
        except ValueError as exc:
            raise AccountError(str(exc)) from None
        secret = _random(30)
        async with self._sessions() as session:
            owner_id: int | None = None
            if owner_login is not None:
                owner_id = await session.scalar(
                    select(User.id).where(User.login == owner_login.strip().lower()))
                if owner_id is None:
                    raise AccountError(f"no user {owner_login!r}")
            for _ in range(5):
                client_id = _random(30)
                session.add(OAuthApp(client_id=client_id, name=name, owner_id=owner_id,
                                     client_secret_hash=hash_token(secret),
                                     redirect_uris=" ".join(uris)))
                try:
                    await session.commit()
                    break
                except IntegrityError:  # pragma: no cover - 36^30 ids
                    await session.rollback()
            else:  # pragma: no cover
                raise AccountError("could not allocate a client id")
        return RegisteredApp(AppInfo(client_id, name, owner_id, uris), secret)

    async def get_app(self, client_id: str) -> AppInfo | None:
        if not CLIENT_ID_RE.fullmatch(client_id or ""):
            return None
        async with self._sessions() as session:
            app = await session.get(OAuthApp, client_id)
        if app is None:
            return None
        return AppInfo(app.client_id, app.name, app.owner_id, tuple(app.redirect_uris.split()))

    async def check_client(self, client_id: str | None, client_secret: str | None) -> AppInfo:
        """The app if the secret is right: 400 `invalid client` for an unknown id, 403
        `invalid client secret` for a wrong secret (as Twitch)."""
        if not client_id:
            raise OAuthError(400, "missing client id")
        app = await self.get_app(client_id)
        if app is None:
            raise OAuthError(400, "invalid client")
        if not client_secret:
            raise OAuthError(400, "missing client secret")
        async with self._sessions() as session:
            stored = await session.scalar(
                select(OAuthApp.client_secret_hash).where(OAuthApp.client_id == client_id))
        if stored is None or not hmac.compare_digest(stored, hash_token(client_secret)):
            raise OAuthError(403, "invalid client secret")
        return app

    # -- authorization codes -------------------------------------------------------------

    async def create_code(self, client_id: str, user_id: int, scopes: tuple[str, ...],
                          redirect_uri: str) -> str:
        code = _random(30)
        async with self._sessions() as session:
            session.add(OAuthCode(code_hash=hash_token(code), client_id=client_id,
                                  user_id=user_id, scopes=" ".join(scopes),
                                  redirect_uri=redirect_uri, expires_at=utcnow() + CODE_TTL))
            await session.commit()
        return code

    async def exchange_code(self, client_id: str | None, client_secret: str | None,
                            code: str | None, redirect_uri: str | None) -> Grant:
        """Authorization code -> access + refresh token. A code works once, within 10
        minutes, for the client and redirect URI it was issued to; presenting a used code
        again revokes every token of that user issued to that client."""
        app = await self.check_client(client_id, client_secret)
        if not code or len(code) > 200:
            raise OAuthError(400, "missing or invalid authorization code")
        now = utcnow()
        async with self._sessions() as session:
            row = await session.get(OAuthCode, hash_token(code))
            if row is None or row.client_id != app.client_id:
                raise OAuthError(400, "Invalid authorization code")
            claimed = await session.execute(
                update(OAuthCode).where(OAuthCode.code_hash == row.code_hash,
                                        OAuthCode.used_at.is_(None)).values(used_at=now))
            await session.commit()
            user_id, scopes, bound_uri = row.user_id, tuple(row.scopes.split()), row.redirect_uri
            expires = row.expires_at
        if not claimed.rowcount:  # type: ignore[attr-defined]
            await self.revoke_family(app.client_id, user_id)
            raise OAuthError(400, "Invalid authorization code")
        if _seconds_left(expires) <= 0:
            raise OAuthError(400, "Invalid authorization code")
        if redirect_uri != bound_uri:
            raise OAuthError(400, "Parameter redirect_uri does not match registered URI")
        return await self._issue(app.client_id, user_id, scopes)

    async def _issue(self, client_id: str, user_id: int, scopes: tuple[str, ...]) -> Grant:
        async with self._sessions() as session:
            login = await session.scalar(select(User.login).where(User.id == user_id))
            if login is None:
                raise OAuthError(400, "Invalid authorization code")
            refresh = _random(50)
            session.add(RefreshToken(token_hash=hash_token(refresh), client_id=client_id,
                                     user_id=user_id, scopes=" ".join(scopes)))
            await session.commit()
        issued = await self._tokens.create(login, scopes, ttl=ACCESS_TTL, client_id=client_id)
        return Grant(issued.access_token, int(ACCESS_TTL.total_seconds()), scopes, refresh)

    async def implicit_token(self, client_id: str, login: str, scopes: tuple[str, ...]) -> Grant:
        """An access token for the implicit flow (no refresh token)."""
        issued = await self._tokens.create(login, scopes, ttl=ACCESS_TTL, client_id=client_id)
        return Grant(issued.access_token, int(ACCESS_TTL.total_seconds()), scopes)

    # -- refresh and app tokens ----------------------------------------------------------

    async def refresh(self, client_id: str | None, client_secret: str | None,
                      refresh_token: str | None) -> Grant:
        """Rotate: the presented refresh token is spent and a new pair issued. Presenting a
        spent refresh token again revokes the whole family (user + client)."""
        app = await self.check_client(client_id, client_secret)
        if not refresh_token or len(refresh_token) > 200:
            raise OAuthError(400, "Invalid refresh token")
        async with self._sessions() as session:
            row = await session.get(RefreshToken, hash_token(refresh_token))
            if row is None or row.client_id != app.client_id:
                raise OAuthError(400, "Invalid refresh token")
            spent = await session.execute(
                update(RefreshToken).where(RefreshToken.token_hash == row.token_hash,
                                           RefreshToken.revoked_at.is_(None))
                .values(revoked_at=utcnow()))
            await session.commit()
            user_id, scopes = row.user_id, tuple(row.scopes.split())
        if not spent.rowcount:  # type: ignore[attr-defined]
            await self.revoke_family(app.client_id, user_id)
            raise OAuthError(400, "Invalid refresh token")
        return await self._issue(app.client_id, user_id, scopes)

    async def client_credentials(self, client_id: str | None, client_secret: str | None,
                                 scope: str | None = None) -> Grant:
        app = await self.check_client(client_id, client_secret)
        try:
            scopes = parse_scopes(scope)
        except ScopeError as exc:
            raise OAuthError(400, str(exc)) from None
        token, _ = await self._tokens.create_app_token(app.client_id, scopes, ttl=APP_TOKEN_TTL)
        return Grant(token, int(APP_TOKEN_TTL.total_seconds()), scopes)

    # -- validate and revoke -------------------------------------------------------------

    async def validate(self, token: str) -> Validation | None:
        info = await self._tokens.validate_any(token)
        if info is None:
            return None
        scopes = tuple(sorted(info.scopes))
        if isinstance(info, AppTokenInfo):
            return Validation(info.client_id, None, None, scopes, _seconds_left(info.expires_at))
        assert isinstance(info, TokenInfo)
        return Validation(info.client_id, info.login, info.user_id, scopes,
                          _seconds_left(info.expires_at))

    async def revoke(self, client_id: str | None, token: str | None) -> None:
        """Revoke an access token or a refresh token issued to `client_id` (Twitch's
        /oauth2/revoke: 404 `client does not exist`, 400 `Invalid token`)."""
        if not client_id or await self.get_app(client_id) is None:
            raise OAuthError(404, "client does not exist")
        if not token or len(token) > 200:
            raise OAuthError(400, "Invalid token")
        digest = hash_token(token)
        now = utcnow()
        async with self._sessions() as session:
            access = await session.execute(
                update(AccessToken).where(AccessToken.token_hash == digest,
                                          AccessToken.client_id == client_id,
                                          AccessToken.revoked_at.is_(None))
                .values(revoked_at=now))
            refresh = await session.execute(
                update(RefreshToken).where(RefreshToken.token_hash == digest,
                                           RefreshToken.client_id == client_id,
                                           RefreshToken.revoked_at.is_(None))
                .values(revoked_at=now))
            await session.commit()
        self._tokens.forget()
        if not (access.rowcount or refresh.rowcount):  # type: ignore[attr-defined]
            raise OAuthError(400, "Invalid token")

    async def revoke_family(self, client_id: str, user_id: int) -> None:
        """Revoke every access and refresh token of `user_id` issued to `client_id` (and, via
        `on_revoked`, what rests on that grant: the client's EventSub subscriptions)."""
        now = utcnow()
        async with self._sessions() as session:
            await session.execute(
                update(AccessToken).where(AccessToken.client_id == client_id,
                                          AccessToken.user_id == user_id,
                                          AccessToken.revoked_at.is_(None))
                .values(revoked_at=now))
            await session.execute(
                update(RefreshToken).where(RefreshToken.client_id == client_id,
                                           RefreshToken.user_id == user_id,
                                           RefreshToken.revoked_at.is_(None))
                .values(revoked_at=now))
            await session.commit()
        self._tokens.forget()
        if self._on_revoked is not None:
            await self._on_revoked(user_id, client_id)
