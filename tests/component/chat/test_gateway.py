"""ChatGateway on 127.0.0.1:0 with real clients: WebSocket (websockets, raw), TCP, fan-out."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
from collections.abc import AsyncIterator, Callable

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from streamhub.chat.events import CAP_TAGS, Category, RoomEvent
from streamhub.chat.fanout import FanoutRoom
from streamhub.chat.gateway import ChatGateway, Connection, LineHandler
from streamhub.protocols.irc.message import Message

IRC = [Subprotocol("irc")]


class Recorder:
    """A LineHandler that records lines and close reasons."""

    def __init__(self, conn: Connection, on_open: Callable[[Connection], None] | None) -> None:
        self.conn = conn
        self.lines: list[str] = []
        self.closed: list[str] = []
        if on_open is not None:
            on_open(conn)

    def on_line(self, line: str) -> None:
        self.lines.append(line)
        if line.startswith("ECHO "):
            self.conn.send_lines(line[5:].encode() + b"\r\n")

    def on_close(self, reason: str) -> None:
        self.closed.append(reason)


class Handlers:
    def __init__(self, on_open: Callable[[Connection], None] | None = None) -> None:
        self.all: list[Recorder] = []
        self.on_open = on_open

    def __call__(self, conn: Connection) -> LineHandler:
        recorder = Recorder(conn, self.on_open)
        self.all.append(recorder)
        return recorder


async def until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[ChatGateway, Handlers]]:
    handlers = Handlers()
    gw = ChatGateway(handlers, max_line_bytes=1024)
    await gw.start()
    yield gw, handlers
    await gw.close()


def ws_url(gw: ChatGateway, path: str = "/") -> str:
    return f"ws://127.0.0.1:{gw.ws_port}{path}"


# -- raw clients --------------------------------------------------------------------------


async def raw_ws(
    port: int, *, path: str = "/", subprotocol: str | None = "irc", rcvbuf: int | None = None,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    """A minimal WebSocket client: handshake by hand; returns the response head too."""
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock)
    key = base64.b64encode(os.urandom(16)).decode()
    proto = f"Sec-WebSocket-Protocol: {subprotocol}\r\n" if subprotocol else ""
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"{proto}\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    return reader, writer, head


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first, second = await reader.readexactly(2)
    assert second & 0x80 == 0, "server frames must not be masked"
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", await reader.readexactly(8))
    return first & 0x0F, await reader.readexactly(length)


def masked_frame(opcode: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    assert len(payload) < 126
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + body


async def http_status(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    try:
        return await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()


# -- WebSocket ----------------------------------------------------------------------------


async def test_ws_handshake_echoes_irc_and_refuses_deflate(
    gateway: tuple[ChatGateway, Handlers],
) -> None:
    gw, handlers = gateway
    async with connect(ws_url(gw), subprotocols=IRC) as ws:  # offers permessage-deflate
        assert ws.subprotocol == "irc"
        assert ws.response is not None
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        await until(lambda: len(handlers.all) == 1)
        conn = handlers.all[0].conn
        assert conn.transport_kind == "ws" and conn.peer.startswith("127.0.0.1:")


async def test_ws_without_subprotocol_offer(gateway: tuple[ChatGateway, Handlers]) -> None:
    gw, _handlers = gateway
    _reader, writer, head = await raw_ws(gw.ws_port, subprotocol=None)
    assert head.startswith(b"HTTP/1.1 101")
    assert b"sec-websocket-protocol" not in head.lower()
    writer.close()


async def test_ws_two_lines_in_one_frame_and_send_lines(
    gateway: tuple[ChatGateway, Handlers],
) -> None:
    gw, handlers = gateway
    async with connect(ws_url(gw), subprotocols=IRC, compression=None) as ws:
        await ws.send("PASS oauth:x\r\nNICK justinfan1\r\n")
        await until(lambda: len(handlers.all) == 1 and len(handlers.all[0].lines) == 2)
        assert handlers.all[0].lines == ["PASS oauth:x", "NICK justinfan1"]
        # A frame without a final CRLF still ends its last line; bare LF works too.
        await ws.send("ECHO one\nECHO two")
        assert await asyncio.wait_for(ws.recv(), 5) == "one\r\n"
        assert await asyncio.wait_for(ws.recv(), 5) == "two\r\n"
        welcome = ":tmi.twitch.tv 001 a :Welcome\r\n:tmi.twitch.tv 376 a :>\r\n"
        handlers.all[0].conn.send_lines(welcome.encode())
        assert await asyncio.wait_for(ws.recv(), 5) == welcome


async def test_ws_fragmented_message(gateway: tuple[ChatGateway, Handlers]) -> None:
    gw, handlers = gateway
    async with connect(ws_url(gw), subprotocols=IRC) as ws:
        await ws.send(iter(["PRIVMSG #c :he", "llo\r\nPING", "\r\n"]))
        await until(lambda: len(handlers.all) == 1 and len(handlers.all[0].lines) == 2)
        assert handlers.all[0].lines == ["PRIVMSG #c :hello", "PING"]


async def test_ws_ping_pong_and_client_close(gateway: tuple[ChatGateway, Handlers]) -> None:
    gw, handlers = gateway
    async with connect(ws_url(gw), subprotocols=IRC) as ws:
        pong = await ws.ping(b"hi")
        await asyncio.wait_for(pong, 5)
    await until(lambda: handlers.all[0].closed != [])
    assert handlers.all[0].closed == ["client closed (1000)"]
    await until(lambda: gw.connections == 0)


async def test_ws_binary_frame_closes_1003(gateway: tuple[ChatGateway, Handlers]) -> None:
    gw, handlers = gateway
    async with connect(ws_url(gw), subprotocols=IRC) as ws:
        await ws.send(b"\x00\x01")
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 1003
    assert handlers.all[0].closed == ["binary frames are not supported"]


async def test_ws_oversized_line_closes_only_that_connection(
    gateway: tuple[ChatGateway, Handlers],
) -> None:
    gw, _handlers = gateway
    async with (
        connect(ws_url(gw), subprotocols=IRC) as big,
        connect(ws_url(gw), subprotocols=IRC) as small,
    ):
        await big.send("PRIVMSG #c :" + "x" * 2000 + "\r\n")
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(big.recv(), 5)
        assert big.close_code == 1008
        await small.send("ECHO still here\r\n")
        assert await asyncio.wait_for(small.recv(), 5) == "still here\r\n"


async def test_ws_message_too_big_closes_1009() -> None:
    handlers = Handlers()
    gw = ChatGateway(handlers, ws_max_message=4096)
    await gw.start()
    try:
        async with connect(ws_url(gw), subprotocols=IRC, max_size=None) as ws:
            await ws.send("PING\r\n" * 1000)
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            assert ws.close_code == 1009
    finally:
        await gw.close()


async def test_non_websocket_http_gets_400(gateway: tuple[ChatGateway, Handlers]) -> None:
    gw, handlers = gateway
    status = await http_status(gw.ws_port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 400")
    garbage = await http_status(gw.ws_port, b"\x16\x03\x01 not http at all\r\n\r\n")
    assert garbage.startswith(b"HTTP/1.1 400")
    assert handlers.all == []


async def test_wrong_path_gets_404(gateway: tuple[ChatGateway, Handlers]) -> None:
    gw, handlers = gateway
    with pytest.raises(InvalidStatus) as info:
        async with connect(ws_url(gw, "/chat"), subprotocols=IRC):
            pass
    assert info.value.response.status_code == 404
    async with connect(ws_url(gw, "/?client=tmi.js"), subprotocols=IRC) as ws:
        assert ws.subprotocol == "irc"  # a query string on / is fine
    assert len(handlers.all) == 1


async def test_handshake_timeout() -> None:
    handlers = Handlers()
    gw = ChatGateway(handlers, handshake_timeout=0.2)
    await gw.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.ws_port)
        writer.write(b"GET / HTTP/1.1\r\n")  # and then nothing
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        await until(lambda: gw.connections == 0)
    finally:
        await gw.close()


# -- TCP ----------------------------------------------------------------------------------


async def test_tcp_lines_and_send_lines(gateway: tuple[ChatGateway, Handlers]) -> None:
    gw, handlers = gateway
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.irc_port)
    writer.write(b"PASS oauth:x\r\nNI")
    await writer.drain()
    await asyncio.sleep(0.01)
    writer.write(b"CK bob\r\n\r\nJOIN #c\nPRIVMSG #c :caf\xc3\xa9 \xff\r\n")
    await until(lambda: len(handlers.all) == 1 and len(handlers.all[0].lines) == 4)
    rec = handlers.all[0]
    assert rec.lines == ["PASS oauth:x", "NICK bob", "JOIN #c", "PRIVMSG #c :café \ufffd"]
    assert rec.conn.transport_kind == "tcp"
    rec.conn.send_lines(b":tmi.twitch.tv 001 bob :Welcome\r\n")
    assert await asyncio.wait_for(reader.readline(), 5) == b":tmi.twitch.tv 001 bob :Welcome\r\n"
    writer.close()
    await until(lambda: rec.closed != [])
    assert rec.closed == ["client closed"]


async def test_tcp_oversized_line_closes_only_that_connection(
    gateway: tuple[ChatGateway, Handlers],
) -> None:
    gw, handlers = gateway
    r1, w1 = await asyncio.open_connection("127.0.0.1", gw.irc_port)
    r2, w2 = await asyncio.open_connection("127.0.0.1", gw.irc_port)
    w1.write(b"PRIVMSG #c :" + b"x" * 1100)  # no newline yet, already over 1024
    assert await asyncio.wait_for(r1.read(), 5) == b""
    w2.write(b"ECHO alive\r\n")
    assert await asyncio.wait_for(r2.readline(), 5) == b"alive\r\n"
    closed = [rec.closed for rec in handlers.all]
    assert ["line too long"] in closed and [] in closed
    w1.close()
    w2.close()


async def test_server_close_conn_tcp_flushes_first(gateway: tuple[ChatGateway, Handlers]) -> None:
    gw, handlers = gateway
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.irc_port)
    await until(lambda: len(handlers.all) == 1)
    conn = handlers.all[0].conn
    conn.send_lines(b"NOTICE * :bye\r\n" * 1000)
    conn.close("kicked")
    conn.close("twice")  # idempotent
    data = await asyncio.wait_for(reader.read(), 5)
    assert data == b"NOTICE * :bye\r\n" * 1000
    await until(lambda: handlers.all[0].closed != [])
    assert handlers.all[0].closed == ["kicked"]
    writer.close()


# -- gateway-wide -------------------------------------------------------------------------


async def test_close_with_reconnect_tells_every_client() -> None:
    handlers = Handlers()
    gw = ChatGateway(handlers)
    await gw.start()
    ws = await connect(ws_url(gw), subprotocols=IRC)
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.irc_port)
    await until(lambda: len(handlers.all) == 2)
    await gw.close(reconnect=True)
    assert await asyncio.wait_for(ws.recv(), 5) == ":tmi.twitch.tv RECONNECT\r\n"
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 5)
    assert ws.close_code == 1001
    assert await asyncio.wait_for(reader.read(), 5) == b":tmi.twitch.tv RECONNECT\r\n"
    assert [rec.closed for rec in handlers.all] == [["server shutting down"]] * 2
    assert gw.connections == 0
    writer.close()


async def test_max_connections() -> None:
    handlers = Handlers()
    gw = ChatGateway(handlers, max_connections=2)
    await gw.start()
    try:
        clients = [await asyncio.open_connection("127.0.0.1", gw.irc_port) for _ in range(3)]
        assert await asyncio.wait_for(clients[2][0].read(), 5) == b""
        assert gw.connections == 2 and gw.refused == 1
        for _, writer in clients:
            writer.close()
    finally:
        await gw.close()


async def test_reuse_port_lets_two_gateways_share_a_port() -> None:
    first = ChatGateway(Handlers(), reuse_port=True)
    await first.start()
    second = ChatGateway(Handlers(), ws_port=first.ws_port, irc_port=first.irc_port,
                         reuse_port=True)
    try:
        await second.start()
        assert (second.ws_port, second.irc_port) == (first.ws_port, first.irc_port)
    finally:
        await second.close()
        await first.close()


def privmsg(text: str) -> RoomEvent:
    msg = Message("PRIVMSG", ("#room", text), {"id": "1"}, "alice!alice@alice.tmi.twitch.tv")
    return RoomEvent(msg, Category.CHAT)


async def test_thousand_ws_connections_in_one_room() -> None:
    room = FanoutRoom("room")
    handlers = Handlers(on_open=room.add)
    gw = ChatGateway(handlers)
    await gw.start()
    clients: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]] = []
    try:
        gate = asyncio.Semaphore(200)

        async def one() -> None:
            async with gate:
                clients.append(await raw_ws(gw.ws_port))

        await asyncio.gather(*(one() for _ in range(1000)))
        await until(lambda: len(room) == 1000)
        room.deliver(privmsg("to everyone"))
        frames = await asyncio.wait_for(
            asyncio.gather(*(read_frame(reader) for reader, _, _ in clients)), 20)
        expected = b":alice!alice@alice.tmi.twitch.tv PRIVMSG #room :to everyone\r\n"  # no tags
        assert all(frame == (1, expected) for frame in frames)
        assert room.stats.writes == 1000
    finally:
        for _, writer, _ in clients:
            writer.close()
        await gw.close()
        await room.close()


async def test_slow_reader_disconnected_while_others_receive() -> None:
    room = FanoutRoom("room", max_buffered_bytes=1 << 30)  # the gateway's limit acts first
    handlers = Handlers(on_open=room.add)
    gw = ChatGateway(handlers, max_write_buffer=256 * 1024)
    await gw.start()
    try:
        _slow_reader, slow_writer, _ = await raw_ws(gw.ws_port, rcvbuf=4096)
        fast_reader, fast_writer, _ = await raw_ws(gw.ws_port)
        await until(lambda: len(room) == 2)
        slow, fast = handlers.all
        received = 0

        async def drain_fast() -> None:
            nonlocal received
            while True:
                opcode, payload = await read_frame(fast_reader)
                if opcode == 1:
                    received += payload.count(b"\r\n")

        drainer = asyncio.create_task(drain_fast())
        big = "x" * 60_000
        sent = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while not slow.closed:
            assert loop.time() < deadline, "the slow client was never disconnected"
            room.deliver(privmsg(big))
            sent += 1
            await asyncio.sleep(0.002)
        assert slow.closed == ["slow client"]
        assert fast.closed == []
        room.deliver(privmsg("after"))
        sent += 1
        await until(lambda: received == sent, timeout=15)
        drainer.cancel()
        slow_writer.close()
        fast_writer.close()
    finally:
        await gw.close()
        await room.close()


async def test_connection_is_a_subscriber_with_settable_caps(
    gateway: tuple[ChatGateway, Handlers],
) -> None:
    gw, handlers = gateway
    reader, writer, _ = await raw_ws(gw.ws_port)
    await until(lambda: len(handlers.all) == 1)
    conn = handlers.all[0].conn
    conn.caps = frozenset({CAP_TAGS})
    conn.user_id = "42"
    room = FanoutRoom("room")
    room.add(conn)
    room.deliver(privmsg("tagged"))
    assert await asyncio.wait_for(read_frame(reader), 5) == (
        1, b"@id=1 :alice!alice@alice.tmi.twitch.tv PRIVMSG #room :tagged\r\n")
    # A masked close from the raw client is answered and the socket closed.
    writer.write(masked_frame(0x8, struct.pack("!H", 1000)))
    assert await asyncio.wait_for(read_frame(reader), 5) == (8, struct.pack("!H", 1000))
    assert await asyncio.wait_for(reader.read(), 5) == b""
    await room.close()
    writer.close()


async def test_handler_error_closes_with_1011_and_on_close_once() -> None:
    class Broken(Recorder):
        def on_line(self, line: str) -> None:
            raise RuntimeError("session bug")

    made: list[Broken] = []

    def factory(conn: Connection) -> LineHandler:
        made.append(Broken(conn, None))
        return made[-1]

    gw = ChatGateway(factory)
    await gw.start()
    try:
        async with connect(ws_url(gw), subprotocols=IRC) as ws:
            await ws.send("NICK x\r\nNICK y\r\n")
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            assert ws.close_code == 1011
        await until(lambda: gw.connections == 0)
        assert made[0].closed == ["internal error"]
    finally:
        await gw.close()


async def test_factory_that_closes_gets_on_close() -> None:
    handlers = Handlers(on_open=lambda conn: conn.close("not welcome"))
    gw = ChatGateway(handlers)
    await gw.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.irc_port)
        assert await asyncio.wait_for(reader.read(), 5) == b""
        await until(lambda: handlers.all[0].closed != [])
        assert handlers.all[0].closed == ["not welcome"]
        writer.close()
    finally:
        await gw.close()


async def test_ws_close_waits_for_the_client_then_times_out() -> None:
    handlers = Handlers()
    gw = ChatGateway(handlers, close_timeout=0.2)
    await gw.start()
    try:
        reader, writer, _ = await raw_ws(gw.ws_port)
        await until(lambda: len(handlers.all) == 1)
        handlers.all[0].conn.close("bye")
        opcode, payload = await asyncio.wait_for(read_frame(reader), 5)
        assert (opcode, payload) == (8, struct.pack("!H", 1000) + b"bye")
        writer.write(masked_frame(0x1, b"PRIVMSG #c :too late\r\n"))  # ignored while closing
        # The client never answers the close frame: the server gives up after 0.2 s.
        assert await asyncio.wait_for(reader.read(), 5) == b""
        assert handlers.all[0].lines == [] and handlers.all[0].closed == ["bye"]
        writer.close()
    finally:
        await gw.close()
