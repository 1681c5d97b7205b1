"""A StreamHub all-in-one node (`python -m streamhub.cli up`) on free loopback ports."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from common import kill_if_same, start_time, stop_process, wait_for


class Node:
    """Starts the node in a private data dir; stops it (and, if orphaned, its ffmpeg) by pid."""

    def __init__(self, data_dir: Path, *, preset: str, extra_env: dict[str, str] | None = None):
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "STREAMHUB_DATA_DIR": str(data_dir),
            "STREAMHUB_HTTP_PORT": "0",
            "STREAMHUB_RTMP_PORT": "0",
            "STREAMHUB_CHAT_WS_PORT": "0",
            "STREAMHUB_CHAT_IRC_PORT": "0",
            "STREAMHUB_HOST": "127.0.0.1",
            "STREAMHUB_DEMO_USER": "",
            "STREAMHUB_X264_PRESET": preset,
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        env.pop("STREAMHUB_CONFIG", None)
        self.env = env
        self.log_path = data_dir / "node.log"
        self._log = self.log_path.open("w")
        self.http_port = 0
        self.rtmp_port = 0
        self.ffmpeg_pids: dict[int, int] = {}  # pid -> start time
        ready = threading.Event()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamhub.cli", "up"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                if line.startswith('{"event": "ready"'):
                    info = json.loads(line)
                    self.http_port, self.rtmp_port = info["http_port"], info["rtmp_port"]
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + 120
        while not ready.wait(0.2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"node did not start:\n{self.log_tail()}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def rtmp_url(self, key: str) -> str:
        return f"rtmp://127.0.0.1:{self.rtmp_port}/live/{key}"

    def log_tail(self, lines: int = 40) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def create_user(self, login: str) -> dict[str, Any]:
        res = subprocess.run(
            [sys.executable, "-m", "streamhub.cli", "user", "create", login],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return dict(json.loads(res.stdout))

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.base_url + path, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def state(self, login: str) -> dict[str, Any]:
        status, body = self.get(f"/api/streams/{login}")
        if status != 200:
            raise RuntimeError(f"/api/streams/{login}: HTTP {status}")
        data = dict(json.loads(body))
        pid = ((data.get("health") or {}).get("transcoder") or {}).get("pid")
        if pid and int(pid) not in self.ffmpeg_pids:
            with contextlib.suppress(OSError, ValueError, IndexError):
                self.ffmpeg_pids[int(pid)] = start_time(int(pid))
        return data

    def wait_live(self, login: str, *, timeout: float = 90) -> dict[str, Any]:
        """Live, every rendition has two segments, and the master playlist answers."""

        def live() -> dict[str, Any] | None:
            s = self.state(login)
            ok = (
                s.get("live")
                and s.get("renditions")
                and all(r.get("last_msn", -1) >= 1 for r in s["renditions"])
            )
            if ok and self.get(f"/hls/{login}/master.m3u8")[0] == 200:
                return s
            return None

        return wait_for(live, timeout=timeout, what=f"{login} live with 2 segments")

    def stop(self) -> None:
        stop_process(self.proc, grace=20)
        for pid, started in self.ffmpeg_pids.items():  # the node should have ended them
            kill_if_same(pid, started)
        self._log.close()
