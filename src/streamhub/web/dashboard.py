"""The creator dashboard's Stream tab (/dashboard) and its stream-health JSON for the owner."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import JSONResponse, Response

from streamhub.api.context import ApiContext
from streamhub.channels.health import HealthHistory, SessionHistory
from streamhub.channels.service import LOGIN_RE
from streamhub.web.site import Site

NO_STORE = {"Cache-Control": "no-store"}


def rtmp_server_url(request: Request, public_host: str | None, port: int) -> str:
    """rtmp://<public host, else this page's host>:<port>/live, the encoder's server URL."""
    host = public_host or request.url.hostname or "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"rtmp://{host}:{port}/live"


def _error(status: int, message: str) -> JSONResponse:
    names = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}
    return JSONResponse({"error": names.get(status, "Error"), "status": status,
                         "message": message}, status, headers=NO_STORE)


def history_json(history: SessionHistory | None, session: str | None,
                 after: int) -> dict[str, Any] | None:
    """The session's samples newer than `after` when the client already holds `session`,
    else all of them."""
    if history is None:
        return None
    start = after if session == history.session_id else 0
    return {"session_id": history.session_id, "started_at": history.started_at,
            "ended": history.ended_at is not None, "last_seq": history.last_seq,
            "samples": [s.to_json() for s in history.since(start)]}


def router(ctx: ApiContext) -> APIRouter:
    """GET /dashboard (logged in) and GET /api/dashboard/health (the channel's owner or an
    admin, by session cookie)."""
    api = APIRouter(include_in_schema=False)
    site = Site(ctx)

    def rtmp_port() -> int:
        return ctx.rtmp_port() if ctx.rtmp_port is not None else ctx.settings.rtmp_port

    @api.get("/dashboard")
    async def dashboard(request: Request) -> Response:
        viewer = await site.require_viewer(request)
        if isinstance(viewer, Response):
            return viewer
        interval = ctx.health.interval if ctx.health is not None else None
        return site.render(request, "dashboard.html", {
            "dashboard_tab": "stream",
            "rtmp_url": rtmp_server_url(request, ctx.settings.public_host, rtmp_port()),
            "sample_interval": interval,
        }, viewer=viewer)

    @api.get("/api/dashboard/health")
    async def health(
        request: Request, channel: Annotated[str | None, Query(max_length=40)] = None,
        session: Annotated[str | None, Query(max_length=64)] = None,
        after: Annotated[int, Query(ge=0, le=2**53)] = 0,
    ) -> Response:
        viewer = await site.viewer(request)
        if viewer is None:
            return _error(401, "not logged in")
        login = (channel or viewer.login).lower()
        if login != viewer.login.lower() and not viewer.is_admin:
            return _error(403, "only the broadcaster can read the stream health")
        if not LOGIN_RE.fullmatch(login):
            return _error(404, "no such channel")
        user = await ctx.channels.get_user(login)
        if user is None:
            return _error(404, "no such channel")
        history: HealthHistory | None = ctx.health
        stream = ctx.hub.get(user.login)
        live = stream is not None and stream.live
        current = None
        if stream is not None and live and history is not None:
            current = (await history.probe(stream)).to_json()
        return JSONResponse({
            "login": user.login, "broadcaster_id": str(user.id), "live": live,
            "state": stream.state if stream is not None else "offline",
            "session_id": stream.session_id if live and stream is not None else None,
            "started_at": (stream.started_at.isoformat().replace("+00:00", "Z")
                           if live and stream is not None else None),
            "interval": history.interval if history is not None else None,
            "current": current,
            "history": history_json(history.get(user.login) if history else None,
                                    session, after),
        }, headers=NO_STORE)

    return api
