"""Writer process: publishes chat messages at a set rate, each stamped `bt=<time_ns>`.

Run by run.py as `writer.py '<json config>'`; JSON lines on stdout, commands on stdin:

  -> {"event": "ready", ...}        every writer connection is logged in and joined
  <- run <rate> <seconds> [<n>]     -> {"event": "done", sent, accepted, ...}
                                    (n: send from the first n writers only)
  <- quit

TMI mode: several accounts (broadcaster + moderators, 100 messages per 30 s each),
spread across the nodes, send in turn; a message is accepted when its USERSTATE (with
the message id) comes back. Socket.IO mode: one client emits `chat` events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
import uuid
from collections import Counter, deque
from typing import Any

import uvloop
from common import STAMP, raise_nofile, ws_client_frame, ws_request


class WsStream:
    """A minimal client WebSocket over asyncio streams (unmasked server frames in)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int, path: str, subprotocol: str | None) -> WsStream:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(ws_request(host, port, path, subprotocol))
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(f"handshake refused: {head[:60]!r}")
        return cls(reader, writer)

    def send(self, payload: bytes) -> None:
        self.writer.write(ws_client_frame(payload))

    async def recv(self) -> tuple[int, bytes]:
        b0, b1 = await self.reader.readexactly(2)
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(await self.reader.readexactly(2), "big")
        elif n == 127:
            n = int.from_bytes(await self.reader.readexactly(8), "big")
        payload = await self.reader.readexactly(n)
        opcode = b0 & 0x0F
        if opcode == 0x9:
            self.writer.write(ws_client_frame(payload, 0xA))
        return opcode, payload


class TmiWriter:
    """One logged-in account on one node; counts acks (USERSTATE with id) and refusals."""

    def __init__(self, stats: Counter[str], notices: list[str], acks: list[float]) -> None:
        self.stats = stats
        self.notices = notices
        self.acks = acks  # seconds from sending a PRIVMSG to its USERSTATE / NOTICE
        self.inflight: deque[float] = deque()
        self.joined = asyncio.Event()
        self.ws: WsStream | None = None
        self.tcp: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def open(self, cfg: dict[str, Any], host: str, port: int, login: str, token: str) -> None:
        if cfg["transport"] == "ws":
            self.ws = await WsStream.open(host, port, "/", "irc")
        else:
            self.tcp = await asyncio.open_connection(host, port)
        asyncio.get_running_loop().create_task(self._read())
        self.send_lines(
            f"CAP REQ :twitch.tv/tags twitch.tv/commands\r\nPASS oauth:{token}\r\n"
            f"NICK {login}\r\nJOIN #{cfg['channel']}\r\n"
        )
        await asyncio.wait_for(self.joined.wait(), 30)

    def send_privmsg(self, channel: str, text: str) -> None:
        self.inflight.append(time.monotonic())
        self.send_lines(f"PRIVMSG #{channel} :{text}\r\n")

    def _answered(self) -> None:
        if self.inflight:
            self.acks.append(time.monotonic() - self.inflight.popleft())

    def send_lines(self, text: str) -> None:
        data = text.encode()
        if self.ws is not None:
            self.ws.send(data)
        else:
            assert self.tcp is not None
            self.tcp[1].write(data)

    async def _read(self) -> None:
        buf = b""
        with contextlib.suppress(Exception):
            while True:
                if self.ws is not None:
                    opcode, chunk = await self.ws.recv()
                    if opcode == 0x8:
                        break
                else:
                    assert self.tcp is not None
                    chunk = await self.tcp[0].read(65536)
                    if not chunk:
                        break
                buf += chunk
                *lines, buf = buf.split(b"\r\n")
                for line in lines:
                    self._line(line.decode("utf-8", "replace"))
        self.stats["writer connections lost"] += 1

    def _line(self, line: str) -> None:
        if " ROOMSTATE " in line:
            self.joined.set()
        elif " USERSTATE " in line and (";id=" in line or line.startswith("@id=")):
            self.stats["accepted"] += 1
            self._answered()
        elif " NOTICE " in line:
            self._answered()
            if "msg-id=msg_ratelimit" in line:
                self.stats["ratelimited"] += 1
            else:
                self.stats["refused"] += 1
                if len(self.notices) < 10:
                    self.notices.append(line[-200:])
        elif line.startswith("PING"):
            self.send_lines("PONG :tmi.twitch.tv\r\n")


