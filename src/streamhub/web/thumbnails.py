"""Live thumbnails: one JPEG per live stream, taken with ffmpeg from its newest segment."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from starlette.responses import PlainTextResponse, Response

from streamhub.packaging import atomic_write

THUMB_WIDTH, THUMB_HEIGHT = 640, 360
MAX_JPEG = 4 * 1024 * 1024  # a 640x360 JPEG is ~30 kB; anything near this is wrong
CACHE = "public, max-age=30"
# /thumbnails/<login>.jpg or Twitch's template form /thumbnails/<login>-<w>x<h>.jpg
_NAME = re.compile(r"^([a-z0-9_]{3,25})(?:-([0-9]{1,4})x([0-9]{1,4}))?\.jpg$")


class Rendition(Protocol):
    @property
    def height(self) -> int | None: ...

    def latest_segment(self) -> tuple[int, bytes, bytes] | None: ...


class Packager(Protocol):
    @property
    def renditions(self) -> Sequence[Rendition]: ...


class Stream(Protocol):
    login: str
    session_id: str

    @property
    def packager(self) -> Packager | None: ...


class StreamSource(Protocol):
    """The node's live streams (the LiveHub)."""

    def streams(self) -> Sequence[Stream]: ...


def thumbnail_argv(ffmpeg: str) -> list[str]:
    """ffmpeg reading one fMP4 segment (init + media) on stdin, writing one JPEG to stdout:
    the segment's first frame (an IDR: cheap to decode), at most 640x360, aspect kept."""
    return [
        ffmpeg, "-hide_banner", "-nostats", "-loglevel", "error",
        "-f", "mp4", "-i", "pipe:0", "-map", "0:v:0", "-frames:v", "1", "-an",
        "-vf", (f"scale={THUMB_WIDTH}:{THUMB_HEIGHT}:force_original_aspect_ratio=decrease"
                ":force_divisible_by=2"),
        "-c:v", "mjpeg", "-q:v", "5", "-f", "image2pipe", "pipe:1",
    ]


def lowest(renditions: Sequence[Rendition]) -> Rendition | None:
    """The smallest rendition (fewest lines); one without a known height counts as largest."""
    return min(renditions, key=lambda r: r.height or 1 << 30, default=None)


def parse_name(name: str) -> tuple[str, int | None, int | None] | None:
    """(login, width, height) of a thumbnail file name, None when it is not one."""
    match = _NAME.fullmatch(name)
    if match is None:
        return None
    login, width, height = match.groups()
    if width is None or height is None:
        return login, None, None
    return login, int(width), int(height)


@dataclass(slots=True)
class _Taken:
    session_id: str
    msn: int
    at: float  # monotonic time of the capture


