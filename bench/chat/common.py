"""Shared helpers of the chat fan-out benchmark: limits, /proc readings, processes, WS bits."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo: `bench` package
from bench.waiting import wait_for as wait_for

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)

# Marker of the send time (time.time_ns()) in every benchmark chat message.
STAMP = b"bt="


def raise_nofile() -> int:
    """Raise RLIMIT_NOFILE's soft limit to the hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def nofile_hard() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])




# ---- /proc ------------------------------------------------------------------------------


def start_time(pid: int) -> int:
    """The process start time (clock ticks since boot): guards kills against pid reuse."""
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process, in clock ticks (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def machine_cpu() -> dict[str, int]:
    """The aggregate `cpu` line of /proc/stat, in clock ticks."""
    with open("/proc/stat") as f:
        parts = f.readline().split()
    names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    return {n: int(v) for n, v in zip(names, parts[1:9], strict=False)}


def slab_kb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("Slab:"):
                return int(line.split()[1])
    return 0


@dataclass
class CpuMark:
    """CPU ticks of some processes and of the machine at one instant."""

    at: float
    procs: dict[int, int]
    machine: dict[str, int]

    @classmethod
    def take(cls, pids: Iterable[int]) -> CpuMark:
        return cls(time.monotonic(), {p: cpu_ticks(p) for p in pids}, machine_cpu())

    def cores_since(self, earlier: CpuMark, pids: Iterable[int]) -> float:
        """Cores used by `pids` between the two marks (1.0 = one core fully busy)."""
        wall = self.at - earlier.at
        if wall <= 0:
            return 0.0
        ticks = sum(self.procs.get(p, 0) - earlier.procs.get(p, 0) for p in pids)
        return ticks / CLK_TCK / wall

    def machine_since(self, earlier: CpuMark) -> dict[str, float]:
        """Share of every CPU state over the interval, in cores."""
        wall = self.at - earlier.at
        if wall <= 0:
            return {}
        return {
            k: round((v - earlier.machine.get(k, 0)) / CLK_TCK / wall, 3)
            for k, v in self.machine.items()
        }


# ---- processes ---------------------------------------------------------------------------


def stop_process(proc: subprocess.Popen[Any], *, grace: float = 10.0) -> None:
    """SIGTERM, wait `grace`, then SIGKILL: by this Popen's pid only."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)


class JsonLineProcess:
    """A child that prints one JSON object per line on stdout and reads commands on stdin."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        log_path: str | None = None,
    ) -> None:
        self.name = name
        self._log = open(log_path, "w") if log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            bufsize=1,
        )
        self.events: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True, name=f"read-{name}").start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            with self._cond:
                self.events.append(event)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def send(self, command: str) -> None:
        if self.proc.poll() is None and self.proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError, OSError):
                self.proc.stdin.write(command + "\n")
                self.proc.stdin.flush()

    def wait_event(self, kind: str, timeout: float) -> dict[str, Any]:
        """Pop the first unread event of `kind`; TimeoutError / RuntimeError if none comes."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i, event in enumerate(self.events):
                    if event.get("event") == kind:
                        return self.events.pop(i)
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"{self.name} exited ({self.proc.returncode}) before {kind!r}"
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.name}: no {kind!r} event within {timeout}s")
                self._cond.wait(min(left, 0.5))

    def stop(self, grace: float = 10.0) -> None:
        self.send("quit")
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            stop_process(self.proc, grace=5)
        if self._log is not subprocess.DEVNULL:
            self._log.close()  # type: ignore[union-attr]


# ---- WebSocket client bits (RFC 6455) ------------------------------------------------------


def ws_request(host: str, port: int, path: str, subprotocol: str | None = None) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if subprotocol:
        lines.append(f"Sec-WebSocket-Protocol: {subprotocol}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def ws_client_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One masked client frame (clients must mask, RFC 6455 §5.3)."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    key = (mask * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
    return head + mask + masked


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]
