"""VOD HTTP routes on the origin: playlists, recorded media and a thumbnail per ended session."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from streamhub.delivery.cache import IMMUTABLE
from streamhub.packaging import atomic_write
from streamhub.vod import library
from streamhub.vod.recordings import Recording, Recordings

M3U8 = "application/vnd.apple.mpegurl"
VOD_PLAYLIST = "public, max-age=60"  # a VOD never changes, but a deleted one should go soon
THUMB_CACHE = "public, max-age=86400"
PLAYLIST_CACHE_SIZE = 256
SETTLED = 30.0  # seconds after its end from which a session's playlists are kept in memory

# One JPEG from init + media segment bytes (ThumbnailService.capture), None on failure.
Capture = Callable[[bytes, str], Awaitable[bytes | None]]


class _Lru:
    """A small bounded map of rendered playlists (recordings never change once ended)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, ...], str] = OrderedDict()

    def get(self, key: tuple[str, ...]) -> str | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: tuple[str, ...], value: str) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


def vod_routes(sessions: async_sessionmaker[AsyncSession], media_root: Path,
               capture: Capture | None = None,
               logger: logging.Logger | None = None) -> list[Route]:
    """`/vod/<login>/<session>/master.m3u8`, `.../<rendition>/index.m3u8`,
    `.../<rendition>/<init-N.mp4|seg-N.m4s>` and `.../thumb.jpg`, for ended sessions of
    existing channels only (404 otherwise, and for any malformed path part)."""
    recordings = Recordings(media_root)
    playlists = _Lru(PLAYLIST_CACHE_SIZE)
    thumb_locks: dict[tuple[str, str], asyncio.Lock] = {}
    thumb_failed: set[tuple[str, str]] = set()  # not retried until the node restarts
    log = logger or logging.getLogger("streamhub.vod")

    async def found(request: Request) -> tuple[Recording, library.Video]:
        login, session_id = request.path_params["login"], request.path_params["session"]
        rec = recordings.get(login, session_id)  # checks both names before any path is built
        video = await library.by_session(sessions, login, session_id) if rec else None
        if rec is None or video is None:
            raise HTTPException(404, "no such video")
        return rec, video

    async def recording(request: Request) -> Recording:
        return (await found(request))[0]

    async def cached_playlist(key: tuple[str, ...], video: library.Video,
                              build: Callable[[], str | None]) -> Response:
        body = playlists.get(key)
        if body is None:
            body = await asyncio.to_thread(build)
            if body is None:
                raise HTTPException(404, "nothing recorded")
            if (datetime.now(UTC) - video.ended_at).total_seconds() > SETTLED:
                playlists.put(key, body)  # the last writes of a just-ended session may be queued
        return Response(body, media_type=M3U8, headers={"Cache-Control": VOD_PLAYLIST})

    async def master(request: Request) -> Response:
        rec, video = await found(request)
        return await cached_playlist((str(rec.folder),), video, rec.master_playlist)

    async def media_playlist(request: Request) -> Response:
        rec, video = await found(request)
        name = request.path_params["rendition"]
        return await cached_playlist((str(rec.folder), name), video,
                                     lambda: rec.media_playlist(name))

    async def media_file(request: Request) -> Response:
        rec = await recording(request)
        name = request.path_params["file"]
        path = rec.file(request.path_params["rendition"], name)
        if path is None:
            raise HTTPException(404, "no such file")
        ctype = "video/mp4" if name.endswith(".mp4") else "video/iso.segment"
        return FileResponse(path, media_type=ctype, headers={"Cache-Control": IMMUTABLE})

    async def thumbnail(request: Request) -> Response:
        rec = await recording(request)
        key = (request.path_params["login"], request.path_params["session"])
        lock = thumb_locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:  # one ffmpeg per recording, however many cards ask at once
                if (not rec.thumb_path.is_file() and key not in thumb_failed
                        and not await _make_thumbnail(rec, capture, key[0], log)):
                    thumb_failed.add(key)
        finally:
            if not lock.locked():
                thumb_locks.pop(key, None)
        if not rec.thumb_path.is_file():
            raise HTTPException(404, "no thumbnail")
        return FileResponse(rec.thumb_path, media_type="image/jpeg",
                            headers={"Cache-Control": THUMB_CACHE})

    return [
        Route("/vod/{login}/{session}/master.m3u8", master),
        Route("/vod/{login}/{session}/thumb.jpg", thumbnail),
        Route("/vod/{login}/{session}/{rendition}/index.m3u8", media_playlist),
        Route("/vod/{login}/{session}/{rendition}/{file}", media_file),
    ]


async def _make_thumbnail(rec: Recording, capture: Capture | None, login: str,
                          log: logging.Logger) -> bool:
    """Grab the first frame of the lowest rendition into `thumb.jpg`; False on failure."""
    if capture is None:
        return False
    source = await asyncio.to_thread(rec.thumbnail_source)
    jpeg = await capture(source, login) if source is not None else None
    if not jpeg:
        log.warning("%s: no thumbnail for recording %s", login, rec.folder.name)
        return False
    await asyncio.to_thread(atomic_write, rec.thumb_path, jpeg)
    return True
