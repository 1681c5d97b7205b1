"""Closed-loop HTTP/1.1 load generator: N keep-alive connections, each sends the next request
as soon as the previous response is complete. Prints one JSON line with the results.

    python bench/api/loadgen.py --port 8080 --connections 1000 --seconds 20 --warmup 3 \
        --requests requests.json

`requests.json` is a list of [path, {header: value}] pairs; connection i cycles through them
starting at i. Latency is measured per request from write to the last body byte.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any


class Conn(asyncio.Protocol):
    def __init__(self, gen: Gen, index: int) -> None:
        self.gen = gen
        self.index = index
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.sent_at = 0.0
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.send()

    def send(self) -> None:
        if self.gen.stopping or self.transport is None:
            if self.transport is not None:
                self.transport.close()
            return
        req = self.gen.requests[self.index % len(self.gen.requests)]
        self.index += 1
        self.sent_at = time.perf_counter()
        self.transport.write(req)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            head_end = self.buf.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = bytes(self.buf[:head_end]).decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            total = head_end + 4 + length
            if len(self.buf) < total:
                return
            status = int(head[9:12])
            del self.buf[:total]
            self.gen.record(status, time.perf_counter() - self.sent_at)
            self.send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.gen.stopping:
            self.gen.dropped += 1
        if not self.closed.done():
            self.closed.set_result(None)


class Gen:
    def __init__(self, requests: list[bytes], warmup_until: float) -> None:
        self.requests = requests
        self.warmup_until = warmup_until
        self.stopping = False
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.dropped = 0

    def record(self, status: int, latency: float) -> None:
        if time.perf_counter() < self.warmup_until:
            return
        self.latencies.append(latency)
        self.statuses[status] = self.statuses.get(status, 0) + 1


def build_requests(host: str, port: int, items: list[Any]) -> list[bytes]:
    out = []
    for path, headers in items:
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        out.append(("\r\n".join(lines) + "\r\n\r\n").encode())
    return out


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, int(q * len(values)))]


async def main(args: argparse.Namespace) -> dict[str, Any]:
    items = json.loads(Path(args.requests).read_text())
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    gen = Gen(build_requests(args.host, args.port, items), start + args.warmup)
    conns: list[Conn] = []
    for i in range(args.connections):
        _, proto = await loop.create_connection(lambda i=i: Conn(gen, i), args.host, args.port)
        conns.append(proto)
    measured_from = max(time.perf_counter(), gen.warmup_until)
    await asyncio.sleep(max(0.0, measured_from - time.perf_counter()) + args.seconds)
    gen.stopping = True
    elapsed = time.perf_counter() - measured_from
    await asyncio.wait([c.closed for c in conns], timeout=30)
    lat = sorted(gen.latencies)
    return {
        "event": "result", "connections": args.connections, "seconds": round(elapsed, 2),
        "requests": len(lat), "rps": round(len(lat) / elapsed, 1),
        "statuses": {str(k): v for k, v in sorted(gen.statuses.items())},
        "dropped": gen.dropped,
        "p50_ms": round((pct(lat, 0.50) or 0) * 1000, 2),
        "p90_ms": round((pct(lat, 0.90) or 0) * 1000, 2),
        "p99_ms": round((pct(lat, 0.99) or 0) * 1000, 2),
        "max_ms": round((lat[-1] if lat else 0) * 1000, 2),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--requests", required=True)
    ns = parser.parse_args()
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(main(ns))), flush=True)
    sys.exit(0)
