"""Origin HTTP app: LL-HLS playlists and media, stream state API, the `/` and `/<login>` pages."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
)
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from streamhub.channels.service import LOGIN_RE, UserInfo
from streamhub.config import Settings
from streamhub.delivery.cache import (
    BLOCKING_PLAYLIST,
    IMMUTABLE,
    LIVE_PLAYLIST,
    NO_STORE,
)
from streamhub.ingest.hub import LiveHub, LiveStream
from streamhub.packaging import PackagerError, RenditionPackager

WEB = Path(__file__).resolve().parent.parent / "web"
# hls.js: copied into static/vendor by `make install`; a source checkout with node_modules
# (npm ci) works without that step.
HLSJS_CANDIDATES = (
    WEB / "static" / "vendor" / "hls.min.js",
    WEB.parents[2] / "node_modules" / "hls.js" / "dist" / "hls.min.js",
)
M3U8 = "application/vnd.apple.mpegurl"
_MEDIA_FILE = re.compile(
    r"^(?:init-(\d{1,9})\.mp4|seg-(\d{1,12})\.m4s|part-(\d{1,12})-(\d{1,4})\.m4s)$"
)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_SESSION = re.compile(r"^[A-Za-z0-9]{1,40}$")


class UserLookup(Protocol):
    async def get_user(self, login: str) -> UserInfo | None: ...


# A channel's live settings shown to viewers: {"title", "game_id", "game_name", "tags"}.
ChannelSettings = Callable[[str], Awaitable[dict[str, Any] | None]]
Endpoint = Callable[[Request], Awaitable[Response]]


def build_http_app(
    *, settings: Settings, hub: LiveHub, channels: UserLookup,
    extra_routes: Sequence[BaseRoute] = (), channel_settings: ChannelSettings | None = None,
    home_page: Endpoint, channel_page: Endpoint,
) -> Starlette:
    """The node's HTTP surface; every handler closes over the services it needs.

    `home_page` serves `/` and `channel_page` serves `/<login>` (the site's pages, see
    `web/`). `/<login>` comes last so it never hides another route."""

    def live_stream(login: str) -> LiveStream:
        stream = hub.get(login) if LOGIN_RE.fullmatch(login) else None
        if stream is None or not stream.live or stream.packager is None:
            raise HTTPException(404, "channel is not live")
        return stream

    async def master(request: Request) -> Response:
        stream = live_stream(request.path_params["login"])
        assert stream.packager is not None
        try:
            body = stream.packager.multivariant_playlist(prefix=f"{stream.session_id}/")
        except PackagerError as exc:
            return PlainTextResponse(str(exc), exc.status, headers={"Cache-Control": NO_STORE})
        return Response(body, media_type=M3U8, headers={"Cache-Control": LIVE_PLAYLIST})

    def rendition_of(request: Request) -> RenditionPackager:
        stream = live_stream(request.path_params["login"])
        session, name = request.path_params["session"], request.path_params["rendition"]
        if not _SESSION.fullmatch(session) or session != stream.session_id:
            raise HTTPException(404, "no such session (the stream restarted)")
        assert stream.packager is not None
        rendition = stream.packager.rendition(name) if _NAME.fullmatch(name) else None
        if rendition is None:
            raise HTTPException(404, "no such rendition")
        return rendition

    async def media_playlist(request: Request) -> Response:
        rendition = rendition_of(request)
        q = request.query_params
        try:
            msn = _opt_int(q.get("_HLS_msn"), "_HLS_msn")
            part = _opt_int(q.get("_HLS_part"), "_HLS_part")
        except ValueError as exc:
            return PlainTextResponse(str(exc), 400, headers={"Cache-Control": NO_STORE})
        skip_raw = q.get("_HLS_skip")
        if skip_raw is not None and skip_raw not in ("YES", "v2"):
            return PlainTextResponse(
                "_HLS_skip must be YES or v2", 400, headers={"Cache-Control": NO_STORE}
            )
        try:
            body = await rendition.playlist(msn=msn, part=part, skip=skip_raw is not None)
        except PackagerError as exc:
            return PlainTextResponse(str(exc), exc.status, headers={"Cache-Control": NO_STORE})
        cache = BLOCKING_PLAYLIST if msn is not None else LIVE_PLAYLIST
        return Response(body, media_type=M3U8, headers={"Cache-Control": cache})

    async def media_file(request: Request) -> Response:
        rendition = rendition_of(request)
        match = _MEDIA_FILE.fullmatch(request.path_params["file"])
        if match is None:
            raise HTTPException(404, "no such file")
        init, seg, pmsn, pidx = match.groups()
        try:
            if init is not None:
                data, ctype = rendition.get_init(int(init)), "video/mp4"
            elif seg is not None:
                data, ctype = rendition.get_segment(int(seg)), "video/iso.segment"
            else:
                data = await rendition.get_part(int(pmsn), int(pidx))
                ctype = "video/iso.segment"
        except PackagerError as exc:
            return PlainTextResponse(str(exc), exc.status, headers={"Cache-Control": NO_STORE})
        return Response(data, media_type=ctype, headers={"Cache-Control": IMMUTABLE})

    async def stream_state(request: Request) -> Response:
        login = request.path_params["login"].lower()
        if not LOGIN_RE.fullmatch(login):
            raise HTTPException(404, "no such channel")
        stream = hub.get(login)
        extra = await channel_settings(login) if channel_settings is not None else None
        if stream is not None:
            return JSONResponse({**stream.snapshot(), **(extra or {})},
                                headers={"Cache-Control": NO_STORE})
        user = await channels.get_user(login)
        if user is None:
            raise HTTPException(404, "no such channel")
        return JSONResponse(
            {"login": user.login, "live": False, "state": "offline", "renditions": [],
             **(extra or {})},
            headers={"Cache-Control": NO_STORE},
        )

    async def list_streams(_request: Request) -> Response:
        return JSONResponse(
            {"data": [s.snapshot() for s in hub.streams()]}, headers={"Cache-Control": NO_STORE}
        )

    async def hlsjs(_request: Request) -> Response:
        for path in HLSJS_CANDIDATES:
            if path.is_file():
                return FileResponse(path, media_type="text/javascript",
                                    headers={"Cache-Control": "public, max-age=3600"})
        return PlainTextResponse("hls.js is not installed: run `make install` (npm ci)", 404)

    async def health(_request: Request) -> Response:
        return JSONResponse({"ok": True, "live": len(hub.streams())})

    async def not_found(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return PlainTextResponse(
            exc.detail, exc.status_code, headers={"Cache-Control": NO_STORE, **(exc.headers or {})}
        )

    routes = [
        Route("/", home_page),
        Route("/health", health),
        Route("/api/streams", list_streams),
        Route("/api/streams/{login}", stream_state),
        Route("/hls/{login}/master.m3u8", master),
        Route("/hls/{login}/{session}/{rendition}/index.m3u8", media_playlist),
        Route("/hls/{login}/{session}/{rendition}/{file}", media_file),
        Route("/static/vendor/hls.min.js", hlsjs),
        Mount("/static", app=StaticFiles(directory=str(WEB / "static")), name="static"),
        *extra_routes,
        Route("/{login}", channel_page),
    ]
    middleware = [
        Middleware(
            CORSMiddleware,
            allow_origins=["*"],
            allow_methods=["GET", "HEAD", "OPTIONS", "PUT", "DELETE"],
            allow_headers=["*"],
            expose_headers=["Content-Length", "Age", "Date"],
            max_age=86400,
        )
    ]
    return Starlette(
        routes=routes, middleware=middleware, exception_handlers={HTTPException: not_found}
    )


def _opt_int(raw: str | None, name: str) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 12:
        raise ValueError(f"{name} must be a non-negative integer")
    return int(raw)
