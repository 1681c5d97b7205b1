"""Load-generator worker: thousands of raw uvloop chat readers in one process.

Run by run.py as `loadgen.py '<json config>'`. Prints JSON lines on stdout and obeys
commands on stdin:

  -> {"event": "connected", ...}   once every connection is joined, failed or timed out
  <- start                          reset the counters (a measurement phase begins)
  <- stop                           -> {"event": "phase", deliveries, latencies_us, ...}
  <- quit                           close everything and exit

Readers are either TMI (IRC over WebSocket or TCP, anonymous `justinfan` logins; a
delivery is one ` PRIVMSG #` in the received bytes) or Socket.IO (Engine.IO v4 over a
raw WebSocket; a delivery is one `42["chat"` packet). Most connections only count
occurrences in the raw bytes; `samplers` of them also parse the send stamp `bt=<ns>`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import re
import socket
import sys
import time
from collections import Counter
from typing import Any

import uvloop
from common import (
    IP_BIND_ADDRESS_NO_PORT,
    STAMP,
    raise_nofile,
    ws_client_frame,
    ws_request,
)

STAMP_RE = re.compile(re.escape(STAMP) + rb"(\d{16,20})")
TMI_DELIVERY = b" PRIVMSG #"
SIO_DELIVERY = b'42["chat"'
SIO_PING = b"\x81\x012"  # an unmasked one-byte text frame holding Engine.IO ping "2"
SIO_PONG = ws_client_frame(b"3")
TMI_JOINED = b" 366 "
SIO_JOINED = b'["joined"'


class Stats:
    def __init__(self) -> None:
        self.deliveries = 0
        self.bytes = 0
        self.reads = 0
        self.latencies: list[int] = []  # microseconds
        self.closed = 0
        self.pings = 0


STATS = Stats()


class Reader(asyncio.Protocol):
    """One chat connection; state 0 = WebSocket handshake, 1 = joining, 2 = counting."""

    __slots__ = (
        "_buf",
        "_pattern",
        "_tail",
        "_tl",
        "joined",
        "kind",
        "login",
        "sampler",
        "state",
        "transport",
        "ws",
    )

    def __init__(
        self, kind: str, ws: bool, login: bytes, sampler: bool, joined: asyncio.Future[None]
    ) -> None:
        self.kind = kind  # "tmi" or "sio"
        self.ws = ws
        self.login = login  # the bytes to send once the transport is open
        self.sampler = sampler
        self.joined: asyncio.Future[None] | None = joined
        self.state = 0 if ws else 1
        self.transport: asyncio.Transport | None = None
        self._pattern = TMI_DELIVERY if kind == "tmi" else SIO_DELIVERY
        self._tl = len(self._pattern) - 1
        self._tail = b""
        self._buf = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self.state == 1:
            self.transport.write(self.login)  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.state == 2:
            STATS.closed += 1
        if self.joined is not None and not self.joined.done():
            self.joined.set_exception(ConnectionError(f"closed while joining: {exc!r}"))

    def data_received(self, data: bytes) -> None:
        if self.state == 2:
            pattern = self._pattern
            n = data.count(pattern)
            if self._tail:
                n += (self._tail + data[: self._tl]).count(pattern)
            self._tail = data[-self._tl :]
            STATS.deliveries += n
            STATS.bytes += len(data)
            STATS.reads += 1
            if self.sampler:
                self._sample(data)
            if self.kind == "sio":
                if SIO_PING in data:
                    self._sio_pings(data.count(SIO_PING))
            elif b"PING :" in data and self.transport is not None:
                self._tmi_pong()
            return
        self._buf += data
        if self.state == 0:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > 8192:
                    self._fail("oversized handshake response")
                return
            if not self._buf.startswith(b"HTTP/1.1 101"):
                self._fail(f"handshake refused: {self._buf[:40]!r}")
                return
            self._buf = self._buf[end + 4 :]
            self.state = 1
            assert self.transport is not None
            self.transport.write(self.login)
        if self.state == 1:
            marker = TMI_JOINED if self.kind == "tmi" else SIO_JOINED
            if marker in self._buf:
                if self.kind == "sio" and SIO_PING in self._buf:
                    self._sio_pings(self._buf.count(SIO_PING))
                self._buf = b""
                self.state = 2
                if self.joined is not None and not self.joined.done():
                    self.joined.set_result(None)
                self.joined = None
            elif len(self._buf) > 65536:
                self._buf = self._buf[-1024:]

    def _fail(self, why: str) -> None:
        if self.joined is not None and not self.joined.done():
            self.joined.set_exception(ConnectionError(why))
        if self.transport is not None:
            self.transport.abort()

    def _sample(self, data: bytes) -> None:
        buf = self._buf + data
        cut = buf.rfind(b"\n" if self.kind == "tmi" else b"]")
        if cut < 0:
            self._buf = buf[-4096:]
            return
        self._buf = buf[cut + 1 :]
        now_us = time.time_ns() // 1000
        for m in STAMP_RE.finditer(buf, 0, cut):
            STATS.latencies.append(now_us - int(m.group(1)) // 1000)

    def _sio_pings(self, n: int) -> None:
        STATS.pings += n
        if self.transport is not None:
            self.transport.write(SIO_PONG * n)

    def _tmi_pong(self) -> None:
        assert self.transport is not None
        line = b"PONG :tmi.twitch.tv\r\n"
        self.transport.write(ws_client_frame(line) if self.ws else line)


def login_bytes(cfg: dict[str, Any], index: int) -> bytes:
    if cfg["mode"] == "sio":
        return ws_client_frame(b"40") + ws_client_frame(
            b"42" + json.dumps(["join", cfg["room"]]).encode()
        )
    lines = ""
    if cfg.get("caps"):
        lines += f"CAP REQ :{cfg['caps']}\r\n"
    lines += f"NICK justinfan{cfg['seed'] * 1_000_000 + index}\r\nJOIN #{cfg['channel']}\r\n"
    data = lines.encode()
    return ws_client_frame(data) if cfg["transport"] == "ws" else data


async def open_one(
    cfg: dict[str, Any],
    index: int,
    gidx: int,
    sem: asyncio.Semaphore,
    held: list[Reader],
    errors: Counter[str],
) -> None:
    loop = asyncio.get_running_loop()
    targets, sources = cfg["targets"], cfg["sources"]
    host, port = targets[gidx % len(targets)]
    src = sources[(gidx // len(targets)) % len(sources)]
    ws = cfg["mode"] == "sio" or cfg["transport"] == "ws"
    # spread over the connections (join times, fan-out order), as creader.c does
    sampler = (index * cfg["samplers"]) % cfg["count"] < cfg["samplers"]
    async with sem:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((src, 0))
            async with asyncio.timeout(cfg["connect_timeout"]):
                await loop.sock_connect(sock, (host, port))
                joined: asyncio.Future[None] = loop.create_future()
                if cfg["mode"] == "sio":
                    path = "/socket.io/?EIO=4&transport=websocket"
                    proto = Reader("sio", True, login_bytes(cfg, gidx), sampler, joined)
                else:
                    path = "/"
                    proto = Reader("tmi", ws, login_bytes(cfg, gidx), sampler, joined)
                transport, _ = await loop.create_connection(lambda: proto, sock=sock)
                if ws:
                    transport.write(
                        ws_request(host, port, path, "irc" if cfg["mode"] == "tmi" else None)
                    )
                await joined
            held.append(proto)
        except TimeoutError:
            errors["timeout"] += 1
            sock.close()
        except OSError as exc:
            errors[errno.errorcode.get(exc.errno or 0, type(exc).__name__)] += 1
            sock.close()
        except ConnectionError as exc:
            errors[str(exc)[:60]] += 1
            sock.close()


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


async def main(cfg: dict[str, Any]) -> None:
    nofile = raise_nofile()
    loop = asyncio.get_running_loop()
    sem = asyncio.Semaphore(cfg["inflight"])
    held: list[Reader] = []
    errors: Counter[str] = Counter()
    started = time.monotonic()
    first = cfg["first_index"]
    tasks = [
        loop.create_task(open_one(cfg, i, first + i, sem, held, errors))
        for i in range(cfg["count"])
    ]
    deadline = cfg["connect_deadline"]
    _, pending = await asyncio.wait(tasks, timeout=deadline)
    for t in pending:
        t.cancel()
    if pending:
        await asyncio.wait(pending, timeout=5)
        errors["connect deadline"] += len(pending)
    emit(
        {
            "event": "connected",
            "attempted": cfg["count"],
            "joined": len(held),
            "errors": dict(errors),
            "seconds": round(time.monotonic() - started, 2),
            "nofile": nofile,
        }
    )

    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    phase_start = time.monotonic()
    while True:
        line = (await reader.readline()).decode().strip()
        if line in ("", "quit"):
            break
        if line == "start":
            STATS.deliveries = STATS.bytes = STATS.closed = STATS.reads = 0
            STATS.latencies = []
            phase_start = time.monotonic()
        elif line == "stop":
            alive = sum(1 for r in held if r.transport is not None and r.state == 2)
            emit(
                {
                    "event": "phase",
                    "deliveries": STATS.deliveries,
                    "bytes": STATS.bytes,
                    "reads": STATS.reads,
                    "closed": STATS.closed,
                    "alive": alive,
                    "pings": STATS.pings,
                    "seconds": round(time.monotonic() - phase_start, 3),
                    "latencies_us": STATS.latencies,
                }
            )
        elif line == "status":
            alive = sum(1 for r in held if r.transport is not None and r.state == 2)
            emit({"event": "status", "alive": alive, "deliveries": STATS.deliveries})
    for r in held:
        if r.transport is not None:
            with contextlib.suppress(Exception):
                r.transport.abort()
    await asyncio.sleep(0.1)


if __name__ == "__main__":
    uvloop.run(main(json.loads(sys.argv[1])))
