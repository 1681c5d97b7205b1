"""The site's page layer: one layout (base.html), the logged-in viewer, a strict CSP, and the
browser's API token.

Pages are server-rendered Jinja2 templates that extend `base.html`; their behaviour lives in
small JavaScript files under /static (no inline scripts: the CSP forbids them). Page data goes
to scripts through `data-*` attributes or a `<script type="application/json">` block written
with Jinja's `tojson` filter (which escapes `<`, `>` and `&`).

Scripts call the Helix API like any Twitch client: `POST /web/token` (session cookie + the
page's CSRF token in `X-CSRF-Token`) returns a short-lived user access token holding every
scope, with the Client-Id to send; the same token logs the chat panel into chat
(`PASS oauth:<token>`). Logging out revokes the user's web tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import update
from starlette.responses import JSONResponse, Response
from starlette.templating import Jinja2Templates

from streamhub.api.context import ApiContext
from streamhub.channels.scopes import KNOWN_SCOPES
from streamhub.storage.models import AccessToken, utcnow
from streamhub.web.session import CsrfError, WebSessionService, WebUser, check_csrf

TEMPLATES = Path(__file__).with_name("templates")
WEB_CLIENT_ID = "streamhub-web"  # the Client-Id the site's own scripts send with web tokens
WEB_TOKEN_TTL = timedelta(hours=4)
WEB_SCOPES = tuple(sorted(KNOWN_SCOPES))

# (ws_port, wss_port or None) of this node's chat gateway, known once the node is started.
ChatPorts = Callable[[], tuple[int, int | None]]


def chat_ws_url(request: Request, settings_url: str | None, ports: ChatPorts | None) -> str:
    """The chat WebSocket URL for a page served by this request: the configured public one,
    else this host on the node's (w)ss port."""
    if settings_url:
        return settings_url
    ws_port, wss_port = ports() if ports is not None else (8081, None)
    host = request.url.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    if request.url.scheme == "https" and wss_port is not None:
        return f"wss://{host}:{wss_port}/"
    return f"ws://{host}:{ws_port}/"


def content_security_policy(*, connect: Iterable[str] = (),
                            form_targets: Iterable[str] = ()) -> str:
    """The site's CSP: scripts and styles only from this origin (no inline code), media and
    workers from blob: (hls.js), forms to this origin (and `form_targets`), no framing."""
    sources = " ".join(["'self'", *connect])
    forms = " ".join(["'self'", *form_targets])
    return ("default-src 'self'; script-src 'self'; style-src 'self'; "
            "img-src 'self' data: blob:; media-src 'self' blob:; worker-src 'self' blob:; "
            f"connect-src {sources}; font-src 'self'; object-src 'none'; "
            f"form-action {forms}; frame-ancestors 'none'; base-uri 'none'")


def page_response(templates: Jinja2Templates, request: Request, name: str,
                  context: Mapping[str, Any], *, viewer: WebUser | None,
                  connect: Iterable[str] = (), form_targets: Iterable[str] = (),
                  status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A page of the site (a template extending base.html) with its security headers.
    `context` may override `csrf_token` (anonymous forms carry their own)."""
    full = {"viewer": viewer, "csrf_token": viewer.csrf_token if viewer else "",
            "chat_url": "", "error": None, "notice": None, **context}
    response = templates.TemplateResponse(request, name, full, status_code=status)
    response.headers.update({
        "Content-Security-Policy": content_security_policy(connect=connect,
                                                           form_targets=form_targets),
        "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", **(headers or {}),
    })
    return response


class Site:
    """Renders the site's pages for one request: the viewer (or None), its CSRF token, the
    chat URL, and security headers (CSP without inline script or style, no framing)."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        self.templates = Jinja2Templates(directory=str(TEMPLATES))
        self.sessions = WebSessionService(ctx.sessions)

    async def viewer(self, request: Request) -> WebUser | None:
        return await self.sessions.current(request)

    def chat_url(self, request: Request) -> str:
        return chat_ws_url(request, self.ctx.settings.chat_public_url, self.ctx.chat_ports)

    def render(self, request: Request, name: str, context: Mapping[str, Any], *,
               viewer: WebUser | None, status: int = 200,
               headers: Mapping[str, str] | None = None) -> Response:
        """`name` rendered with `viewer`, `csrf_token` (the session's, or "") and `chat_url`
        added to `context`; never cached, never framed; scripts may reach the chat."""
        chat = self.chat_url(request)
        return page_response(self.templates, request, name, {"chat_url": chat, **context},
                             viewer=viewer, connect=(chat,), status=status, headers=headers)

    def not_found(self, request: Request, viewer: WebUser | None, message: str) -> Response:
        return self.render(request, "site_message.html",
                           {"heading": "Not found", "message": message},
                           viewer=viewer, status=404)

    async def require_viewer(self, request: Request) -> WebUser | Response:
        """The logged-in viewer, or a redirect to /login that comes back here."""
        from streamhub.web.accounts import login_redirect

        found = await self.viewer(request)
        return found if found is not None else login_redirect(request)


async def revoke_web_tokens(ctx: ApiContext, user_id: int) -> None:
    """End every API token the site's scripts hold for this user (on logout)."""
    async with ctx.sessions() as session:
        await session.execute(
            update(AccessToken)
            .where(AccessToken.user_id == user_id, AccessToken.client_id == WEB_CLIENT_ID,
                   AccessToken.revoked_at.is_(None))
            .values(revoked_at=utcnow()))
        await session.commit()
    ctx.tokens.forget()


def router(ctx: ApiContext) -> APIRouter:
    """POST /web/token: the logged-in browser's API token."""
    api = APIRouter(include_in_schema=False)
    web = WebSessionService(ctx.sessions)

    @api.post("/web/token")
    async def web_token(request: Request) -> Response:
        user = await web.current(request)
        if user is None:
            return JSONResponse({"error": "Unauthorized", "status": 401,
                                 "message": "not logged in"}, 401,
                                headers={"Cache-Control": "no-store"})
        try:
            check_csrf(request, request.headers.get("x-csrf-token"), user)
        except CsrfError as exc:
            return JSONResponse({"error": "Forbidden", "status": 403, "message": str(exc)}, 403,
                                headers={"Cache-Control": "no-store"})
        issued = await ctx.tokens.create(user.login, WEB_SCOPES, ttl=WEB_TOKEN_TTL,
                                         client_id=WEB_CLIENT_ID)
        return JSONResponse({
            "access_token": issued.access_token, "client_id": WEB_CLIENT_ID,
            "expires_in": int(WEB_TOKEN_TTL.total_seconds()),
            "user_id": str(user.user_id), "login": user.login,
            "display_name": user.display_name, "is_admin": user.is_admin,
        }, headers={"Cache-Control": "no-store"})

    return api

