"""Owncast-style baseline: RTMP into ffmpeg, ffmpeg's own HLS muxer (1 s segments), static HTTP."""

from __future__ import annotations

import shutil
import subprocess
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from common import FFMPEG, HLS_JS, free_port, stop_process

HLS_TIME = 1.0


class _Handler(SimpleHTTPRequestHandler):
    """Static files with no-cache (python's default handler sends none: Chromium may reuse a
    stale playlist by heuristic freshness) and no request log."""

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Access-Control-Allow-Origin", "*")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


class StaticServer:
    """ThreadingHTTPServer on 127.0.0.1:0 in a daemon thread."""

    def __init__(self, root: Path) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(root)))
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def listener_argv(port: int, out_dir: Path, *, preset: str, segment_type: str) -> list[str]:
    """ffmpeg as the RTMP server (-listen 1) re-encoding to one 720p rendition and writing HLS
    with 1 s segments (IDR every second, as a 1 s segment needs), like Owncast's lowest-latency
    setting. Input probing matches StreamHub's transcoder (-probesize/-analyzeduration 1 MB/1 s)."""
    return [
        FFMPEG,
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-nostats",
        "-fflags",
        "+nobuffer",
        "-probesize",
        "1000000",
        "-analyzeduration",
        "1000000",
        "-listen",
        "1",
        "-timeout",
        "30",
        "-f",
        "flv",
        "-i",
        f"rtmp://127.0.0.1:{port}/live/bench",
        "-map",
        "0:v:0",
        "-map",
        "0:a:0",
        "-c:v",
        "libx264",
        "-preset",
        preset,
        "-tune",
        "zerolatency",
        "-profile:v",
        "main",
        "-pix_fmt",
        "yuv420p",
        "-b:v",
        "3000k",
        "-maxrate",
        "3000k",
        "-bufsize",
        "3000k",
        "-g",
        "30",
        "-keyint_min",
        "30",
        "-sc_threshold",
        "0",
        "-c:a",
        "copy",
        "-f",
        "hls",
        "-hls_time",
        f"{HLS_TIME:g}",
        "-hls_list_size",
        "6",
        "-hls_flags",
        "delete_segments+program_date_time+independent_segments+temp_file",
        "-hls_segment_type",
        segment_type,
        *(["-hls_fmp4_init_filename", "init.mp4"] if segment_type == "fmp4" else []),
        "-hls_segment_filename",
        str(out_dir / ("seg-%05d." + ("m4s" if segment_type == "fmp4" else "ts"))),
        "-master_pl_name",
        "master.m3u8",
        str(out_dir / "index.m3u8"),
    ]


class Baseline:
    """The listening ffmpeg, its output directory and the static server (page + hls.js)."""

    def __init__(self, root: Path, *, preset: str, segment_type: str = "mpegts") -> None:
        self.root = root
        self.hls_dir = root / "hls"
        self.hls_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(HLS_JS, root / "hls.min.js")
        self.rtmp_port = free_port()
        self.argv = listener_argv(
            self.rtmp_port, self.hls_dir, preset=preset, segment_type=segment_type
        )
        self.log_path = root / "ffmpeg-hls.log"
        self._log = self.log_path.open("w")
        self.proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            self.argv, stdout=subprocess.DEVNULL, stderr=self._log
        )
        self.server = StaticServer(root)

    @property
    def rtmp_url(self) -> str:
        return f"rtmp://127.0.0.1:{self.rtmp_port}/live/bench"

    @property
    def playlist_url(self) -> str:
        return f"{self.server.base_url}/hls/master.m3u8"

    def write_page(self, name: str, html: str) -> str:
        (self.root / name).write_text(html)
        return f"{self.server.base_url}/{name}"

    def segments(self) -> int:
        return len([p for p in self.hls_dir.iterdir() if p.suffix in (".ts", ".m4s")])

    def stop(self) -> None:
        stop_process(self.proc, grace=5)
        self.server.stop()
        self._log.close()
