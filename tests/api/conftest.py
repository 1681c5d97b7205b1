"""A running node per test module (on SQLite and on PostgreSQL) and an HTTP client for its API."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import update

from streamhub.channels.service import ChannelService
from streamhub.channels.tokens import TokenService
from streamhub.storage.db import make_engine, sessionmaker
from streamhub.storage.models import User
from tests.system.harness import NodeProcess

T = TypeVar("T")
ALL_SCOPES = (
    "chat:read", "chat:edit", "channel:manage:broadcast", "channel:read:stream_key",
    "channel:manage:schedule", "channel:manage:moderators", "channel:read:vips",
    "channel:manage:vips", "channel:manage:raids", "channel:read:editors",
    "channel:manage:editors", "moderator:read:followers", "moderator:manage:banned_users",
    "moderation:read",
    "moderator:read:chat_settings", "moderator:manage:chat_settings", "moderator:read:chatters",
    "moderator:manage:announcements", "moderator:manage:chat_messages", "user:read:follows",
    "user:manage:chat_color", "user:write:chat", "user:read:chat", "user:edit",
    "user:read:email", "user:edit:follows", "channel:read:subscriptions", "bits:read",
)
_counter = itertools.count()


def run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion on a private loop in a thread (works from sync and
    async tests alike)."""
    result: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(make()))  # type: ignore[arg-type]
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


@dataclass(frozen=True)
class TestUser:
    __test__ = False  # not a test class

    id: int
    login: str
    token: str
    stream_key: str

    @property
    def uid(self) -> str:
        return str(self.id)


class ApiNode:
    """A node process plus helpers: users with tokens made straight in its database."""

    def __init__(self, proc: NodeProcess, db_url: str) -> None:
        self.proc = proc
        self.db_url = db_url
        self.base_url = proc.base_url
        self.client_id = "streamhub-tests"
        self.http = httpx.Client(base_url=self.base_url, timeout=30)

    def user(self, login: str | None = None, scopes: tuple[str, ...] = ALL_SCOPES, *,
             password: str | None = None, admin: bool = False) -> TestUser:
        name = login or f"u{next(_counter)}{secrets.token_hex(3)}"

        async def make() -> TestUser:
            engine = make_engine(self.db_url)
            try:
                sessions = sessionmaker(engine)
                info = await ChannelService(sessions).create_user(name, password)
                token = await TokenService(sessions).create(name, scopes)
                if admin:
                    async with sessions() as session:
                        await session.execute(
                            update(User).where(User.id == info.id).values(is_admin=True))
                        await session.commit()
                assert info.stream_key is not None
                return TestUser(info.id, info.login, token.access_token, info.stream_key)
            finally:
                await engine.dispose()

        return run_sync(make)

    def token(self, login: str, scopes: tuple[str, ...], client_id: str | None = None) -> str:
        """A new access token of the user (of app `client_id`, if given)."""
        async def make() -> str:
            engine = make_engine(self.db_url)
            try:
                return (await TokenService(sessionmaker(engine)).create(
                    login, scopes, client_id=client_id)).access_token
            finally:
                await engine.dispose()

        return run_sync(make)

    def headers(self, who: TestUser | str | None) -> dict[str, str]:
        if who is None:
            return {"Client-Id": self.client_id}
        token = who if isinstance(who, str) else who.token
        return {"Authorization": f"Bearer {token}", "Client-Id": self.client_id}

    def request(self, method: str, path: str, who: TestUser | str | None = None,
                **kwargs: Any) -> httpx.Response:
        headers = {**self.headers(who), **kwargs.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, who: TestUser | str | None = None, **kw: Any) -> httpx.Response:
        return self.request("GET", path, who, **kw)

    def post(self, path: str, who: TestUser | str | None = None, **kw: Any) -> httpx.Response:
        return self.request("POST", path, who, **kw)

    def patch(self, path: str, who: TestUser | str | None = None, **kw: Any) -> httpx.Response:
        return self.request("PATCH", path, who, **kw)

    def put(self, path: str, who: TestUser | str | None = None, **kw: Any) -> httpx.Response:
        return self.request("PUT", path, who, **kw)

    def delete(self, path: str, who: TestUser | str | None = None, **kw: Any) -> httpx.Response:
        return self.request("DELETE", path, who, **kw)

    def close(self) -> None:
        self.http.close()
        self.proc.stop()


def start_api_node(request: pytest.FixtureRequest, tmp: Path, **settings: Any) -> ApiNode:
    if getattr(request, "param", "sqlite") == "postgresql":
        db_url = request.getfixturevalue("postgres").create_database(
            f"api_{secrets.token_hex(6)}")
    else:
        db_url = f"sqlite+aiosqlite:///{tmp / 'streamhub.db'}"
    # many tests sign up from 127.0.0.1; test_accounts checks the limit with its own node
    settings.setdefault("signup_limit_ip", 100_000)
    proc = NodeProcess(tmp, database_url=db_url, **settings)
    return ApiNode(proc, db_url)


def node_fixture(*, databases: tuple[str, ...] = ("sqlite", "postgresql"), doc: str = "",
                 **settings: Any) -> Any:
    """A module-scoped fixture: one node with these settings per test module and database."""

    @pytest.fixture(scope="module", params=list(databases))
    def fixture(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                ) -> Iterator[ApiNode]:
        node = start_api_node(request, tmp_path_factory.mktemp("api"), **settings)
        yield node
        node.close()

    fixture.__doc__ = doc
    return fixture


# One node per test module and database (SQLite, then a real PostgreSQL).
api = node_fixture(doc="one node per test module and database")
# One node on SQLite only (for slow flows that do not depend on the database).
api_sqlite = node_fixture(databases=("sqlite",), doc="one node on SQLite")


def assert_error(response: httpx.Response, status: int, contains: str = "") -> dict[str, Any]:
    """A Helix error body with this status whose message contains `contains`."""
    assert response.status_code == status, (response.status_code, response.text)
    body: dict[str, Any] = response.json()
    assert body["status"] == status and isinstance(body["error"], str), body
    assert contains.lower() in body["message"].lower(), body
    return body
