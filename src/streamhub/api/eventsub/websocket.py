"""EventSub WebSocket transport: sessions at /eventsub/ws (welcome, keepalive, notification,
reconnect, revocation), reachable across nodes through the bus."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from streamhub.api.eventsub.webhook import message_timestamp
from streamhub.chat.bus import Bus, BusError
from streamhub.config import Settings

if TYPE_CHECKING:
    from streamhub.api.eventsub.service import EventSubService

QUEUE_LIMIT = 1000
RECONNECT_GRACE = 30  # seconds a reconnecting client has to come back


def room(session_id: str) -> str:
    """The bus room a websocket session listens on."""
    return f"eventsub:ws:{session_id}"


def parked_prefix(token: str) -> str:
    """Subscriptions of a session asked to reconnect wait under `r<hash>.<deadline>`."""
    return "r" + hashlib.sha256(token.encode()).hexdigest()[:40] + "."


@dataclass(slots=True)
class _Close:
    code: int
    reason: str
    status: str


@dataclass(slots=True)
class WsSession:
    """One connected client."""

    id: str
    socket: WebSocket
    keepalive: int
    connected_at: str
    queue: asyncio.Queue[str | _Close] = field(default_factory=asyncio.Queue)
    has_subscriptions: bool = False
    parked: bool = False
    end_status: str = "websocket_disconnected"

    def push(self, text: str | _Close) -> None:
        if isinstance(text, str) and self.queue.qsize() >= QUEUE_LIMIT:
            # a client that cannot keep up is disconnected, never waited for
            text = _Close(4000, "Client too slow", "websocket_network_error")
        self.queue.put_nowait(text)


def _message(kind: str, payload: dict[str, Any]) -> str:
    return json.dumps({"metadata": {"message_id": str(uuid.uuid4()), "message_type": kind,
                                    "message_timestamp": message_timestamp()},
                       "payload": payload}, separators=(",", ":"))


class WebSocketHub:
    """The websocket sessions connected to this node; notifications for any session go
    through the bus (each session listens on its own room), so any node can deliver."""

    def __init__(self, service: EventSubService, settings: Settings, *,
                 logger: logging.Logger | None = None) -> None:
        self.service = service
        self.settings = settings
        self.log = logger or logging.getLogger("streamhub.eventsub.ws")
        self.bus: Bus | None = None
        self.public_ws: str | None = None
        self.sessions: dict[str, WsSession] = {}

    # -- the route -----------------------------------------------------------------------

    async def handle(self, websocket: WebSocket) -> None:
        raw = websocket.query_params.get("keepalive_timeout_seconds", "10")
        await websocket.accept()
        if not raw.isdigit() or not 10 <= int(raw) <= 600:
            await websocket.close(4000, "keepalive_timeout_seconds must be 10-600")
            return
        session = WsSession(str(uuid.uuid4()), websocket, int(raw), message_timestamp())
        self.sessions[session.id] = session
        try:
            if self.bus is not None:
                await self.bus.subscribe(room(session.id), self._on_bus(session))
            token = websocket.query_params.get("reconnect")
            if token and len(token) <= 100:
                moved = await self.service.move_session(parked_prefix(token), session.id)
                session.has_subscriptions = moved > 0
            await websocket.send_text(_message("session_welcome", {"session": {
                "id": session.id, "status": "connected", "connected_at": session.connected_at,
                "keepalive_timeout_seconds": session.keepalive, "reconnect_url": None,
                "recovery_url": None}}))
            reader = asyncio.create_task(self._read(session))
            try:
                await self._write(session)
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader
        except (WebSocketDisconnect, RuntimeError, OSError, BusError):
            pass
        finally:
            self.sessions.pop(session.id, None)
            if self.bus is not None:
                with contextlib.suppress(Exception):
                    await self.bus.unsubscribe(room(session.id))
            if not session.parked:
                try:
                    await self.service.end_session(session.id, session.end_status)
                except Exception as exc:
                    self.log.warning("eventsub session %s cleanup failed: %s", session.id, exc)

    async def _read(self, session: WsSession) -> None:
        """Clients must not send anything: inbound traffic closes the session (4001)."""
        message = await session.socket.receive()
        if message["type"] == "websocket.disconnect":
            session.push(_Close(0, "", "websocket_disconnected"))
        else:
            session.push(_Close(4001, "Client sent inbound traffic",
                                "websocket_received_inbound_traffic"))

    async def _write(self, session: WsSession) -> None:
        unused_deadline = time.monotonic() + self.settings.eventsub_ws_unused_timeout
        interval = max(1.0, session.keepalive * 0.8)  # comfortably inside the promise
        while True:
            wait = interval
            if not session.has_subscriptions:
                wait = min(wait, max(0.0, unused_deadline - time.monotonic()))
            try:
                item = await asyncio.wait_for(session.queue.get(), wait)
            except TimeoutError:
                if not session.has_subscriptions and time.monotonic() >= unused_deadline:
                    item = _Close(4003, "Connection unused", "websocket_connection_unused")
                else:
                    item = _message("session_keepalive", {})
            if isinstance(item, _Close):
                session.end_status = item.status
                if item.code:
                    with contextlib.suppress(Exception):
                        await session.socket.close(item.code, item.reason)
                return
            await session.socket.send_text(item)

    def _on_bus(self, session: WsSession) -> Any:
        def deliver(payload: bytes) -> None:
            kind, body = payload[:1], payload[1:].decode()
            if kind == b"M":
                session.push(body)
            elif kind == b"S":
                session.has_subscriptions = True
            elif kind == b"P" and self.bus is not None:
                asyncio.get_running_loop().create_task(self._answer(body))
        return deliver

    async def _answer(self, reply_room: str) -> None:
        assert self.bus is not None
        with contextlib.suppress(BusError):
            await self.bus.publish(reply_room, b"A")

    # -- used by the service -------------------------------------------------------------

    async def send(self, session_id: str, message: dict[str, Any]) -> None:
        text = json.dumps(message, separators=(",", ":"))
        local = self.sessions.get(session_id)
        if self.bus is None or local is not None:
            if local is not None:
                local.push(text)
            return
        try:
            await self.bus.publish(room(session_id), b"M" + text.encode())
        except BusError as exc:
            self.log.warning("eventsub websocket notification lost: %s", exc)

    async def exists(self, session_id: str) -> bool:
        """Whether a session is connected here or (asked over the bus) on another node."""
        if session_id in self.sessions:
            return True
        if self.bus is None or len(session_id) > 64:
            return False
        reply = f"eventsub:probe:{secrets.token_hex(8)}"
        found = asyncio.Event()
        await self.bus.subscribe(reply, lambda _: found.set())
        try:
            await self.bus.publish(room(session_id), b"P" + reply.encode())
            await asyncio.wait_for(found.wait(), 1.0)
            return True
        except (TimeoutError, BusError):
            return False
        finally:
            await self.bus.unsubscribe(reply)

    async def subscribed(self, session_id: str) -> None:
        """A subscription was made for the session: it is no longer unused."""
        local = self.sessions.get(session_id)
        if local is not None:
            local.has_subscriptions = True
        elif self.bus is not None:
            with contextlib.suppress(BusError):
                await self.bus.publish(room(session_id), b"S")

    async def revoke(self, session_id: str, subscription: dict[str, Any]) -> None:
        await self.send(session_id, {
            "metadata": {"message_id": str(uuid.uuid4()), "message_type": "revocation",
                         "message_timestamp": message_timestamp(),
                         "subscription_type": subscription["type"],
                         "subscription_version": subscription["version"]},
            "payload": {"subscription": subscription}})

    async def reconnect_all(self) -> None:
        """Node shutdown: park every session's subscriptions for RECONNECT_GRACE seconds and
        send `session_reconnect` with a URL that takes them over."""
        for session in list(self.sessions.values()):
            if self.public_ws is None:
                session.push(_Close(1001, "Server shutting down", "websocket_disconnected"))
                continue
            token = secrets.token_urlsafe(24)
            parked = parked_prefix(token) + str(int(time.time()) + RECONNECT_GRACE)
            try:
                await self.service.park_session(session.id, parked)
                session.parked = True
            except Exception as exc:
                self.log.warning("eventsub: parking session %s failed: %s", session.id, exc)
                continue
            session.push(_message("session_reconnect", {"session": {
                "id": session.id, "status": "reconnecting", "keepalive_timeout_seconds": None,
                "reconnect_url": f"{self.public_ws}?reconnect={token}",
                "connected_at": session.connected_at, "recovery_url": None}}))
            session.push(_Close(1012, "Server restarting", "websocket_disconnected"))
        deadline = time.monotonic() + 2.0
        while self.sessions and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    async def expire_reconnects(self) -> None:
        await self.service.expire_parked(time.time())
