"""EventSub WebSocket sessions served by uvicorn on 127.0.0.1:0, on SQLite and PostgreSQL:
welcome, notification, revocation, disconnect statuses, unused and inbound-traffic closes,
and session_reconnect handing subscriptions to a new connection."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from streamhub.api.eventsub.service import EventSubService
from streamhub.api.eventsub.types import Subscription
from streamhub.channels.service import ChannelService
from streamhub.chat.bus import MemoryBus
from streamhub.config import Settings
from tests.component.test_eventsub_webhook import status_of, until

CLIENT = "wsclient"


class Server:
    """uvicorn serving one EventSubService's /eventsub/ws in the test's loop."""

    def __init__(self, service: EventSubService) -> None:
        async def endpoint(ws: WebSocket) -> None:
            await service.sockets.handle(ws)

        app = Starlette(routes=[WebSocketRoute("/eventsub/ws", endpoint)])
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
        self.task: asyncio.Task[None] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.task = asyncio.create_task(self.server.serve(sockets=[self.sock]))
        while not self.server.started:
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await self.task


@pytest.fixture
async def users(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    channels = ChannelService(sessions)
    return {name: (await channels.create_user(name)).id for name in ("alice", "bob")}


async def node(sessions: async_sessionmaker[AsyncSession], tmp: Path,
               **kw: Any) -> tuple[EventSubService, Server]:
    service = EventSubService(sessions, Settings(data_dir=tmp, eventsub_refresh_interval=0.2,
                                                 **kw))
    service.attach_bus(MemoryBus())
    server = Server(service)
    await server.start()
    await service.start(server.base)
    return service, server


@pytest.fixture
async def one(sessions: async_sessionmaker[AsyncSession], tmp_path: Path,
              ) -> AsyncIterator[tuple[EventSubService, Server]]:
    service, server = await node(sessions, tmp_path)
    yield service, server
    await service.stop()
    await server.stop()


async def recv(ws: ClientConnection, timeout: float = 10.0) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    return value


async def subscribe(service: EventSubService, user_id: int, session_id: str,
                    type: str = "stream.online", **condition: str) -> Subscription:
    sub, *_ = await service.create(
        client_id=CLIENT, caller_user_id=user_id, caller_scopes=frozenset(), type=type,
        version="1", condition=condition or {"broadcaster_user_id": str(user_id)},
        method="websocket", callback=None, secret=None, session_id=session_id)
    return sub


async def test_welcome_notification_revocation_and_disconnect(
    sessions: async_sessionmaker[AsyncSession], one: tuple[EventSubService, Server],
    users: dict[str, int],
) -> None:
    service, server = one
    async with connect(f"ws://127.0.0.1:{server.port}/eventsub/ws") as ws:
        welcome = await recv(ws)
        assert welcome["metadata"]["message_type"] == "session_welcome"
        session = welcome["payload"]["session"]
        assert session["status"] == "connected" and session["keepalive_timeout_seconds"] == 10
        assert session["reconnect_url"] is None and session["connected_at"].endswith("Z")
        alice, bob = users["alice"], users["bob"]
        sub = await subscribe(service, alice, session["id"])
        other = await subscribe(service, alice, session["id"], "channel.raid",
                                from_broadcaster_user_id=str(bob))
        assert sub.status == "enabled" and sub.json()["transport"] == {
            "method": "websocket", "session_id": session["id"]}
        service.emit("stream.online", {"broadcaster_user_id": str(bob), "type": "live"})
        service.emit("stream.online", {"broadcaster_user_id": str(alice), "type": "live"})
        note = await recv(ws)
        assert note["metadata"]["message_type"] == "notification"
        assert note["metadata"]["subscription_type"] == "stream.online"
        assert note["metadata"]["subscription_version"] == "1"
        assert note["payload"]["event"] == {"broadcaster_user_id": str(alice), "type": "live"}
        assert note["payload"]["subscription"]["id"] == sub.id
        assert await service.revoke(other.id, "authorization_revoked")
        revoked = await recv(ws)
        assert revoked["metadata"]["message_type"] == "revocation"
        assert revoked["payload"]["subscription"]["status"] == "authorization_revoked"
    # the client went away: its subscriptions end

    async def ended() -> bool:
        return await status_of(sessions, sub.id) == "websocket_disconnected"

    await until(ended, what="websocket_disconnected")
    assert await status_of(sessions, other.id) == "authorization_revoked"
    assert service.subscribed("stream.online") == []
    with pytest.raises(Exception, match="does not exist"):
        await subscribe(service, alice, session["id"])


async def test_unused_session_and_inbound_traffic_are_closed(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, users: dict[str, int],
) -> None:
    service, server = await node(sessions, tmp_path, eventsub_ws_unused_timeout=0.5)
    try:
        async with connect(f"ws://127.0.0.1:{server.port}/eventsub/ws") as ws:
            await recv(ws)
            with pytest.raises(ConnectionClosed) as closed:
                await recv(ws)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4003
        async with connect(f"ws://127.0.0.1:{server.port}/eventsub/ws") as ws:
            sid = (await recv(ws))["payload"]["session"]["id"]
            sub = await subscribe(service, users["alice"], sid)
            await ws.send("hello")
            with pytest.raises(ConnectionClosed) as closed:
                await recv(ws)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001

        async def ended() -> bool:
            return await status_of(sessions, sub.id) == "websocket_received_inbound_traffic"

        await until(ended, what="inbound traffic status")
        async with connect(f"ws://127.0.0.1:{server.port}/eventsub/ws"
                           "?keepalive_timeout_seconds=5") as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await recv(ws)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4000
    finally:
        await service.stop()
        await server.stop()


async def test_node_shutdown_sends_reconnect_and_a_new_session_takes_over(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, users: dict[str, int],
) -> None:
    first, server1 = await node(sessions, tmp_path / "a")
    second, server2 = await node(sessions, tmp_path / "b")
    try:
        async with connect(f"ws://127.0.0.1:{server1.port}/eventsub/ws") as ws:
            sid = (await recv(ws))["payload"]["session"]["id"]
            sub = await subscribe(first, users["alice"], sid)
            await first.stop()
            message = await recv(ws)
            assert message["metadata"]["message_type"] == "session_reconnect"
            url = message["payload"]["session"]["reconnect_url"]
            assert message["payload"]["session"]["status"] == "reconnecting"
            assert url.startswith(f"ws://127.0.0.1:{server1.port}/eventsub/ws?reconnect=")
        assert await status_of(sessions, sub.id) == "enabled"  # parked, not ended
        # the client follows the URL (here to the other node, as a load balancer would)
        query = urlsplit(url).query
        async with connect(f"ws://127.0.0.1:{server2.port}/eventsub/ws?{query}") as ws:
            new_sid = (await recv(ws))["payload"]["session"]["id"]
            assert new_sid != sid

            async def moved() -> bool:
                return any(s.session_id == new_sid for s in second.subscribed("stream.online"))

            await until(moved, what="subscription moved to the new session")
            second.emit("stream.online", {"broadcaster_user_id": str(users["alice"])})
            note = await recv(ws)
            assert note["payload"]["subscription"]["id"] == sub.id
            assert note["payload"]["subscription"]["transport"]["session_id"] == new_sid
    finally:
        await second.stop()
        await server1.stop()
        await server2.stop()
