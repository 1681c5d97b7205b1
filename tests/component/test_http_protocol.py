"""The node's HTTP protocol (uvicorn httptools + HeadCoalescingTransport) on real sockets:
a small response is one TCP data segment; streamed, empty, HEAD, large and keep-alive
responses stay intact; and the transport wrapper's holding rules on a recording transport."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Iterable

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from streamhub.delivery.http_protocol import HeadCoalescingTransport, HttpProtocol

BIG = bytes(range(256)) * 8192  # 2 MiB


def data_segments_received(sock: socket.socket) -> int:
    """tcpi_data_segs_in of a Linux TCP socket: data-carrying segments received so far."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    return int(struct.unpack_from("<I", info, 152)[0])


@pytest.fixture
async def server() -> AsyncIterator[tuple[int, asyncio.Event]]:
    release = asyncio.Event()

    async def small(request: Request) -> JSONResponse:
        return JSONResponse({"access_token": "t" * 30, "expires_in": 5000000})

    async def stream(request: Request) -> StreamingResponse:
        async def parts() -> AsyncIterator[bytes]:
            yield b"first;"
            await release.wait()  # the test lets the rest come once it saw the first part
            yield b"second"

        return StreamingResponse(parts(), media_type="text/plain")

    async def empty(request: Request) -> Response:
        return Response(status_code=204)

    async def big(request: Request) -> Response:
        return Response(BIG, media_type="application/octet-stream")

    app = Starlette(routes=[Route("/small", small, methods=["GET", "HEAD"]),
                            Route("/stream", stream), Route("/empty", empty), Route("/big", big)])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    srv = uvicorn.Server(uvicorn.Config(app, http=HttpProtocol, lifespan="off",
                                        log_level="warning"))
    task = asyncio.create_task(srv.serve(sockets=[sock]))
    async with asyncio.timeout(30):
        while not srv.started:
            await asyncio.sleep(0.01)
    yield sock.getsockname()[1], release
    srv.should_exit = True
    await task


async def read_response(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    status, *lines = head.split("\r\n")[:-2]
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n"))[:-2], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    else:
        body = b""
    return status, headers, body


async def test_small_responses_are_one_segment_each_on_keep_alive(
    server: tuple[int, asyncio.Event],
) -> None:
    port, _ = server
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sock = writer.get_extra_info("socket")
    try:
        for n in range(1, 4):
            writer.write(b"GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
            status, headers, body = await read_response(reader)
            assert status == "HTTP/1.1 200 OK" and body.startswith(b'{"access_token":"ttt')
            assert data_segments_received(sock) == n  # head and body together, every time
        writer.write(b"HEAD /small HTTP/1.1\r\nHost: x\r\n\r\n")  # a head with no body write
        status, headers, _ = await read_response_head_only(reader)
        assert status == "HTTP/1.1 200 OK" and int(headers["content-length"]) > 0
        writer.write(b"GET /empty HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body = await read_response(reader)
        assert status == "HTTP/1.1 204 No Content" and body == b""
        writer.write(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body = await read_response(reader)
        assert status == "HTTP/1.1 200 OK" and body == BIG
    finally:
        writer.close()


async def read_response_head_only(
    reader: asyncio.StreamReader,
) -> tuple[str, dict[str, str], bytes]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    status, *lines = head.split("\r\n")[:-2]
    return status, {k.lower(): v.strip() for k, v in (x.split(":", 1) for x in lines)}, b""


async def test_streamed_response_head_is_not_held_back(server: tuple[int, asyncio.Event]) -> None:
    port, release = server
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        async with asyncio.timeout(20):  # the head and first part come before the rest exists
            head = await reader.readuntil(b"\r\n\r\n")
            first = await reader.readuntil(b"first;\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK") and b"transfer-encoding: chunked" in head
        assert first.endswith(b"first;\r\n")
        release.set()
        async with asyncio.timeout(20):
            rest = await reader.readuntil(b"0\r\n\r\n")
        assert b"second" in rest
    finally:
        writer.close()


class Recorder(asyncio.Transport):
    """What the wrapped transport was asked to do."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, bytes]] = []
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.calls.append(("write", bytes(data)))

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        self.calls.append(("writelines", b"|".join(bytes(d) for d in list_of_data)))

    def close(self) -> None:
        self.calls.append(("close", b""))
        self.closing = True

    def abort(self) -> None:
        self.calls.append(("abort", b""))
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0


async def test_transport_holds_only_a_head_and_only_until_the_next_write_or_turn() -> None:
    inner = Recorder()
    t = HeadCoalescingTransport(inner)
    t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    assert inner.calls == [] and t.get_write_buffer_size() > 0
    t.write(b"hi")
    assert inner.calls == [("writelines", b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n|hi")]
    t.write(b"not a head")  # passes straight through
    assert inner.calls[-1] == ("write", b"not a head")
    t.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # alone: sent on the next loop turn
    await asyncio.sleep(0)
    assert inner.calls[-1] == ("write", b"HTTP/1.1 100 Continue\r\n\r\n")
    t.write(b"HTTP/1.1 204 No Content\r\n\r\n")
    t.close()  # a held head goes out before the close
    assert inner.calls[-2:] == [("write", b"HTTP/1.1 204 No Content\r\n\r\n"), ("close", b"")]
    await asyncio.sleep(0)  # the scheduled release finds nothing left to send
    assert [c for c, _ in inner.calls].count("write") == 3

    aborted = Recorder()
    t = HeadCoalescingTransport(aborted)
    t.write(b"HTTP/1.1 200 OK\r\n\r\n")
    t.abort()  # dropped, as abort drops buffered data
    await asyncio.sleep(0)
    assert aborted.calls == [("abort", b"")]
