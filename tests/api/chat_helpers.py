"""Helpers for API tests that watch the effects in chat through real IRC clients."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from streamhub.protocols.irc.message import Message
from streamhub.storage.db import make_engine, sessionmaker
from streamhub.storage.models import OAuthApp
from tests.api.conftest import ApiNode, TestUser, run_sync
from tests.system.irc_client import IrcClient

# many test clients share 127.0.0.1, and raids go out after a 1 s countdown
NODE_SETTINGS: dict[str, Any] = {"chat_auth_limit": "100000", "raid_delay": "1"}


@pytest.fixture
async def clients() -> AsyncIterator[list[IrcClient]]:
    made: list[IrcClient] = []
    yield made
    await asyncio.gather(*(c.close() for c in made))


async def connect(api: ApiNode, clients: list[IrcClient], who: TestUser | None,
                  channel: str | None, *, ws: bool = True) -> IrcClient:
    """A logged-in (or anonymous, for who=None) chat client, joined to `channel`."""
    port = api.proc.chat_ws_port if ws else api.proc.chat_irc_port
    c = await (IrcClient.ws(port) if ws else IrcClient.tcp(port))
    clients.append(c)
    if who is None:
        await c.login(f"justinfan{len(clients)}{id(c) % 100000}", None)
    else:
        await c.login(who.login, who.token)
    if channel is not None:
        await c.join(channel)
    return c


def is_cmd(command: str, *params: str, **tags: str) -> Callable[[Message], bool]:
    """A predicate: this command, these leading params, these tag values."""
    def pred(m: Message) -> bool:
        return (m.command == command and m.params[:len(params)] == params
                and all(m.tags.get(k.replace("_", "-")) == v for k, v in tags.items()))
    return pred


def privmsg_from(login: str, text: str | None = None) -> Callable[[Message], bool]:
    def pred(m: Message) -> bool:
        return (m.command == "PRIVMSG" and (m.prefix or "").startswith(f"{login}!")
                and (text is None or m.params[-1] == text))
    return pred


async def notice(client: IrcClient, msg_id: str) -> Message:
    return await client.expect(lambda m: m.command == "NOTICE" and m.tags.get("msg-id") == msg_id,
                               what=f"NOTICE {msg_id}")


async def http(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a blocking API call off the event loop (IRC clients keep reading meanwhile)."""
    return await asyncio.to_thread(fn, *args, **kwargs)


class EventSubSocket:
    """An EventSub WebSocket session with subscriptions made by a registered app's user token."""

    def __init__(self, api: ApiNode, ws: ClientConnection, session_id: str) -> None:
        self.api = api
        self.ws = ws
        self.session_id = session_id
        self.client_id = "mod" + secrets.token_hex(8)

        async def register() -> None:
            engine = make_engine(api.db_url)
            try:
                async with sessionmaker(engine)() as session, session.begin():
                    session.add(OAuthApp(client_id=self.client_id, name="chat tests",
                                         client_secret_hash=hashlib.sha256(b"x").hexdigest()))
            finally:
                await engine.dispose()

        run_sync(register)

    @classmethod
    async def open(cls, api: ApiNode) -> EventSubSocket:
        url = api.base_url.replace("http://", "ws://") + "/eventsub/ws"
        ws = await websockets.connect(url, open_timeout=30)
        welcome = json.loads(await asyncio.wait_for(ws.recv(), 20))
        assert welcome["metadata"]["message_type"] == "session_welcome", welcome
        return cls(api, ws, welcome["payload"]["session"]["id"])

    def subscribe(self, user: TestUser, scopes: tuple[str, ...], type: str,
                  condition: dict[str, str]) -> None:
        """Subscribe with a token `user` granted this app (with `scopes`)."""
        token = self.api.token(user.login, scopes, client_id=self.client_id)
        r = self.api.http.post("/helix/eventsub/subscriptions", json={
            "type": type, "version": "1", "condition": condition,
            "transport": {"method": "websocket", "session_id": self.session_id}},
            headers={"Authorization": f"Bearer {token}", "Client-Id": self.client_id})
        assert r.status_code == 202, r.text

    async def event(self, type: str, timeout: float = 20.0) -> dict[str, Any]:
        """The next notification of this subscription type (others are skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                msg = json.loads(await self.ws.recv())
                meta = msg["metadata"]
                if meta["message_type"] == "notification" and meta["subscription_type"] == type:
                    event: dict[str, Any] = msg["payload"]["event"]
                    return event

    async def close(self) -> None:
        await self.ws.close()
