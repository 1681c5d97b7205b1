"""Check the pixel clock: publisher -> RTMP -> ffmpeg decoder on 127.0.0.1, no packaging.

    .venv/bin/python bench/latency/calibrate.py [--seconds 20]

The publisher is the same as in run.py. A listening ffmpeg decodes every frame (one thread,
low-delay) and writes the clock strip as raw grey pixels; this script stamps each frame's
arrival with time.time() and decodes the frame number. arrival - (when the publisher wrote that
frame, see common.Publisher) bounds the error of the ground truth (RTMP on loopback + one
decode); it should be a few tens of ms.
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import threading
import time

from common import (
    CLOCK_BITS,
    CLOCK_BOX,
    CLOCK_PITCH,
    CLOCK_X0,
    CLOCK_Y0,
    FFMPEG,
    FPS,
    Publisher,
    free_port,
    stop_process,
    summary,
)

WIDTH = 1280


def decode_strip(strip: bytes) -> int | None:
    """Frame number from one CLOCK_BOX-high grey strip (same rule as player.SAMPLE_JS)."""
    cy = CLOCK_BOX // 2

    def luma(i: int) -> float:
        cx = CLOCK_X0 + i * CLOCK_PITCH + CLOCK_BOX // 2
        vals = [strip[(cy + dy) * WIDTH + cx + dx] for dy in range(-2, 3) for dx in range(-2, 3)]
        return sum(vals) / len(vals)

    white, black = luma(0), luma(1)
    if not (white > 150 and black < 90):
        return None
    mid = (white + black) / 2
    frame = 0
    for i in range(CLOCK_BITS):
        if luma(i + 2) > mid:
            frame |= 1 << i
    return frame


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seconds", type=float, default=20.0)
    args = p.parse_args()
    port = free_port()
    argv = [
        FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error",
        "-fflags", "+nobuffer", "-flags", "low_delay", "-threads", "1",
        "-probesize", "32768", "-analyzeduration", "0",
        "-listen", "1", "-timeout", "30", "-f", "flv", "-i", f"rtmp://127.0.0.1:{port}/live/cal",
        "-map", "0:v:0", "-vf", f"crop={WIDTH}:{CLOCK_BOX}:0:{CLOCK_Y0},format=gray",
        "-fps_mode", "passthrough", "-f", "rawvideo", "pipe:1",
    ]  # fmt: skip
    recv = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    arrivals: list[tuple[float, int | None]] = []

    def read() -> None:
        assert recv.stdout is not None
        size = WIDTH * CLOCK_BOX
        while True:
            buf = recv.stdout.read(size)
            if len(buf) < size:
                return
            arrivals.append((time.time(), decode_strip(buf)))

    threading.Thread(target=read, daemon=True).start()
    pub: Publisher | None = None
    try:
        time.sleep(1.0)
        pub = Publisher(f"rtmp://127.0.0.1:{port}/live/cal", seconds=args.seconds + 30)
        time.sleep(args.seconds)
        t0 = pub.t0()
    finally:
        if pub is not None:
            pub.stop()
        stop_process(recv, grace=5)
    if t0 is None:
        print("no progress from the publisher")
        return 1
    errs = [w - s for w, n in arrivals if n is not None and (s := pub.sent_at(n)) is not None]
    frames = [n for _, n in arrivals if n is not None]
    steps = {b - a for a, b in itertools.pairwise(frames)}
    print(f"frames decoded: {len(frames)} of {len(arrivals)}; frame-number steps seen: {steps}")
    print(f"first frame arrived {arrivals[0][0] - t0:+.3f} s after t0 (frame {frames[0]})")
    print(f"decoded - sent (ground-truth error budget), all: {summary(errs)}")
    print(f"same, after the first 3 s:                      {summary(errs[3 * FPS :])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
