"""A throwaway PostgreSQL server for tests: initdb in a temp dir, loopback port, stop by pid."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"PostgreSQL's {name} is missing: apt-get install postgresql")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """initdb + postgres on 127.0.0.1:<free port>; as root it runs as the postgres user."""

    def __init__(self) -> None:
        # Not under pytest's tmp dirs: those are private to root, and postgres runs as its user.
        root = Path(tempfile.mkdtemp(prefix="streamhub-pg-"))
        self.root = root
        self.data = root / "pgdata"
        self.port = _free_port()
        prefix: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(root, user.pw_uid, user.pw_gid)
            prefix = ["runuser", "-u", "postgres", "--"]
        subprocess.run(
            [*prefix, _bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "streamhub",
             "--no-sync", "-E", "UTF8"],
            check=True, capture_output=True, timeout=120,
        )
        self.proc = subprocess.Popen(
            [*prefix, _bin("postgres"), "-D", str(self.data), "-p", str(self.port),
             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={root}",
             "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
            stdout=subprocess.DEVNULL, stderr=(root / "postgres.log").open("w"),
        )
        deadline = time.monotonic() + 60
        while True:
            ready = subprocess.run(
                [_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            if ready.returncode == 0:
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((root / "postgres.log").read_text())
            time.sleep(0.1)
        subprocess.run(
            [_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "streamhub",
             "streamhub"],
            check=True, capture_output=True, timeout=60,
        )

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://streamhub@127.0.0.1:{self.port}/streamhub"

    def create_database(self, name: str) -> str:
        """A new empty database on this server; returns its URL."""
        subprocess.run(
            [_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "streamhub", name],
            check=True, capture_output=True, timeout=60,
        )
        return f"postgresql+asyncpg://streamhub@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        # SIGINT is PostgreSQL's "fast" shutdown; send it to the postmaster itself (its pid is
        # the first line of postmaster.pid), since runuser does not forward signals.
        if self.proc.poll() is None:
            try:
                pid = int((self.data / "postmaster.pid").read_text().split()[0])
                os.kill(pid, signal.SIGINT)
            except (OSError, ValueError, IndexError):
                self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        with contextlib.suppress(OSError):
            shutil.rmtree(self.root)
