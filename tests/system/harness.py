"""System-test harness: a real `streamhub up` process, real ffmpeg publishers, condition waits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx
import imageio_ffmpeg

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
T = TypeVar("T")


def wait_for(
    check: Callable[[], T | None], *, timeout: float = 60.0, interval: float = 0.1, what: str = ""
) -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # the condition may not be observable yet
            last_exc = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or check}: {last_exc}")


class NodeProcess:
    """`python -m streamhub.cli up` on free ports in a private data directory."""

    def __init__(self, data_dir: Path, **settings: Any) -> None:
        self.data_dir = data_dir
        env = {
            **os.environ,
            "STREAMHUB_DATA_DIR": str(data_dir),
            "STREAMHUB_HTTP_PORT": "0",
            "STREAMHUB_RTMP_PORT": "0",
            "STREAMHUB_CHAT_WS_PORT": "0",
            "STREAMHUB_CHAT_IRC_PORT": "0",
            "STREAMHUB_CHAT_WSS_PORT": "0",
            "STREAMHUB_CHAT_IRCS_PORT": "0",
            "STREAMHUB_X264_PRESET": "ultrafast",
            "STREAMHUB_DEMO_USER": "",
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("STREAMHUB_CONFIG", None)
        for key, value in settings.items():
            env[f"STREAMHUB_{key.upper()}"] = value if isinstance(value, str) else json.dumps(value)
        self.env = env
        self.log_path = data_dir / "node.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamhub.cli", "up"],
            env=env, stdout=subprocess.PIPE, stderr=self._log, text=True,
        )
        self.http_port = 0
        self.rtmp_port = 0
        self.chat_ws_port = 0
        self.chat_irc_port = 0
        self.ready: dict[str, Any] = {}
        self.stdout_lines: list[str] = []
        ready = threading.Event()

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.stdout_lines.append(line)
                if line.startswith('{"event": "ready"'):
                    info = json.loads(line)
                    self.http_port, self.rtmp_port = info["http_port"], info["rtmp_port"]
                    self.chat_ws_port = info["chat_ws_port"]
                    self.chat_irc_port = info["chat_irc_port"]
                    self.ready = info
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + 120
        while not ready.wait(0.2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = self.log()
                self.stop()
                raise RuntimeError(f"node did not start:\n{log}")
        self.http = httpx.Client(base_url=self.base_url, timeout=30)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def rtmp_url(self, key: str) -> str:
        return f"rtmp://127.0.0.1:{self.rtmp_port}/live/{key}"

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def cli(self, *args: str) -> dict[str, Any]:
        """Run `streamhub ARGS` against this node's database; its JSON output."""
        res = subprocess.run(
            [sys.executable, "-m", "streamhub.cli", *args],
            env=self.env, capture_output=True, text=True, timeout=120, check=True,
        )
        return dict(json.loads(res.stdout))

    def create_user(self, login: str) -> dict[str, Any]:
        return self.cli("user", "create", login)

    def token(self, login: str, *scopes: str) -> str:
        args = [a for s in scopes for a in ("--scope", s)]
        return str(self.cli("token", "create", login, *args)["access_token"])

    def state(self, login: str) -> dict[str, Any]:
        return dict(self.http.get(f"/api/streams/{login}").json())

    def wait_live(self, login: str, *, timeout: float = 90) -> dict[str, Any]:
        def live() -> dict[str, Any] | None:
            s = self.state(login)
            if s.get("live") and s.get("renditions") and all(
                r.get("last_msn", -1) >= 1 for r in s["renditions"]
            ):
                return s
            return None

        return wait_for(live, timeout=timeout, what=f"{login} live with 2 segments")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


def source_args(
    *, size: str = "1280x720", rate: int = 30, seconds: float = 120, gop: int = 60
) -> list[str]:
    """ffmpeg input + encode args for a generated realtime H.264/AAC source."""
    return [
        "-re", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
        "-t", str(seconds),
        "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
        "-pix_fmt", "yuv420p", "-g", str(gop), "-keyint_min", str(gop),
        "-c:a", "aac", "-b:a", "96k",
    ]


class Publisher:
    """A real ffmpeg pushing a generated source over RTMP; stopped by process id."""

    def __init__(self, url: str, *, extra: Sequence[str] = (), **source: Any) -> None:
        self.proc = subprocess.Popen(
            [FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin",
             *source_args(**source), *extra, "-f", "flv", url],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(20)

    def wait(self, timeout: float) -> tuple[int, str]:
        _, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, err
