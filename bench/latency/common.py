"""Shared helpers for the latency bench: processes, CPU accounting, statistics, the source."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import imageio_ffmpeg

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo: `bench` package
from bench.waiting import wait_for as wait_for

FFMPEG: str = imageio_ffmpeg.get_ffmpeg_exe()
REPO = Path(__file__).resolve().parents[2]
HLS_JS = REPO / "node_modules" / "hls.js" / "dist" / "hls.min.js"
CLK_TCK = os.sysconf("SC_CLK_TCK")
FPS = 30

# ---------------------------------------------------------------- waiting and processes




def stop_process(
    proc: subprocess.Popen[bytes] | subprocess.Popen[str] | None,
    *,
    grace: float = 10.0,
    sig: int = signal.SIGTERM,
) -> None:
    """Stop one process we started, by its pid: `sig`, then SIGKILL after `grace` seconds."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, sig)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)


def start_time(pid: int) -> int:
    """Process start time (clock ticks since boot): with the pid, identifies one process."""
    return int(_stat_fields(pid)[19])


def kill_if_same(pid: int, started: int) -> None:
    """SIGKILL `pid` only if it is still the process that started at `started` (no pid reuse)."""
    try:
        if start_time(pid) != started:
            return
    except (OSError, ValueError, IndexError):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (for servers that cannot bind port 0 themselves)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cmdline(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


# ---------------------------------------------------------------- CPU accounting


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    # fields after "(comm)"; index 0 here is field 3 (state) of proc(5)
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (not its children), seconds."""
    f = _stat_fields(pid)
    return (int(f[11]) + int(f[12])) / CLK_TCK


def parent_pid(pid: int) -> int:
    return int(_stat_fields(pid)[1])


def descendants(root: int) -> list[int]:
    """Every live process below `root` (children, grandchildren, ...)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                parents[int(entry)] = parent_pid(int(entry))
    found: list[int] = []
    frontier = [root]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        found += kids
        frontier += kids
    return found


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies-as-seconds of the whole machine, from /proc/stat."""
    first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    vals = [int(v) for v in first[:8]]
    idle = vals[3] + vals[4]
    total = sum(vals)
    return (total - idle) / CLK_TCK, total / CLK_TCK


@dataclass
class CpuWindow:
    """CPU seconds of named pids between `start()` and `stop()` -> cores = cpu-s / wall-s."""

    pids: dict[str, int]
    wall0: float = 0.0
    cpu0: dict[str, float] = field(default_factory=dict)
    machine0: tuple[float, float] = (0.0, 0.0)
    result: dict[str, object] = field(default_factory=dict)

    def start(self) -> None:
        self.wall0 = time.monotonic()
        self.machine0 = machine_cpu()
        self.cpu0 = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def stop(self) -> dict[str, object]:
        wall = time.monotonic() - self.wall0
        busy1, total1 = machine_cpu()
        cores: dict[str, float | None] = {}
        for name, pid in self.pids.items():
            try:
                cores[name] = (cpu_seconds(pid) - self.cpu0[name]) / wall
            except OSError:
                cores[name] = None  # the process went away during the window
        machine_busy = (busy1 - self.machine0[0]) / max(1e-9, total1 - self.machine0[1])
        self.result = {
            "wall_s": round(wall, 2),
            "cores": {k: None if v is None else round(v, 4) for k, v in cores.items()},
            "machine_busy_fraction": round(machine_busy, 3),
            "loadavg": os.getloadavg(),
        }
        return self.result


# ---------------------------------------------------------------- statistics


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of a non-empty sequence."""
    xs = sorted(values)
    if not xs:
        return math.nan
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summary(values: Sequence[float | None]) -> dict[str, float | int | None]:
    xs = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not xs:
        return {"n": 0, "p50": None, "p95": None, "min": None, "max": None, "mean": None}
    return {
        "n": len(xs),
        "p50": round(percentile(xs, 50), 3),
        "p95": round(percentile(xs, 95), 3),
        "min": round(min(xs), 3),
        "max": round(max(xs), 3),
        "mean": round(sum(xs) / len(xs), 3),
    }


# ---------------------------------------------------------------- the source

# Pixel clock: a black strip at the bottom of the 1280x720 picture holding 2 reference boxes
# (white, black) and CLOCK_BITS boxes carrying the frame number n in binary, LSB first.
# The browser reads it back from a canvas (see browser.CLOCK_JS).
CLOCK_BITS = 20
CLOCK_BOX = 40
CLOCK_PITCH = 48
CLOCK_X0 = 8
CLOCK_Y0 = 672


def clock_filter() -> str:
    boxes = [
        f"drawbox=x=0:y={CLOCK_Y0 - 8}:w={CLOCK_X0 + (CLOCK_BITS + 2) * CLOCK_PITCH}"
        f":h={720 - CLOCK_Y0 + 8}:color=black:t=fill",
        f"drawbox=x={CLOCK_X0}:y={CLOCK_Y0}:w={CLOCK_BOX}:h={CLOCK_BOX}:color=white:t=fill",
    ]
    for bit in range(CLOCK_BITS):
        x = CLOCK_X0 + (bit + 2) * CLOCK_PITCH
        boxes.append(
            f"drawbox=x={x}:y={CLOCK_Y0}:w={CLOCK_BOX}:h={CLOCK_BOX}:color=white:t=fill"
            f":enable='gt(bitand(n\\,{1 << bit})\\,0)'"
        )
    return ",".join(boxes)


def source_encode_args(*, preset: str, seconds: float, realtime: bool) -> list[str]:
    """The generated 720p30 H.264/AAC source (testsrc2 + sine + pixel clock), FLV-ready."""
    return [
        *(["-re"] if realtime else []),
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size=1280x720:rate={FPS}",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        f"{seconds:.0f}",
        "-vf",
        clock_filter(),
        "-c:v",
        "libx264",
        "-preset",
        preset,
        "-tune",
        "zerolatency",
        "-pix_fmt",
        "yuv420p",
        "-g",
        "60",
        "-keyint_min",
        "60",
        "-b:v",
        "3000k",
        "-c:a",
        "aac",
        "-b:a",
        "128k",
    ]


class Publisher:
    """ffmpeg pushing the generated source in realtime; records when each frame was sent.

    The tee muxer writes every packet to the RTMP connection and, in the same call, to an FLV
    pipe read by this process: the arrival of video tag `ts` on the pipe is the wall clock at
    which that frame went into the RTMP socket (ingest time, to a few ms on loopback). x264
    with zerolatency has no B-frames and the source drops nothing, so pixel-clock frame n is
    the n-th coded video tag (FLV timestamps carry a muxer offset of some ms, so not used).
    """

    def __init__(self, url: str, *, seconds: float, preset: str = "veryfast") -> None:
        self.url = url
        self.argv = [
            FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-nostats",
            *source_encode_args(preset=preset, seconds=seconds, realtime=True),
            "-map", "0:v:0", "-map", "1:a:0",
            "-f", "tee", f"[f=flv:flush_packets=1]{url}|[f=flv:flush_packets=1]pipe:1",
        ]  # fmt: skip
        self.sent: list[float] = []  # wall clock at which coded video frame i was written
        self.stderr: list[str] = []
        self.proc = subprocess.Popen(
            self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0
        )
        threading.Thread(target=self._read_flv, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_exact(self, n: int) -> bytes | None:
        assert self.proc.stdout is not None
        chunks = []
        while n > 0:
            b = self.proc.stdout.read(n)
            if not b:
                return None
            chunks.append(b)
            n -= len(b)
        return b"".join(chunks)

    def _read_flv(self) -> None:
        if self._read_exact(13) is None:  # FLV header + PreviousTagSize0
            return
        while True:
            head = self._read_exact(11)
            if head is None:
                return
            now = time.time()
            size = int.from_bytes(head[1:4], "big")
            body = self._read_exact(size + 4)
            if body is None:
                return
            # video tag, AVC, AVCPacketType 1 (NALUs; 0 is the sequence header)
            if head[0] == 9 and size >= 2 and body[0] & 0x0F == 7 and body[1] == 1:
                self.sent.append(now)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            if len(self.stderr) < 200:
                self.stderr.append(line.decode(errors="replace").rstrip())

    def t0(self) -> float | None:
        """Wall clock of media time 0 in steady state (median of sent - n/30 after 3 s)."""
        steady = sorted(w - i / FPS for i, w in enumerate(self.sent) if i >= 3 * FPS)
        return steady[len(steady) // 2] if steady else None

    def sent_at(self, frame: int) -> float | None:
        """When pixel-clock frame `frame` went into the RTMP socket."""
        return self.sent[frame] if 0 <= frame < len(self.sent) else None

    def stop(self) -> None:
        stop_process(self.proc, grace=5, sig=signal.SIGKILL)
