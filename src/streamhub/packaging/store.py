"""Segment persistence: the SegmentSink protocol and an atomic on-disk store with a VOD index."""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
INDEX_FILE = "index.jsonl"


def check_rendition_name(name: str) -> str:
    """Rendition names become path components and URI segments: keep them boring."""
    if not _NAME.fullmatch(name) or ".." in name:
        raise ValueError(f"invalid rendition name {name!r} (want [A-Za-z0-9_.-], max 64)")
    return name


@dataclass(frozen=True, slots=True)
class SegmentRecord:
    """What a VOD builder needs to know about one persisted segment."""

    msn: int
    uri: str  # "seg-<msn>.m4s"
    duration: float
    init_uri: str  # "init-<n>.mp4"
    program_date_time: float | None
    discontinuity: bool
    size: int


class SegmentSink(Protocol):
    """Receives completed init segments and media segments. Calls must not block for long."""

    def put_init(self, rendition: str, uri: str, data: bytes) -> None: ...

    def put_segment(self, rendition: str, record: SegmentRecord, data: bytes) -> None: ...


def atomic_write(path: Path, data: bytes, *, fsync: bool = False) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the whole new one, never part."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class DiskSegmentStore:
    """Writes ``root/<rendition>/{init-<n>.mp4, seg-<msn>.m4s, index.jsonl}``.

    ``put_*`` only enqueue: one background writer thread (owned by this store) performs the
    writes in order, so the event loop never waits on the disk. Each file is written to a temp
    name and renamed into place; a segment's index line is appended only after its file exists.
    ``index.jsonl`` is append-only (one JSON object per line), so a long stream costs O(1) per
    segment; a torn final line after a crash is skipped by :func:`read_index`.
    Use :meth:`flush` / :meth:`aflush` to wait for queued writes, :meth:`close` at shutdown.
    """

    def __init__(self, root: Path, *, fsync: bool = False) -> None:
        self.root = Path(root)
        self._fsync = fsync
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="segment-store"
        )
        self._pending: set[concurrent.futures.Future[None]] = set()
        self._lock = threading.Lock()
        self.failed_writes = 0
        self.last_error: BaseException | None = None

    # -- SegmentSink ----------------------------------------------------------------------
    def put_init(self, rendition: str, uri: str, data: bytes) -> None:
        self._submit(self.write_init, rendition, uri, data)

    def put_segment(self, rendition: str, record: SegmentRecord, data: bytes) -> None:
        self._submit(self.write_segment, rendition, record, data)

    # -- synchronous writers (run on the writer thread; usable directly by tools) ----------
    def write_init(self, rendition: str, uri: str, data: bytes) -> None:
        atomic_write(self._dir(rendition) / _file_name(uri), data, fsync=self._fsync)

    def write_segment(self, rendition: str, record: SegmentRecord, data: bytes) -> None:
        folder = self._dir(rendition)
        atomic_write(folder / _file_name(record.uri), data, fsync=self._fsync)
        line = json.dumps(asdict(record), separators=(",", ":")) + "\n"
        with open(folder / INDEX_FILE, "a", encoding="utf-8") as fh:
            fh.write(line)

    # -- lifecycle ------------------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> None:
        """Block until every write queued so far has finished (or failed)."""
        with self._lock:
            pending = list(self._pending)
        concurrent.futures.wait(pending, timeout=timeout)

    async def aflush(self) -> None:
        """Await every write queued so far without blocking the event loop."""
        import asyncio

        with self._lock:
            pending = [asyncio.wrap_future(f) for f in self._pending]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    def close(self, *, wait: bool = True) -> None:
        """Stop accepting writes; queued ones still complete. ``wait`` blocks until they have."""
        self._pool.shutdown(wait=wait)

    def _dir(self, rendition: str) -> Path:
        folder = self.root / check_rendition_name(rendition)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _submit(self, fn: Callable[..., None], *args: Any) -> None:
        future: concurrent.futures.Future[None] = self._pool.submit(fn, *args)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: concurrent.futures.Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)
        exc = future.exception()
        if exc is not None:
            self.failed_writes += 1
            self.last_error = exc
            log.error("segment store write failed: %s", exc)


def _file_name(uri: str) -> str:
    if "/" in uri or "\\" in uri or uri.startswith("."):
        raise ValueError(f"store file name must be a plain name, got {uri!r}")
    return uri


def read_index(root: Path, rendition: str) -> list[SegmentRecord]:
    """Read the persisted segment index of one rendition (skipping a torn last line)."""
    path = Path(root) / check_rendition_name(rendition) / INDEX_FILE
    records: list[SegmentRecord] = []
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return records
    for line in text.splitlines():
        try:
            records.append(SegmentRecord(**json.loads(line)))
        except (ValueError, TypeError):
            continue
    return records