class ThumbnailService:
    """Every `interval` seconds per live stream (the first as soon as it has a segment), one
    JPEG written atomically to `folder/<login>.jpg`; removed when the stream ends. One ffmpeg
    at a time, killed after `timeout`; failures are logged and retried next round."""

    def __init__(self, hub: StreamSource, *, folder: Path, ffmpeg: Callable[[], str],
                 interval: float = 30.0, timeout: float = 15.0,
                 logger: logging.Logger | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.hub = hub
        self.folder = folder
        self.interval = interval
        self.timeout = timeout
        self._ffmpeg = ffmpeg
        self._log = logger or logging.getLogger("streamhub.thumbnails")
        self._clock = clock
        self._taken: dict[str, _Taken] = {}
        self._failed: dict[str, float] = {}  # login -> monotonic time of the last failure
        self._task: asyncio.Task[None] | None = None
        self.captures = 0  # JPEGs written (for tests and health)

    def path(self, login: str) -> Path:
        return self.folder / f"{login}.jpg"

    def start(self) -> None:
        """Start the loop; files left by an earlier run are stale and are removed."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in [*self.folder.glob("*.jpg"), *self.folder.glob(".*.tmp")]:
            old.unlink(missing_ok=True)
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for login in list(self._taken):
            self._forget(login)

    async def _run(self) -> None:
        tick = min(1.0, self.interval / 2)
        while True:
            try:
                await self.round()
            except asyncio.CancelledError:
                raise
            except Exception:  # never take the node down for a thumbnail
                self._log.exception("thumbnail round failed")
            await asyncio.sleep(tick)

    async def round(self) -> None:
        """One pass: capture every stream that is due, drop the ended ones' thumbnails."""
        live = {s.login: s for s in self.hub.streams()}
        for login in [x for x in self._taken if x not in live]:
            self._forget(login)
        for login in [x for x in self._failed if x not in live]:
            del self._failed[login]
        for stream in live.values():
            await self._maybe_capture(stream)

    def _forget(self, login: str) -> None:
        self._taken.pop(login, None)
        self.path(login).unlink(missing_ok=True)

    async def _maybe_capture(self, stream: Stream) -> None:
        now = self._clock()
        taken = self._taken.get(stream.login)
        fresh_session = taken is None or taken.session_id != stream.session_id
        if not fresh_session and taken is not None and now - taken.at < self.interval:
            return
        failed = self._failed.get(stream.login)
        if failed is not None and now - failed < min(self.interval, 5.0):
            return  # back off a little after a failure
        packager = stream.packager
        rendition = lowest(packager.renditions) if packager is not None else None
        latest = rendition.latest_segment() if rendition is not None else None
        if latest is None:
            return
        msn, init, media = latest
        if taken is not None and not fresh_session and msn == taken.msn:
            return  # no new segment since the last one (the encoder stalls)
        jpeg = await self.capture(init + media, stream.login)
        if jpeg is None:
            self._failed[stream.login] = self._clock()
            return
        self._failed.pop(stream.login, None)
        if self.hub_has(stream):
            atomic_write(self.path(stream.login), jpeg)
            self._taken[stream.login] = _Taken(stream.session_id, msn, self._clock())
            self.captures += 1

    def hub_has(self, stream: Stream) -> bool:
        """The stream is still live (it may have ended while ffmpeg ran)."""
        return any(s is stream for s in self.hub.streams())

    async def capture(self, data: bytes, login: str) -> bytes | None:
        """One JPEG from an fMP4 segment, or None (logged) when ffmpeg fails or times out."""
        try:
            proc = await asyncio.create_subprocess_exec(
                *thumbnail_argv(self._ffmpeg()), stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        except (OSError, RuntimeError) as exc:
            self._log.error("%s: cannot run ffmpeg for a thumbnail: %s", login, exc)
            return None
        try:
            out, err = await asyncio.wait_for(proc.communicate(data), self.timeout)
        except TimeoutError:
            self._log.warning("%s: thumbnail ffmpeg took over %.0fs; killed", login, self.timeout)
            return None
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if proc.returncode != 0 or not out.startswith(b"\xff\xd8") or len(out) > MAX_JPEG:
            self._log.warning("%s: thumbnail ffmpeg failed (exit %s): %s", login,
                              proc.returncode, err.decode(errors="replace").strip()[-300:])
            return None
        return out


def thumbnail_response(folder: Path, name: str) -> Response:
    """GET /thumbnails/<name>: the stream's latest JPEG (any requested size gets the one
    stored size; browsers scale it), 404 when the name is not a thumbnail or none exists."""
    parsed = parse_name(name)
    if parsed is None:
        return PlainTextResponse("no such thumbnail", 404, headers={"Cache-Control": "no-store"})
    login, width, height = parsed
    if width is not None and height is not None and not (
            1 <= width <= 4096 and 1 <= height <= 4096):
        return PlainTextResponse("no such thumbnail", 404, headers={"Cache-Control": "no-store"})
    try:
        data = (folder / f"{login}.jpg").read_bytes()
    except OSError:  # none yet, or the stream just ended
        return PlainTextResponse("the channel has no live thumbnail", 404,
                                 headers={"Cache-Control": "no-store"})
    return Response(data, media_type="image/jpeg",
                    headers={"Cache-Control": CACHE, "X-Content-Type-Options": "nosniff"})
