"""Chat fan-out benchmark: N StreamHub chat nodes, many reader connections, one writer.

    .venv/bin/python bench/chat/run.py --nodes 2 --connections 10000 --rate 100 --seconds 30
    .venv/bin/python bench/chat/run.py --nodes 1 --connections 10000 --rate 10,100 --baseline

Starts N `streamhub up` nodes (N > 1: a private redis-server and one shared SQLite file),
the broadcaster plus moderator writer accounts, one writer process and several
load-generator processes holding raw connections spread across the nodes and across
source addresses 127.0.0.2.. : `creader` (creader.c, compiled on demand into build/) or
loadgen.py (uvloop), chosen by `--reader`. One phase per `--rate` value runs on the same
connections. `--baseline` runs the same load against a python-socketio
broadcast server per node (sio_server.py; AsyncRedisManager when N > 1) instead.

Reports per phase: connections attempted / joined / alive, node RSS per connection,
deliveries per second (and against rate x connections), p50/p90/p99 delivery latency
from the sampler connections (send stamp `time.time_ns()` in the text), lost deliveries,
and the CPU of the nodes, of Redis and of the load generator (from /proc). Every process
is stopped by its pid in `finally`; all waits are bounded.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import (
    CpuMark,
    JsonLineProcess,
    free_port,
    nofile_hard,
    percentile,
    raise_nofile,
    rss_bytes,
    slab_kb,
    stop_process,
    wait_for,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PY = sys.executable
CHANNEL = "benchcaster"
ROOM = "room"
PRIVMSG_LIMIT = 100  # elevated (broadcaster/moderator) PRIVMSGs per 30 s per account
CC = "gcc"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nodes", type=int, default=1, help="chat node processes (default 1)")
    p.add_argument("--connections", type=int, default=1000, help="reader connections")
    p.add_argument(
        "--rate",
        default="100",
        help="messages/s; a comma list runs one phase per rate (default 100)",
    )
    p.add_argument("--seconds", type=float, default=30.0, help="send time per phase")
    p.add_argument(
        "--baseline",
        action="store_true",
        help="python-socketio broadcast servers instead of StreamHub nodes",
    )
    p.add_argument("--json", type=Path, help="write every figure to this file")
    p.add_argument(
        "--transport",
        choices=("ws", "tcp"),
        default="ws",
        help="StreamHub readers: IRC over WebSocket (default) or plain TCP",
    )
    p.add_argument(
        "--caps",
        default="twitch.tv/tags twitch.tv/commands",
        help="CAP REQ of the readers ('' for none), as Twitch's web chat asks",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="load-generator processes (default: max(2, connections/15000))",
    )
    p.add_argument(
        "--sources",
        type=int,
        default=0,
        help="source addresses 127.0.0.2.. (default: max(2, connections/10000))",
    )
    p.add_argument("--samplers", type=int, default=100,
                   help="latency-sampling connections, spread over each load process's")
    p.add_argument(
        "--inflight", type=int, default=100, help="connects in flight per load-generator process"
    )
    p.add_argument(
        "--connect-timeout",
        type=float,
        default=0.0,
        help="deadline for all connections (default 60 + connections/500 s)",
    )
    p.add_argument(
        "--drain",
        type=float,
        default=3.0,
        help="seconds to wait for late deliveries after each phase",
    )
    p.add_argument(
        "--writers",
        default="",
        help="writer accounts per phase, a comma list like --rate (default: enough for "
        "the rate at 80%% of 100 msgs/30 s each)",
    )
    p.add_argument(
        "--reader",
        choices=("c", "python"),
        default=None,
        help="load-generator readers: creader.c (default when gcc is available) or "
        "loadgen.py; --baseline always uses loadgen.py",
    )
    p.add_argument("--write-budget", type=float, default=None,
                   help="STREAMHUB_CHAT_WRITE_BUDGET of every node (socket writes/s; default: "
                        "the node's own default)")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    args = p.parse_args(argv)
    args.rates = [float(r) for r in str(args.rate).split(",") if r]
    auto = [max(1, math.ceil(r * 30 / (0.8 * PRIVMSG_LIMIT))) for r in args.rates]
    given = [int(w) for w in str(args.writers).split(",") if w]
    args.phase_writers = [given[i] if i < len(given) else auto[i] for i in range(len(auto))]
    if args.nodes < 1 or args.connections < 1 or not args.rates:
        p.error("need at least one node, one connection and one rate")
    args.workers = args.workers or max(2, math.ceil(args.connections / 15000))
    args.sources = args.sources or max(2, math.ceil(args.connections / 10000))
    if args.sources > 250:
        p.error("at most 250 source addresses")
    args.connect_timeout = args.connect_timeout or 60 + args.connections / 500
    if args.baseline:
        if args.reader == "c":
            print("note: --baseline (socket.io) uses loadgen.py readers", flush=True)
        args.reader = "python"
    elif args.reader is None:
        args.reader = "c" if shutil.which(CC) else "python"
        if args.reader == "python":
            print(f"note: no {CC} found, using the Python readers (loadgen.py)", flush=True)
    return args


def build_creader() -> Path:
    """Compile creader.c into build/ when the binary is missing or older than the source."""
    src = HERE / "creader.c"
    out = HERE / "build" / "creader"
    if out.exists() and out.stat().st_mtime >= src.stat().st_mtime:
        return out
    out.parent.mkdir(exist_ok=True)
    tmp = out.with_name(f"creader.{os.getpid()}.tmp")
    res = subprocess.run(
        [CC, "-O2", "-Wall", "-Wextra", "-o", str(tmp), str(src)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if res.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"compiling {src.name} failed:\n{res.stderr[-3000:]}")
    tmp.replace(out)  # atomic: a concurrent run never sees a half-written binary
    print(f"compiled {out.relative_to(REPO)}", flush=True)
    return out


class Redis:
    """A private redis-server on a free port (no persistence), stopped by pid."""

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(root),
                "--maxclients",
                "1000",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._ping, timeout=15, what="redis-server")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _ping(self) -> bool:
        import socket

        with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")

    def stop(self) -> None:
        stop_process(self.proc, grace=5)


class Server:
    """One chat server process (a StreamHub node or a Socket.IO baseline server)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.proc = JsonLineProcess(name, argv, env=env, log_path=str(log))
        self.log = log
        self.env = env
        ready = self.proc.wait_event("ready", 120)
        self.port = int(ready.get("chat_ws_port") or ready.get("port") or 0)
        self.irc_port = int(ready.get("chat_irc_port") or 0)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        stop_process(self.proc.proc, grace=20)
        self.proc.stop(grace=1)

    def log_summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        with contextlib.suppress(OSError):
            for line in self.log.read_text(errors="replace").splitlines():
                for level in ("WARNING", "ERROR", "Traceback", "slow client"):
                    if level in line:
                        counts[level] = counts.get(level, 0) + 1
        return counts


