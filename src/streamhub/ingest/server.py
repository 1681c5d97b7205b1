"""asyncio RTMP ingest server: sockets <-> protocols.rtmp.ServerConnection, publish auth."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from typing import NoReturn, Protocol

from streamhub.protocols.rtmp import (
    AudioData,
    Connected,
    Metadata,
    ProtocolError,
    PublishEnded,
    PublishRequested,
    ServerConnection,
    VideoData,
)
from streamhub.protocols.rtmp.chunk import DEFAULT_MAX_MESSAGE_SIZE

ACCEPTED_APP = "live"
READ_SIZE = 64 * 1024


class PublishRefused(Exception):
    """Raised by a PublishHandler to refuse a publish; code/description go to the client."""

    def __init__(
        self, code: str = "NetStream.Publish.BadName", description: str = "Publishing refused."
    ) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description


class PublishSink(Protocol):
    """Receives one publish's FLV tag payloads; methods must be fast and non-blocking."""

    def on_metadata(self, timestamp: int, script_tag_payload: bytes) -> None: ...

    def on_video(self, timestamp: int, payload: bytes) -> None: ...

    def on_audio(self, timestamp: int, payload: bytes) -> None: ...

    def end(self, reason: str) -> None: ...


class PublishHandler(Protocol):
    """Authorizes a publish and returns where its media goes."""

    async def begin_publish(self, app: str, stream_key: str, peer: str) -> PublishSink:
        """Return a sink, or raise PublishRefused."""
        ...


def redact_key(stream_key: str) -> str:
    """A log-safe stand-in for a stream key: a short hash prefix, never the key itself."""
    return "key#" + hashlib.sha256(stream_key.encode("utf-8", "replace")).hexdigest()[:8]


class _Closing(Exception):
    """Internal: the connection should be closed after flushing, for the given reason."""


