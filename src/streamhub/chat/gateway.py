"""Chat gateways: asyncio WebSocket (subprotocol `irc`) and plain TCP IRC servers -> lines."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, Protocol, cast

from wsproto import ConnectionType, WSConnection
from wsproto.connection import Connection as WsProtoConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from streamhub.chat import wsframes

if TYPE_CHECKING:
    from streamhub.chat.events import Subscriber

__all__ = [
    "MAX_LINE_BYTES",
    "RECONNECT_LINE",
    "ChatGateway",
    "Connection",
    "HandlerFactory",
    "LineHandler",
]

MAX_LINE_BYTES = 8191 + 512 + 2
"""Longest accepted input line in UTF-8 bytes, CR LF included: IRCv3 tags + RFC 1459 body."""

RECONNECT_LINE = b":tmi.twitch.tv RECONNECT\r\n"
WS_PATH = "/"
WS_SUBPROTOCOL = "irc"
_BAD_REQUEST = (
    b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
)


class LineHandler(Protocol):
    """The per-connection consumer of input lines (the TMI session); must be fast."""

    def on_line(self, line: str) -> None:
        """One IRC line without its CR/LF; empty lines are not passed on.

        TCP input is decoded as UTF-8 with errors="replace" (U+FFFD), so invalid bytes
        reach the parser, which may reject the line; on WebSocket, invalid UTF-8 in a
        text frame is a protocol error and closes the connection (1007).
        """

    def on_close(self, reason: str) -> None:
        """Called exactly once, from its own loop callback, when the connection starts to
        close or is lost; no on_line follows."""


HandlerFactory = Callable[["Connection"], LineHandler]


class _Hub(Protocol):
    """What a Connection needs from its gateway."""

    log: logging.Logger
    max_line_bytes: int
    max_write_buffer: int
    ws_max_message: int
    handshake_timeout: float
    close_timeout: float

    def admit(self, conn: Connection) -> bool: ...

    def forget(self, conn: Connection) -> None: ...

    def make_handler(self, conn: Connection) -> LineHandler | None: ...


class Connection(asyncio.Protocol):
    """One client socket (WebSocket or TCP); a `Subscriber` for the room fan-out.

    `caps` and `user_id` are set by the session. Writes never wait: when more than
    `max_write_buffer` bytes are queued in the transport, the client is disconnected as
    a slow client.
    """

    __slots__ = (
        "_close_reason",
        "_closing",
        "_handler",
        "_hub",
        "_lost",
        "_notified",
        "_timer",
        "_transport",
        "caps",
        "peer",
        "transport_kind",
        "user_id",
    )

    def __init__(self, hub: _Hub, kind: Literal["ws", "tcp"]) -> None:
        self.transport_kind: Literal["ws", "tcp"] = kind
        self.peer = "?"
        self.caps: frozenset[str] = frozenset()
        self.user_id: str | None = None
        self._hub = hub
        self._transport: asyncio.Transport | None = None
        self._handler: LineHandler | None = None
        self._closing = False
        self._close_reason: str | None = None
        self._notified = False
        self._lost = False
        self._timer: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        return f"<Connection {self.transport_kind} {self.peer} user={self.user_id}>"

    # -- public API ----------------------------------------------------------------------

    @property
    def is_closing(self) -> bool:
        return self._closing or self._lost

    def send_lines(self, data: bytes) -> None:
        """Send one or more CRLF-terminated IRC lines (one text frame on WebSocket)."""
        raise NotImplementedError

    def write_encoded(self, payload: bytes) -> None:
        """Write bytes already framed for this transport kind (the fan-out path)."""
        if not self._closing:
            self._write(payload)

    def buffered_bytes(self) -> int:
        transport = self._transport
        return transport.get_write_buffer_size() if transport is not None else 0

    def close(self, reason: str) -> None:
        """Close gracefully (WebSocket: close frame, then wait for the client's; TCP: after
        flushing); a client over the write-buffer limit is cut off at once."""
        self._close(reason, wsframes.CLOSE_NORMAL)

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self.peer = f"{peer[0]}:{peer[1]}"
        if not self._hub.admit(self):
            self._closing = True
            self._close_reason = "too many connections"
            self._transport.abort()
            return
        self._started()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._hub.forget(self)
        if self._close_reason is None:
            self._close_reason = "client closed" if exc is None else f"connection lost: {exc!r}"
        self._hub.log.debug("%s closed: %s", self, self._close_reason)
        self._notify(self._close_reason)
        self._transport = None

    # -- internals -----------------------------------------------------------------------

    def _started(self) -> None:
        """Subclass hook: the connection was admitted."""

    def _graceful_close(self, code: int, reason: str) -> None:
        """Subclass hook: start an orderly close (the transport is still open)."""
        raise NotImplementedError

    def _attach_handler(self) -> bool:
        handler = self._hub.make_handler(self)
        if handler is None:
            self._close("internal error", wsframes.CLOSE_INTERNAL_ERROR)
            return False
        self._handler = handler
        if self._closing or self._lost:  # the factory closed the connection already
            self._notify(self._close_reason or "closed")
        return True

    def _write(self, data: bytes) -> None:
        transport = self._transport
        if transport is None or self._lost:
            return
        transport.write(data)
        if transport.get_write_buffer_size() > self._hub.max_write_buffer:
            self._abort("slow client")

    def _dispatch(self, line: str) -> None:
        handler = self._handler
        if handler is None or self._closing:
            return
        try:
            handler.on_line(line)
        except Exception:
            self._hub.log.exception("%s: line handler failed", self)
            self._close("internal error", wsframes.CLOSE_INTERNAL_ERROR)

    def _close(self, reason: str, code: int) -> None:
        if self._closing or self._lost:
            return
        self._closing = True
        self._close_reason = reason
        self._notify(reason)
        transport = self._transport
        if transport is None:
            return
        if transport.get_write_buffer_size() > self._hub.max_write_buffer:
            transport.abort()
            return
        self._graceful_close(code, reason)
        if not self._lost:
            if self._timer is not None:
                self._timer.cancel()
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._hub.close_timeout, self._close_expired)

    def _close_expired(self) -> None:
        self._timer = None
        if self._transport is not None:
            self._hub.log.debug("%s: close timed out, aborting", self)
            self._transport.abort()

    def _abort(self, reason: str) -> None:
        if not self._closing:
            self._closing = True
            self._close_reason = reason
            self._notify(reason)
        if self._transport is not None:
            self._transport.abort()

    def _notify(self, reason: str) -> None:
        handler = self._handler
        if self._notified or handler is None:
            return
        self._notified = True
        asyncio.get_running_loop().call_soon(self._call_on_close, handler, reason)

    def _call_on_close(self, handler: LineHandler, reason: str) -> None:
        try:
            handler.on_close(reason)
        except Exception:
            self._hub.log.exception("%s: on_close failed", self)


class _TcpConnection(Connection):
    """Plain IRC over TCP: input split on LF (a preceding CR is dropped)."""

    __slots__ = ("_buf",)

    def __init__(self, hub: _Hub) -> None:
        super().__init__(hub, "tcp")
        self._buf = bytearray()

    def _started(self) -> None:
        self._attach_handler()

    def send_lines(self, data: bytes) -> None:
        if not self._closing:
            self._write(data)

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        buf = self._buf
        buf += data
        limit = self._hub.max_line_bytes
        start = 0
        while not self._closing:
            end = buf.find(b"\n", start)
            if end < 0:
                break
            if end + 1 - start > limit:
                self._close("line too long", wsframes.CLOSE_POLICY_VIOLATION)
                return
            stop = end - 1 if end > start and buf[end - 1] == 0x0D else end
            if stop > start:
                self._dispatch(buf[start:stop].decode("utf-8", "replace"))
            start = end + 1
        if start:
            del buf[:start]
        if len(buf) >= limit:
            self._close("line too long", wsframes.CLOSE_POLICY_VIOLATION)

    def eof_received(self) -> bool:
        if self._buf and not self._closing:  # a last line without its terminator
            line = self._buf.rstrip(b"\r").decode("utf-8", "replace")
            self._buf.clear()
            if line:
                self._dispatch(line)
        self._close("client closed", wsframes.CLOSE_NORMAL)
        return True  # keep the write side open until our output is flushed

    def _graceful_close(self, code: int, reason: str) -> None:
        if self._transport is not None:
            self._transport.close()


class _WsConnection(Connection):
    """IRC over WebSocket: wsproto parses the handshake and client frames; output frames
    are pre-encoded (`wsframes`)."""

    __slots__ = ("_handshake", "_msg_bytes", "_msg_parts", "_open", "_ws", "subprotocol")

    def __init__(self, hub: _Hub) -> None:
        super().__init__(hub, "ws")
        self._handshake: WSConnection | None = WSConnection(ConnectionType.SERVER)
        self._ws: WsProtoConnection | None = None
        self._open = False  # handshake accepted
        self._msg_parts: list[str] = []
        self._msg_bytes = 0
        self.subprotocol: str | None = None

    def _started(self) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._hub.handshake_timeout, self._handshake_expired)

    def send_lines(self, data: bytes) -> None:
        if not self._closing and self._open:
            self._write(wsframes.text_frame(data))

    def write_encoded(self, payload: bytes) -> None:
        if not self._closing and self._open:
            self._write(payload)

    def data_received(self, data: bytes) -> None:
        if self._lost:
            return
        if self._handshake is not None:
            self._handshake_data(data)
            return
        ws = self._ws
        if ws is None:
            return
        ws.receive_data(data)
        for event in ws.events():
            self._on_event(event)
            if self._lost:
                return

    def _handshake_data(self, data: bytes) -> None:
        handshake = self._handshake
        assert handshake is not None
        if self._closing:
            return
        try:
            handshake.receive_data(data)
            events = list(handshake.events())
        except RemoteProtocolError as exc:
            hint = exc.event_hint
            reject = hint if isinstance(hint, RejectConnection) else RejectConnection()
            self._reject(handshake, reject, f"bad handshake: {exc}")
            return
        for event in events:
            if isinstance(event, Request):
                self._on_request(handshake, event)
                return

    def _on_request(self, handshake: WSConnection, request: Request) -> None:
        path = request.target.split("?", 1)[0]
        if path != WS_PATH:
            self._reject(handshake, RejectConnection(status_code=404), f"path {path!r}")
            return
        subprotocol = WS_SUBPROTOCOL if WS_SUBPROTOCOL in request.subprotocols else None
        # No extensions: permessage-deflate stays off (per-connection state and CPU).
        response = handshake.send(AcceptConnection(subprotocol=subprotocol, extensions=[]))
        self._ws = handshake.connection
        self._handshake = None  # drop the h11 machinery
        self.subprotocol = subprotocol
        self._open = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._write(response)
        if not self._closing:
            self._attach_handler()

    def _reject(self, handshake: WSConnection, reject: RejectConnection, why: str) -> None:
        self._hub.log.debug("%s: websocket handshake rejected (%d): %s", self,
                            reject.status_code, why)
        try:
            response = handshake.send(reject)
        except LocalProtocolError:
            response = _BAD_REQUEST
        self._write(response)
        self._close(f"handshake rejected: {reject.status_code}", wsframes.CLOSE_PROTOCOL_ERROR)

    def _handshake_expired(self) -> None:
        self._timer = None
        self._abort("handshake timeout")

    def _on_event(self, event: Event) -> None:
        if isinstance(event, TextMessage):
            if self._closing:
                return
            data = event.data
            self._msg_bytes += len(data) if data.isascii() else len(data.encode("utf-8"))
            if self._msg_bytes > self._hub.ws_max_message:
                self._close("message too big", wsframes.CLOSE_MESSAGE_TOO_BIG)
                return
            self._msg_parts.append(data)
            if event.message_finished:
                text = "".join(self._msg_parts)
                self._msg_parts.clear()
                self._msg_bytes = 0
                self._on_text(text)
        elif isinstance(event, BytesMessage):
            self._close("binary frames are not supported", wsframes.CLOSE_UNSUPPORTED_DATA)
        elif isinstance(event, Ping):
            if not self._closing:
                self._write(wsframes.pong_frame(bytes(event.payload)))
        elif isinstance(event, CloseConnection):
            self._on_peer_close(event)

    def _on_text(self, text: str) -> None:
        limit = self._hub.max_line_bytes - 2  # the CR LF is not in `line`
        for raw in text.split("\n"):
            if self._closing:
                return
            line = raw[:-1] if raw.endswith("\r") else raw
            if not line:
                continue
            if len(line) > limit // 4 and len(line.encode("utf-8")) > limit:
                self._close("line too long", wsframes.CLOSE_POLICY_VIOLATION)
                return
            self._dispatch(line)

    def _on_peer_close(self, event: CloseConnection) -> None:
        transport = self._transport
        if self._closing:  # the answer to our close frame
            if transport is not None:
                transport.close()
            return
        code = event.code
        if code in (wsframes.CLOSE_PROTOCOL_ERROR, wsframes.CLOSE_INVALID_PAYLOAD,
                    wsframes.CLOSE_MESSAGE_TOO_BIG) and event.reason:
            reason = f"websocket error {code}: {event.reason}"
        else:
            reason = f"client closed ({code})"
        self._closing = True
        self._close_reason = reason
        self._notify(reason)
        if transport is None:
            return
        try:
            answer = wsframes.close_frame(int(code), event.reason or "")
        except ValueError:  # 1005/1006 (no status) or a code not sendable: answer plainly
            answer = wsframes.close_frame(None)
        transport.write(answer)
        transport.close()  # the server closes the TCP connection first (RFC 6455 §7.1.1)
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._hub.close_timeout, self._close_expired)

    def _graceful_close(self, code: int, reason: str) -> None:
        transport = self._transport
        if transport is None:
            return
        if not self._open:
            transport.close()
            return
        transport.write(wsframes.close_frame(code, reason))
        # then wait for the client's close frame (_on_peer_close) or the close timeout


class ChatGateway:
    """WebSocket and plain-TCP IRC listeners; every connection gets its own LineHandler.

    Port 0 binds a free port (see `ws_port` / `irc_port`); `None` disables a listener.
    `reuse_port=True` sets SO_REUSEPORT so several worker processes share the ports.
    """

    def __init__(
        self,
        handler_factory: HandlerFactory,
        *,
        host: str = "127.0.0.1",
        ws_port: int | None = 0,
        irc_port: int | None = 0,
        logger: logging.Logger | None = None,
        max_line_bytes: int = MAX_LINE_BYTES,
        max_connections: int = 20_000,
        max_write_buffer: int = 1 << 20,
        ws_max_message: int = 64 * 1024,
        reuse_port: bool = False,
        tls: ssl.SSLContext | None = None,
        wss_port: int | None = None,
        ircs_port: int | None = None,
        handshake_timeout: float = 10.0,
        close_timeout: float = 5.0,
        backlog: int = 1024,
    ) -> None:
        self._factory = handler_factory
        self._host = host
        self._ports = {"ws": ws_port, "tcp": irc_port}
        if tls is not None:  # TLS listeners (wss://, ircs://) beside the plain ones
            self._ports.update({"wss": wss_port, "ircs": ircs_port})
        self._tls = tls
        self.log = logger or logging.getLogger(__name__)
        self.max_line_bytes = max_line_bytes
        self.max_connections = max_connections
        self.max_write_buffer = max_write_buffer
        self.ws_max_message = ws_max_message
        self.handshake_timeout = handshake_timeout
        self.close_timeout = close_timeout
        self._reuse_port = reuse_port
        self._backlog = backlog
        self._servers: dict[str, asyncio.Server] = {}
        self._conns: set[Connection] = set()
        self._empty: asyncio.Event | None = None
        self._closing = False
        self.refused = 0  # connections refused (over max_connections or shutting down)

    # -- properties ----------------------------------------------------------------------

    @property
    def ws_port(self) -> int:
        return self._bound_port("ws")

    @property
    def irc_port(self) -> int:
        return self._bound_port("tcp")

    @property
    def wss_port(self) -> int:
        """The TLS WebSocket port (only with a `tls` context)."""
        return self._bound_port("wss")

    @property
    def ircs_port(self) -> int:
        """The TLS IRC port (only with a `tls` context)."""
        return self._bound_port("ircs")

    @property
    def connections(self) -> int:
        """Open sockets, including WebSocket handshakes in progress."""
        return len(self._conns)

    def _bound_port(self, kind: str) -> int:
        server = self._servers.get(kind)
        if server is None or not server.sockets:
            raise RuntimeError(f"the {kind} listener is not running")
        return int(server.sockets[0].getsockname()[1])

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        if self._servers:
            raise RuntimeError("ChatGateway already started")
        loop = asyncio.get_running_loop()
        self._empty = asyncio.Event()
        self._empty.set()
        factories: dict[str, Callable[[], asyncio.Protocol]] = {
            "ws": lambda: _WsConnection(self),
            "tcp": lambda: _TcpConnection(self),
            "wss": lambda: _WsConnection(self),
            "ircs": lambda: _TcpConnection(self),
        }
        try:
            for kind, port in self._ports.items():
                if port is None:
                    continue
                self._servers[kind] = await loop.create_server(
                    factories[kind], self._host, port,
                    reuse_port=self._reuse_port or None, backlog=self._backlog,
                    ssl=self._tls if kind in ("wss", "ircs") else None,
                )
                self.log.info("chat %s listening on %s:%d", kind, self._host,
                              self._bound_port(kind))
        except BaseException:
            for server in self._servers.values():
                server.close()
            self._servers.clear()
            raise

    async def close(self, *, reconnect: bool = False) -> None:
        """Stop listening and close every connection; `reconnect=True` first tells each
        client `:tmi.twitch.tv RECONNECT` (graceful shutdown / deploy)."""
        self._closing = True
        servers = list(self._servers.values())
        for server in servers:
            server.close()
        for conn in list(self._conns):
            if reconnect and conn._handler is not None:
                conn.send_lines(RECONNECT_LINE)
            conn._close("server shutting down", wsframes.CLOSE_GOING_AWAY)
        if self._empty is not None and self._conns:
            try:
                await asyncio.wait_for(self._empty.wait(), self.close_timeout + 1.0)
            except TimeoutError:
                for conn in list(self._conns):
                    conn._abort("server shutting down")
        for server in servers:
            await server.wait_closed()
        self._servers.clear()
        await asyncio.sleep(0)  # let the on_close callbacks run

    # -- _Hub ----------------------------------------------------------------------------

    def admit(self, conn: Connection) -> bool:
        if self._closing or len(self._conns) >= self.max_connections:
            self.refused += 1
            self.log.debug("chat: refusing %s (%s)", conn.peer,
                           "shutting down" if self._closing else "too many connections")
            return False
        self._conns.add(conn)
        if self._empty is not None:
            self._empty.clear()
        return True

    def forget(self, conn: Connection) -> None:
        self._conns.discard(conn)
        if not self._conns and self._empty is not None:
            self._empty.set()

    def make_handler(self, conn: Connection) -> LineHandler | None:
        try:
            return self._factory(conn)
        except Exception:
            self.log.exception("chat: handler factory failed for %s", conn.peer)
            return None


if TYPE_CHECKING:

    def _connection_is_a_subscriber(conn: Connection) -> Subscriber:
        return conn