def node_env(root: Path, i: int, redis: Redis | None,
             write_budget: float | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMHUB_")}
    env.update(
        {
            "STREAMHUB_DATA_DIR": str(root / f"node{i}"),
            "STREAMHUB_HOST": "127.0.0.1",
            "STREAMHUB_HTTP_PORT": "0",
            "STREAMHUB_RTMP_PORT": "0",
            "STREAMHUB_CHAT_WS_PORT": "0",
            "STREAMHUB_CHAT_IRC_PORT": "0",
            "STREAMHUB_DEMO_USER": "",
            "STREAMHUB_CHAT_AUTH_LIMIT": "1000000",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if write_budget is not None:
        env["STREAMHUB_CHAT_WRITE_BUDGET"] = str(write_budget)
    if redis is not None:
        env["STREAMHUB_REDIS_URL"] = redis.url
        env["STREAMHUB_DATABASE_URL"] = f"sqlite+aiosqlite:///{root / 'shared.db'}"
    (root / f"node{i}").mkdir(parents=True, exist_ok=True)
    return env


def start_streamhub(root: Path, n: int, redis: Redis | None,
                    write_budget: float | None = None) -> list[Server]:
    servers: list[Server] = []
    for i in range(n):  # one by one: migrations of a shared SQLite file do not overlap
        env = node_env(root, i, redis, write_budget)
        servers.append(
            Server(f"node{i}", [PY, "-m", "streamhub.cli", "up"], env, root / f"node{i}.log")
        )
    return servers


def start_socketio(root: Path, n: int, redis: Redis | None) -> list[Server]:
    servers: list[Server] = []
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    for i in range(n):
        argv = [PY, str(HERE / "sio_server.py"), str(free_port())]
        if redis is not None:
            argv.append(redis.url)
        servers.append(Server(f"sio{i}", argv, env, root / f"sio{i}.log"))
    return servers


def make_accounts(env: dict[str, str], writers: int) -> list[list[str]]:
    res = subprocess.run(
        [PY, str(HERE / "accounts.py"), CHANNEL, str(writers)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if res.returncode != 0:
        raise RuntimeError(f"accounts.py failed: {res.stderr[-2000:]}")
    return list(json.loads(res.stdout)["accounts"])


def rss_of(servers: list[Server]) -> list[int]:
    return [rss_bytes(s.pid) for s in servers]


def summarize_phase(
    rate: float,
    seconds: float,
    done: dict[str, Any],
    alive_before: int,
    phases: list[dict[str, Any]],
    cpu: dict[str, Any],
) -> dict[str, Any]:
    deliveries = sum(p["deliveries"] for p in phases)
    lat = sorted(x / 1000 for p in phases for x in p["latencies_us"])  # ms
    accepted = int(done["accepted"])
    # every message not refused counts, acknowledged in time or not
    expected = (int(done["sent"]) - int(done["ratelimited"]) - int(done["refused"])) * alive_before
    send_s = max(float(done["send_seconds"]), 1e-9)
    out = {
        "rate": rate,
        "seconds": seconds,
        "sent": done["sent"],
        "accepted": accepted,
        "ratelimited": done["ratelimited"],
        "refused": done["refused"],
        "writer_notices": done.get("notices", []),
        "writers": done.get("writers"),
        "ack_p50_s": done.get("ack_p50_s"),
        "ack_p99_s": done.get("ack_p99_s"),
        "ack_max_s": done.get("ack_max_s"),
        "reads_per_s": round(sum(p.get("reads", 0) for p in phases) / send_s),
        "deliveries_per_read": round(
            deliveries / max(1, sum(p.get("reads", 0) for p in phases)), 2
        ),
        "max_send_lag_s": done["max_send_lag_s"],
        "send_seconds": done["send_seconds"],
        "connections_alive_before": alive_before,
        "connections_alive_after": sum(p["alive"] for p in phases),
        "closed_during_phase": sum(p["closed"] for p in phases),
        "deliveries": deliveries,
        "expected": expected,
        "lost": max(0, expected - deliveries),
        "lost_pct": round(100 * max(0, expected - deliveries) / expected, 3) if expected else None,
        "deliveries_per_s": round(deliveries / send_s),
        "target_deliveries_per_s": round(rate * alive_before),
        "bytes_per_delivery": round(sum(p["bytes"] for p in phases) / deliveries, 1)
        if deliveries
        else None,
        # reader processes' CPU over the send window, per delivery counted
        "reader_cpu_us_per_delivery": round(
            cpu["cpu_readers"] * cpu["cpu_window_s"] * 1e6 / deliveries, 3
        )
        if deliveries
        else None,
        "latency_samples": len(lat),
        "p50_ms": _r(percentile(lat, 50)),
        "p90_ms": _r(percentile(lat, 90)),
        "p99_ms": _r(percentile(lat, 99)),
        "max_ms": _r(lat[-1] if lat else None),
        **cpu,
    }
    return out


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def print_phase(ph: dict[str, Any]) -> None:
    print(
        f"  rate {ph['rate']:g} msg/s x {ph['connections_alive_before']} conns: "
        f"{ph['deliveries_per_s']:,} deliveries/s (target {ph['target_deliveries_per_s']:,}), "
        f"lost {ph['lost']} ({ph['lost_pct']}%), p50 {ph['p50_ms']} ms, p99 {ph['p99_ms']} ms, "
        f"max {ph['max_ms']} ms; CPU nodes {ph['cpu_nodes']:.2f} "
        f"(per node {ph['cpu_per_node']}), loadgen {ph['cpu_loadgen']:.2f} (readers "
        f"{ph['cpu_readers']:.2f}, {ph['reader_cpu_us_per_delivery']} us/delivery), "
        f"redis {ph['cpu_redis']:.2f}, others on the machine {ph['cpu_other']:.2f} cores "
        f"(softirq {ph['machine'].get('softirq')}); "
        f"accepted {ph['accepted']}/{ph['sent']} (ratelimited {ph['ratelimited']}, "
        f"refused {ph['refused']}), {ph['writers']} writers, ack p50/p99/max "
        f"{ph['ack_p50_s']}/{ph['ack_p99_s']}/{ph['ack_max_s']} s, "
        f"{ph['reads_per_s']:,} client reads/s ({ph['deliveries_per_read']} deliveries per read)",
        flush=True,
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    raise_nofile()
    root = Path(tempfile.mkdtemp(prefix="streamhub-bench-chat-"))
    result: dict[str, Any] = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "system": "python-socketio" if args.baseline else "streamhub",
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": {
            "cpus": os.cpu_count(),
            "nofile_hard": nofile_hard(),
            "python": sys.version.split()[0],
        },
        "tmp": str(root),
    }
    redis: Redis | None = None
    servers: list[Server] = []
    writer: JsonLineProcess | None = None
    workers: list[JsonLineProcess] = []
    try:
        reader_argv = (
            [str(build_creader())] if args.reader == "c" else [PY, str(HERE / "loadgen.py")]
        )
        if args.nodes > 1:
            redis = Redis(root)
        t = time.monotonic()
        if args.baseline:
            servers = start_socketio(root, args.nodes, redis)
            targets = [["127.0.0.1", s.port] for s in servers]
            accounts: list[list[str]] = []
        else:
            servers = start_streamhub(root, args.nodes, redis, args.write_budget)
            port_of = (lambda s: s.port) if args.transport == "ws" else (lambda s: s.irc_port)
            targets = [["127.0.0.1", port_of(s)] for s in servers]
            accounts = make_accounts(servers[0].env, max(args.phase_writers) - 1)
        print(
            f"{len(servers)} {'socket.io' if args.baseline else 'streamhub'} server(s) up "
            f"in {time.monotonic() - t:.1f}s: {targets}",
            flush=True,
        )

        wcfg = {
            "mode": "sio" if args.baseline else "tmi",
            "transport": args.transport,
            "targets": targets,
            "accounts": accounts,
            "channel": CHANNEL,
            "room": ROOM,
        }
        writer = JsonLineProcess(
            "writer",
            [PY, str(HERE / "writer.py"), json.dumps(wcfg)],
            log_path=str(root / "writer.log"),
        )
        ready = writer.wait_event("ready", 120)
        print(f"writer ready: {ready['writers']} sending connection(s)", flush=True)
        time.sleep(1.0)
        rss0 = rss_of(servers)
        slab0 = slab_kb()

        # ---- connect the readers ----
        per = [
            args.connections // args.workers + (1 if i < args.connections % args.workers else 0)
            for i in range(args.workers)
        ]
        samplers_each = math.ceil(args.samplers / args.workers)
        sources = [f"127.0.0.{2 + i}" for i in range(args.sources)]
        first = 0
        t = time.monotonic()
        for i, count in enumerate(per):
            cfg = {
                "mode": wcfg["mode"],
                "transport": args.transport,
                "targets": targets,
                "sources": sources,
                "count": count,
                "first_index": first,
                "samplers": samplers_each,
                "inflight": args.inflight,
                "seed": i + 1,
                "caps": args.caps,
                "channel": CHANNEL,
                "room": ROOM,
                "connect_timeout": 30.0,
                "connect_deadline": args.connect_timeout,
            }
            first += count
            workers.append(
                JsonLineProcess(
                    f"loadgen{i}",
                    [*reader_argv, json.dumps(cfg)],
                    log_path=str(root / f"loadgen{i}.log"),
                )
            )
        connected = [w.wait_event("connected", args.connect_timeout + 60) for w in workers]
        connect_s = time.monotonic() - t
        joined = sum(c["joined"] for c in connected)
        errors: dict[str, int] = {}
        for c in connected:
            for k, v in c["errors"].items():
                errors[k] = errors.get(k, 0) + v
        print(
            f"connections: {joined}/{args.connections} joined in {connect_s:.1f}s "
            f"({args.workers} {args.reader} load processes, {len(sources)} source addresses); "
            f"errors {errors}",
            flush=True,
        )
        time.sleep(3.0)  # let allocations settle
        rss1 = rss_of(servers)
        slab1 = slab_kb()
        per_node = [
            joined // len(servers) + (1 if i < joined % len(servers) else 0)
            for i in range(len(servers))
        ]
        rss_per_conn = [
            round((b - a) / c) if c else None for a, b, c in zip(rss0, rss1, per_node, strict=True)
        ]
        result["connect"] = {
            "attempted": args.connections,
            "joined": joined,
            "errors": errors,
            "seconds": round(connect_s, 1),
            "workers": args.workers,
            "sources": sources,
            "per_worker": connected,
        }
        result["memory"] = {
            "rss_before_mb": [round(x / 2**20, 1) for x in rss0],
            "rss_after_mb": [round(x / 2**20, 1) for x in rss1],
            "rss_per_connection_bytes": rss_per_conn,
            "rss_per_connection_bytes_total": round((sum(rss1) - sum(rss0)) / joined)
            if joined
            else None,
            "kernel_slab_per_connection_bytes": round((slab1 - slab0) * 1024 / joined)
            if joined
            else None,
            "loadgen_rss_mb": [round(rss_bytes(w.pid) / 2**20, 1) for w in workers],
        }
        print(
            f"memory: node RSS {result['memory']['rss_before_mb']} -> "
            f"{result['memory']['rss_after_mb']} MB, "
            f"{result['memory']['rss_per_connection_bytes_total']} B/connection; kernel slab "
            f"{result['memory']['kernel_slab_per_connection_bytes']} B/connection (both ends)",
            flush=True,
        )

        # ---- phases ----
        server_pids = [s.pid for s in servers]
        load_pids = [w.pid for w in workers] + [writer.pid]
        redis_pids = [redis.proc.pid] if redis is not None else []
        all_pids = server_pids + load_pids + redis_pids
        result["phases"] = []
        for rate, n_writers in zip(args.rates, args.phase_writers, strict=True):
            alive_before = 0
            for w in workers:
                w.send("status")
            for w in workers:
                alive_before += int(w.wait_event("status", 60)["alive"])
            for w in workers:
                w.send("start")
            mark0 = CpuMark.take(all_pids)
            writer.send(f"run {rate:g} {args.seconds:g} {0 if args.baseline else n_writers}")
            done = writer.wait_event("done", args.seconds * 3 + 60)
            mark1 = CpuMark.take(all_pids)
            time.sleep(args.drain)
            for w in workers:
                w.send("stop")
            phases = [w.wait_event("phase", 120) for w in workers]
            cpu = {
                "cpu_nodes": round(mark1.cores_since(mark0, server_pids), 3),
                "cpu_per_node": [round(mark1.cores_since(mark0, [p]), 3) for p in server_pids],
                "cpu_loadgen": round(mark1.cores_since(mark0, load_pids), 3),
                "cpu_readers": round(mark1.cores_since(mark0, [w.pid for w in workers]), 3),
                "cpu_window_s": round(mark1.at - mark0.at, 3),
                "cpu_redis": round(mark1.cores_since(mark0, redis_pids), 3),
                "machine": mark1.machine_since(mark0),
                "cpu_other": 0.0,
                "node_rss_mb": [round(x / 2**20, 1) for x in rss_of(servers)],
            }
            busy = sum(v for k, v in cpu["machine"].items() if k not in ("idle", "iowait"))
            ours = cpu["cpu_nodes"] + cpu["cpu_loadgen"] + cpu["cpu_redis"]
            cpu["cpu_other"] = round(max(0.0, busy - ours), 3)  # other users of the machine
            ph = summarize_phase(rate, args.seconds, done, alive_before, phases, cpu)
            result["phases"].append(ph)
            print_phase(ph)
            time.sleep(2.0)
        result["server_logs"] = {s.name: s.log_summary() for s in servers}
        alive = [s.proc.proc.poll() is None for s in servers]
        result["servers_alive_at_end"] = alive
        return result
    finally:
        for w in workers:
            w.send("quit")
        for w in workers:
            w.stop(grace=15)
        if writer is not None:
            writer.stop(grace=5)
        for s in servers:
            s.stop()
        if redis is not None:
            redis.stop()
        if args.keep:
            print(f"kept {root}", flush=True)
        else:
            shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    args = parse_args()
    os.chdir(REPO)
    result = run(args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