class RtmpServer:
    """Accepts RTMP publishers on host:port and feeds their media into PublishSinks."""

    def __init__(
        self,
        handler: PublishHandler,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        logger: logging.Logger | None = None,
        max_connections: int = 1000,
        handshake_timeout: float = 10.0,
        idle_timeout: float = 30.0,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        self._handler = handler
        self._host = host
        self._requested_port = port
        self._log = logger or logging.getLogger(__name__)
        self._max_connections = max_connections
        self._handshake_timeout = handshake_timeout
        self._idle_timeout = idle_timeout
        self._max_message_size = max_message_size
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._closing = False

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("RtmpServer is not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def connection_count(self) -> int:
        return len(self._tasks)

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("RtmpServer already started")
        self._server = await asyncio.start_server(
            self._on_client, self._host, self._requested_port, limit=READ_SIZE
        )
        self._log.info("rtmp listening on %s:%d", self._host, self.port)

    async def close(self) -> None:
        """Stop listening, close every connection and end every active sink."""
        self._closing = True
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        peername = writer.get_extra_info("peername")
        peer = f"{peername[0]}:{peername[1]}" if isinstance(peername, tuple) else str(peername)
        if self._closing or task is None or len(self._tasks) >= self._max_connections:
            self._log.warning("rtmp %s closed: %s", peer, "too many connections")
            writer.close()
            return
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            await _Session(self, reader, writer, peer).run()
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)


class _Session:
    """One client connection: reads, feeds the state machine, dispatches to sinks."""

    def __init__(
        self,
        server: RtmpServer,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: str,
    ) -> None:
        self.server = server
        self.log = server._log
        self.reader = reader
        self.writer = writer
        self.peer = peer
        self.conn = ServerConnection(max_message_size=server._max_message_size)
        self.sinks: dict[int, PublishSink] = {}
        self.app: str | None = None

    async def run(self) -> None:
        reason = "client disconnected"
        loop = asyncio.get_running_loop()
        handshake_deadline = loop.time() + self.server._handshake_timeout
        try:
            while True:
                if self.conn.handshake_complete:
                    timeout, what = self.server._idle_timeout, "idle timeout"
                else:
                    timeout, what = handshake_deadline - loop.time(), "handshake timeout"
                try:
                    data = await asyncio.wait_for(self.reader.read(READ_SIZE), max(timeout, 0))
                except TimeoutError:
                    reason = what
                    break
                if not data:
                    break
                events = self.conn.receive_data(data)
                while events:
                    await self._flush()
                    for event in events:
                        await self._dispatch(event)
                    # Input pauses after PublishRequested; resume it once decided.
                    events = self.conn.receive_data(b"")
                await self._flush()
        except _Closing as exc:
            reason = str(exc)
        except ProtocolError as exc:
            reason = f"protocol error: {exc}"
        except TimeoutError:
            reason = "write timeout (peer stopped reading)"
        except ConnectionError as exc:
            reason = f"connection lost: {exc!r}"
        except asyncio.CancelledError:
            reason = "server closing" if self.server._closing else "cancelled"
            raise
        except Exception as exc:  # one bad connection must never take the server down
            reason = f"internal error: {exc!r}"
            self.log.exception("rtmp %s internal error", self.peer)
        finally:
            self._end_all(reason)
            if reason in ("client disconnected", "server closing"):
                self.log.info("rtmp %s closed: %s", self.peer, reason)
            else:
                self.log.warning("rtmp %s closed: %s", self.peer, reason)
            self.writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.writer.wait_closed(), 1.0)

    async def _flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.writer.write(data)
            await asyncio.wait_for(self.writer.drain(), self.server._idle_timeout)

    async def _dispatch(self, event: object) -> None:
        if isinstance(event, VideoData):
            sink = self.sinks.get(event.stream_id)
            if sink is not None:
                sink.on_video(event.timestamp, event.payload)
        elif isinstance(event, AudioData):
            sink = self.sinks.get(event.stream_id)
            if sink is not None:
                sink.on_audio(event.timestamp, event.payload)
        elif isinstance(event, Metadata):
            sink = self.sinks.get(event.stream_id)
            if sink is not None:
                sink.on_metadata(event.timestamp, event.script_payload)
        elif isinstance(event, Connected):
            self.app = event.app
        elif isinstance(event, PublishRequested):
            await self._begin(event)
        elif isinstance(event, PublishEnded):
            sink = self.sinks.pop(event.stream_id, None)
            if sink is not None:
                self.log.info("rtmp %s publish ended (%s)", self.peer, event.reason)
                self._end_sink(sink, f"unpublished ({event.reason})")

    async def _begin(self, event: PublishRequested) -> None:
        app = (self.app or "").split("?", 1)[0].strip("/")
        key = event.stream_name.split("?", 1)[0]
        if app != ACCEPTED_APP:
            await self._refuse(
                event.stream_id,
                "NetStream.Publish.BadName",
                f"unknown application; publish to rtmp://HOST/{ACCEPTED_APP}/<stream key>",
                "application not accepted",
            )
        try:
            sink = await self.server._handler.begin_publish(app, key, self.peer)
        except PublishRefused as refused:
            await self._refuse(
                event.stream_id,
                refused.code,
                refused.description,
                f"publish refused for {redact_key(key)}: {refused.code}",
            )
        except Exception as exc:
            self.log.exception("rtmp %s publish handler failed", self.peer)
            await self._refuse(
                event.stream_id,
                "NetStream.Publish.Denied",
                "Publishing is temporarily unavailable.",
                f"publish handler failed for {redact_key(key)}: {type(exc).__name__}",
            )
        if self.conn.stream_state(event.stream_id) is None or event.stream_id in self.sinks:
            sink.end("stream vanished before publish started")
            return
        self.conn.accept_publish(event.stream_id)
        self.sinks[event.stream_id] = sink
        self.log.info("rtmp %s publishing app=%s %s", self.peer, app, redact_key(key))

    async def _refuse(self, stream_id: int, code: str, description: str, reason: str) -> NoReturn:
        self.conn.reject_publish(stream_id, code, description)
        with contextlib.suppress(ConnectionError, TimeoutError):
            await self._flush()
        raise _Closing(reason)

    def _end_sink(self, sink: PublishSink, reason: str) -> None:
        try:
            sink.end(reason)
        except Exception:
            self.log.exception("rtmp %s sink.end failed", self.peer)

    def _end_all(self, reason: str) -> None:
        sinks, self.sinks = self.sinks, {}
        for sink in sinks.values():
            self._end_sink(sink, reason)