class SioWriter:
    """One Socket.IO client that emits `chat` events."""

    def __init__(self, stats: Counter[str]) -> None:
        self.stats = stats
        self.ws: WsStream | None = None

    async def open(self, host: str, port: int, room: str) -> None:
        self.ws = await WsStream.open(host, port, "/socket.io/?EIO=4&transport=websocket", None)
        self.ws.send(b"40")
        self.ws.send(b"42" + json.dumps(["join", room]).encode())
        joined = asyncio.Event()
        asyncio.get_running_loop().create_task(self._read(joined))
        await asyncio.wait_for(joined.wait(), 30)

    async def _read(self, joined: asyncio.Event) -> None:
        assert self.ws is not None
        with contextlib.suppress(Exception):
            while True:
                opcode, payload = await self.ws.recv()
                if opcode == 0x8:
                    break
                if payload == b"2":
                    self.ws.send(b"3")
                elif payload.startswith(b'42["joined"'):
                    joined.set()
        self.stats["writer connections lost"] += 1

    def send_text(self, text: str, seq: int) -> None:
        assert self.ws is not None
        message = {
            "id": str(uuid.uuid4()),
            "user": "caster",
            "display": "Caster",
            "color": "#FF0000",
            "badges": "broadcaster/1",
            "text": text,
        }
        self.ws.send(b"42" + json.dumps(["chat", message], separators=(",", ":")).encode())


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def run_phase(
    cfg: dict[str, Any],
    writers: list[Any],
    stats: Counter[str],
    acks: list[float],
    rate: float,
    seconds: float,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    stats.clear()
    acks.clear()
    total = int(rate * seconds)
    t0 = loop.time() + 0.05
    max_lag = 0.0
    channel = cfg.get("channel", "")
    for seq in range(total):
        due = t0 + seq / rate
        now = loop.time()
        if due > now:
            await asyncio.sleep(due - now)
        else:
            max_lag = max(max_lag, now - due)
        text = f"{STAMP.decode()}{time.time_ns()} s={seq} hello chat"
        w = writers[seq % len(writers)]
        if cfg["mode"] == "sio":
            w.send_text(text, seq)
        else:
            w.send_privmsg(channel, text)
        stats["sent"] += 1
    elapsed = loop.time() - t0
    if cfg["mode"] == "tmi":  # wait for the last acks
        deadline = loop.time() + 10
        while stats["accepted"] + stats["ratelimited"] + stats["refused"] < total:
            if loop.time() > deadline:
                break
            await asyncio.sleep(0.05)
    else:
        stats["accepted"] = stats["sent"]
    return {
        "event": "done",
        "sent": stats["sent"],
        "accepted": stats["accepted"],
        "ratelimited": stats["ratelimited"],
        "refused": stats["refused"],
        "lost_writers": stats["writer connections lost"],
        "send_seconds": round(elapsed, 3),
        "max_send_lag_s": round(max_lag, 3),
        "writers": len(writers),
        "ack_p50_s": _pct(acks, 50),
        "ack_p99_s": _pct(acks, 99),
        "ack_max_s": _pct(acks, 100),
    }


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return round(s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))], 3)


async def main(cfg: dict[str, Any]) -> None:
    raise_nofile()
    loop = asyncio.get_running_loop()
    stats: Counter[str] = Counter()
    notices: list[str] = []
    acks: list[float] = []
    writers: list[Any] = []
    targets = cfg["targets"]
    if cfg["mode"] == "sio":
        w = SioWriter(stats)
        await w.open(targets[0][0], targets[0][1], cfg["room"])
        writers.append(w)
    else:
        for j, (login, token) in enumerate(cfg["accounts"]):
            host, port = targets[j % len(targets)]
            tw = TmiWriter(stats, notices, acks)
            await tw.open(cfg, host, port, login, token)
            writers.append(tw)
    emit({"event": "ready", "writers": len(writers)})
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().split()
        if not line or line[0] == "quit":
            break
        if line[0] == "run":
            use = writers[: int(line[3])] if len(line) > 3 and int(line[3]) > 0 else writers
            result = await run_phase(cfg, use, stats, acks, float(line[1]), float(line[2]))
            result["notices"] = notices[:]
            notices.clear()
            emit(result)


if __name__ == "__main__":
    uvloop.run(main(json.loads(sys.argv[1])))
