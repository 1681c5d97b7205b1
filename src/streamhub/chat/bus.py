"""Chat buses that move room payloads between nodes: in-process (MemoryBus) and Redis pub/sub."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import RedisError

__all__ = ["Bus", "BusError", "MemoryBus", "RedisBus", "RoomCallback"]

RoomCallback = Callable[[bytes], None]


class BusError(Exception):
    """A payload could not be handed to the bus (e.g. Redis is unreachable)."""


class Bus(Protocol):
    """Moves opaque payloads to every node subscribed to a room (including this one)."""

    async def subscribe(self, room: str, callback: RoomCallback) -> None:
        """Start delivering the room's payloads to `callback` (one subscription per room
        per node: a second subscribe to the same room raises ValueError). The callback
        runs on the event loop and must be fast; its exceptions are logged."""
        ...

    async def unsubscribe(self, room: str) -> None:
        """Stop delivering the room's payloads; an unknown room is ignored."""
        ...

    async def publish(self, room: str, payload: bytes) -> None:
        """Send `payload` to every subscriber of `room`; raise BusError if it cannot."""
        ...

    async def close(self) -> None: ...


def _call(log: logging.Logger, room: str, callback: RoomCallback, payload: bytes) -> None:
    try:
        callback(payload)
    except Exception:
        log.exception("bus callback for room %s failed", room)


class MemoryBus:
    """The single-node bus: publish schedules the room's callback on the loop."""

    def __init__(self, *, logger: logging.Logger | None = None) -> None:
        self._log = logger or logging.getLogger(__name__)
        self._callbacks: dict[str, RoomCallback] = {}
        self._closed = False

    async def subscribe(self, room: str, callback: RoomCallback) -> None:
        if self._closed:
            raise BusError("bus is closed")
        if room in self._callbacks:
            raise ValueError(f"room {room!r} is already subscribed")
        self._callbacks[room] = callback

    async def unsubscribe(self, room: str) -> None:
        self._callbacks.pop(room, None)

    async def publish(self, room: str, payload: bytes) -> None:
        if self._closed:
            raise BusError("bus is closed")
        if room in self._callbacks:
            asyncio.get_running_loop().call_soon(self._deliver, room, payload)

    def _deliver(self, room: str, payload: bytes) -> None:
        # Looked up at delivery time: nothing arrives after unsubscribe returned.
        callback = self._callbacks.get(room)
        if callback is not None:
            _call(self._log, room, callback, payload)

    async def close(self) -> None:
        self._closed = True
        self._callbacks.clear()


