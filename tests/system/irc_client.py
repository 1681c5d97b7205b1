"""A small asyncio IRC test client over TCP or WebSocket (the `websockets` library)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable

import websockets
from websockets.asyncio.client import ClientConnection

from streamhub.protocols.irc.message import Message

Predicate = Callable[[Message], bool]


class IrcClient:
    """Collects every received line; `expect` waits for one matching a predicate."""

    def __init__(self) -> None:
        self.received: list[Message] = []
        self._cursor = 0
        self._new = asyncio.Event()
        self.closed = asyncio.Event()
        self._writer: asyncio.StreamWriter | None = None
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self.subprotocol: str | None = None

    @classmethod
    async def tcp(
        cls, port: int, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None
    ) -> IrcClient:
        self = cls()
        reader, self._writer = await asyncio.open_connection(host, port, ssl=tls)
        self._task = asyncio.create_task(self._read_tcp(reader))
        return self

    @classmethod
    async def ws(
        cls, port: int, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None
    ) -> IrcClient:
        self = cls()
        scheme = "wss" if tls is not None else "ws"
        self._ws = await websockets.connect(
            f"{scheme}://{host}:{port}/", subprotocols=["irc"],  # type: ignore[list-item]
            compression=None, open_timeout=30, ssl=tls,
        )
        self.subprotocol = self._ws.subprotocol
        self._task = asyncio.create_task(self._read_ws())
        return self

    def _push(self, text: str) -> None:
        for line in text.split("\r\n"):
            if line:
                self.received.append(Message.parse(line, max_body=16384))
        self._new.set()

    async def _read_tcp(self, reader: asyncio.StreamReader) -> None:
        try:
            while line := await reader.readline():
                self._push(line.decode().rstrip("\r\n"))
        finally:
            self.closed.set()
            self._new.set()

    async def _read_ws(self) -> None:
        assert self._ws is not None
        try:
            async for frame in self._ws:
                self._push(frame if isinstance(frame, str) else frame.decode())
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed.set()
            self._new.set()

    async def send(self, *lines: str) -> None:
        data = "".join(f"{line}\r\n" for line in lines)
        if self._ws is not None:
            await self._ws.send(data)
        else:
            assert self._writer is not None
            self._writer.write(data.encode())
            await self._writer.drain()

    async def expect(self, pred: Predicate, timeout: float = 20.0, what: str = "") -> Message:
        """The next unread message matching `pred` (earlier non-matching ones are skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                while self._cursor < len(self.received):
                    msg = self.received[self._cursor]
                    self._cursor += 1
                    if pred(msg):
                        return msg
                if self.closed.is_set():
                    raise AssertionError(f"connection closed while waiting for {what}: "
                                         f"{[str(m) for m in self.received[-5:]]}")
                self._new.clear()
                await self._new.wait()

    async def expect_cmd(self, command: str, timeout: float = 20.0) -> Message:
        return await self.expect(lambda m: m.command == command, timeout, command)

    def seen(self, pred: Predicate) -> list[Message]:
        return [m for m in self.received if pred(m)]

    async def login(self, nick: str, token: str | None, *,
                    caps: str = "twitch.tv/tags twitch.tv/commands twitch.tv/membership") -> None:
        await self.send(f"CAP REQ :{caps}")
        if token is not None:
            await self.send(f"PASS oauth:{token}")
        await self.send(f"NICK {nick}")
        await self.expect(lambda m: m.command == "376", what="376")

    async def join(self, channel: str) -> Message:
        await self.send(f"JOIN #{channel}")
        return await self.expect(
            lambda m: m.command == "ROOMSTATE" and m.params[0] == f"#{channel}", what="ROOMSTATE")

    async def close(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._writer is not None:
            self._writer.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