class RedisBus:
    """Redis pub/sub: one subscriber connection per node carries all its rooms.

    A reader task owns that connection: it (re)connects with exponential backoff,
    subscribes every current room, dispatches messages to the room callbacks and PINGs
    when the line is quiet; no reply within `3 * health_interval` counts as a lost
    connection. Publishing uses a separate connection pool. Channels are
    `channel_prefix + room`.

    While Redis is unreachable, payloads published anywhere are lost for this node
    (pub/sub does not queue), and `publish` raises BusError.
    """

    def __init__(
        self,
        url: str,
        *,
        channel_prefix: str = "streamhub:chat:",
        logger: logging.Logger | None = None,
        health_interval: float = 5.0,
        backoff_initial: float = 0.05,
        backoff_max: float = 5.0,
        connect_timeout: float = 2.0,
        subscribe_timeout: float = 5.0,
    ) -> None:
        self._prefix = channel_prefix
        self._log = logger or logging.getLogger(__name__)
        self._health_interval = health_interval
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._subscribe_timeout = subscribe_timeout
        # Subscriber side: no retries inside redis-py, the reader task reconnects.
        # socket_timeout bounds the connect-time handshake; pub/sub reads block without it.
        self._sub_client = aioredis.Redis.from_url(
            url, socket_connect_timeout=connect_timeout, socket_timeout=connect_timeout,
            socket_keepalive=True,
            retry=Retry(NoBackoff(), 0), health_check_interval=0,
        )
        self._pub_client = aioredis.Redis.from_url(
            url, socket_connect_timeout=connect_timeout, socket_timeout=connect_timeout,
            socket_keepalive=True, retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
        )
        self._callbacks: dict[str, RoomCallback] = {}
        self._confirm: dict[bytes, asyncio.Future[None]] = {}
        self._pubsub: PubSub | None = None  # set while connected
        self._reader: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._down = asyncio.Event()  # the last connection attempt failed
        self._last_seen = 0.0
        self._closed = False
        self.sessions = 0  # subscriber connections made (reconnects = sessions - 1)

    @property
    def connected(self) -> bool:
        """True while the subscriber connection is up (and every room subscribed on it)."""
        return self._connected.is_set()

    async def wait_connected(self, timeout: float | None = None) -> None:
        self._ensure_reader()
        await asyncio.wait_for(self._connected.wait(), timeout)

    def _channel(self, room: str) -> bytes:
        return (self._prefix + room).encode("utf-8")

    # -- Bus -----------------------------------------------------------------------------

    async def subscribe(self, room: str, callback: RoomCallback) -> None:
        """Register the room and wait (up to `subscribe_timeout`) until Redis confirms the
        subscription. While Redis is known to be unreachable, return at once: the reader
        subscribes every registered room when it reconnects."""
        if self._closed:
            raise BusError("bus is closed")
        if room in self._callbacks:
            raise ValueError(f"room {room!r} is already subscribed")
        self._callbacks[room] = callback
        loop = asyncio.get_running_loop()
        channel = self._channel(room)
        confirmed = self._confirm.get(channel)
        if confirmed is None:
            confirmed = self._confirm[channel] = loop.create_future()
        self._ensure_reader()
        if self._down.is_set():
            return
        pubsub = self._pubsub
        if pubsub is not None:
            try:
                await pubsub.subscribe(channel)
            except (RedisError, OSError) as exc:
                self._log.warning("redis bus: subscribe %s deferred to reconnect: %r", room, exc)
                return
        # else the reader is connecting and subscribes this room with the others.
        down = loop.create_task(self._down.wait())
        waiters: set[asyncio.Future[Any]] = {confirmed, down}
        try:
            await asyncio.wait(waiters, timeout=self._subscribe_timeout,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            down.cancel()

    async def unsubscribe(self, room: str) -> None:
        if self._callbacks.pop(room, None) is None:
            return
        channel = self._channel(room)
        pending = self._confirm.pop(channel, None)
        if pending is not None and not pending.done():
            pending.cancel()
        pubsub = self._pubsub
        if pubsub is not None:
            try:
                await pubsub.unsubscribe(channel)
            except (RedisError, OSError) as exc:  # a new connection will not subscribe it
                self._log.debug("redis bus: unsubscribe %s: %r", room, exc)

    async def publish(self, room: str, payload: bytes) -> None:
        if self._closed:
            raise BusError("bus is closed")
        try:
            await self._pub_client.publish(self._channel(room), payload)
        except (RedisError, OSError) as exc:
            raise BusError(f"redis publish to room {room!r} failed: {exc}") from exc

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        for fut in self._confirm.values():
            fut.cancel()
        self._confirm.clear()
        self._callbacks.clear()
        await self._sub_client.aclose()
        await self._pub_client.aclose()

    # -- reader --------------------------------------------------------------------------

    def _ensure_reader(self) -> None:
        if self._reader is None and not self._closed:
            self._reader = asyncio.get_running_loop().create_task(
                self._run(), name="redis-bus-reader"
            )

    async def _run(self) -> None:
        backoff = self._backoff_initial
        while True:
            sessions = self.sessions
            try:
                await self._session()
            except (RedisError, OSError, TimeoutError) as exc:
                self._down.set()
                self._log.warning("redis bus: connection lost (%r); retrying in %.2fs",
                                  exc, backoff)
            if self.sessions != sessions:  # it had connected: start the backoff over
                backoff = self._backoff_initial
            # Jitter spreads the reconnects of many nodes after a Redis restart.
            await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
            backoff = min(backoff * 2, self._backoff_max)

    async def _session(self) -> None:
        """One subscriber connection: subscribe every room, then read until it fails."""
        pubsub = self._sub_client.pubsub()
        loop = asyncio.get_running_loop()
        reader: asyncio.Task[None] | None = None
        try:
            await pubsub.connect()  # type: ignore[no-untyped-call]
            self._pubsub = pubsub
            self._last_seen = loop.time()
            channels = [self._channel(room) for room in self._callbacks]
            waits = [
                self._confirm.setdefault(channel, loop.create_future()) for channel in channels
            ]
            reader = loop.create_task(self._read(pubsub))
            if channels:
                await pubsub.subscribe(*channels)
                deadline = loop.time() + self._subscribe_timeout
                pending: set[asyncio.Future[None]] = set(waits)
                while pending and not reader.done() and loop.time() < deadline:
                    await asyncio.wait({reader, *pending}, timeout=deadline - loop.time(),
                                       return_when=asyncio.FIRST_COMPLETED)
                    pending = {f for f in pending if not f.done()}
                if reader.done():
                    reader.result()
                    raise ConnectionError("redis bus reader stopped")
                if pending:
                    raise TimeoutError(f"redis did not confirm {len(pending)} subscriptions")
            self.sessions += 1
            self._down.clear()
            self._connected.set()
            self._log.info("redis bus: connected, %d rooms subscribed", len(channels))
            interval = self._health_interval
            while True:
                await asyncio.wait({reader}, timeout=interval)
                if reader.done():
                    reader.result()  # raises what ended it
                    raise ConnectionError("redis bus reader stopped")
                idle = loop.time() - self._last_seen
                if idle > 3 * interval:
                    raise TimeoutError(f"no reply from redis for {idle:.1f}s")
                if idle >= interval:
                    await pubsub.ping()
        finally:
            self._connected.clear()
            self._pubsub = None
            if reader is not None:
                reader.cancel()
                with contextlib.suppress(BaseException):
                    await reader
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _read(self, pubsub: PubSub) -> None:
        loop = asyncio.get_running_loop()
        while True:
            response = await pubsub.parse_response(block=True)
            self._last_seen = loop.time()
            self._on_response(response)

    def _on_response(self, response: Any) -> None:
        if not isinstance(response, list) or len(response) < 3:
            return  # PONG and the like: only a sign of life
        kind, channel, data = response[0], response[1], response[2]
        if kind == b"message":
            prefix = self._prefix.encode("utf-8")
            if not channel.startswith(prefix):
                return
            room = channel[len(prefix):].decode("utf-8", "replace")
            callback = self._callbacks.get(room)
            if callback is not None:
                _call(self._log, room, callback, data)
        elif kind == b"subscribe":
            fut = self._confirm.pop(channel, None)
            if fut is not None and not fut.done():
                fut.set_result(None)
