"""The API application: Helix under /helix, OAuth2 under /oauth2, OpenAPI at /docs.

The node's other HTTP routes (origin, pages) are mounted behind it as the fallback.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from streamhub.api.context import ApiContext
from streamhub.api.errors import ApiError, install_error_handlers
from streamhub.api.ratelimit import Allowance

RouterFactory = Callable[[ApiContext], APIRouter]


def routers() -> list[RouterFactory]:
    """Every router of the API, in order (imported here so each module stays independent)."""
    from streamhub.api import oauth2
    from streamhub.api.eventsub import router as eventsub
    from streamhub.api.helix import (
        channels,
        chat,
        games,
        moderation,
        modlog,
        raids,
        schedule,
        search,
        streams,
        subscriptions,
        users,
    )
    from streamhub.web import accounts as web_accounts
    from streamhub.web import creator as web_creator
    from streamhub.web import dashboard as web_dashboard
    from streamhub.web import directory as web_directory
    from streamhub.web import site as web_site
    from streamhub.web import videos as web_videos

    found: list[RouterFactory] = []
    found.append(eventsub.router)
    found += [oauth2.router, web_accounts.router, web_site.router]
    found.append(web_directory.router)
    found += [moderation.router, chat.router, raids.router, subscriptions.router]
    found += [modlog.router, web_creator.router]
    found.append(web_dashboard.router)
    found.append(web_videos.router)
    found += [users.router, channels.router, streams.router, search.router, games.router,
              schedule.router]
    return found


class RateLimitHeaders:
    """Adds the Ratelimit-* headers a request's token bucket produced (see auth.requires)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                allowance = scope.get("state", {}).get("ratelimit")
                if isinstance(allowance, Allowance):
                    headers = list(message.get("headers", []))
                    present = {k.lower() for k, _ in headers}
                    for name, value in allowance.headers().items():
                        if name.lower().encode() not in present:
                            headers.append((name.lower().encode(), value.encode()))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


_CHECKED_PATHS = ("/helix/",)  # OAuth2 endpoints check their own fields (Twitch messages)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


async def reject_control_characters(request: HTTPConnection) -> None:
    """No identifier, name or search text has control characters (and PostgreSQL refuses
    NUL in text): refuse them with a 400 naming the parameter, before any handler runs.
    HTML pages (sign-up, log-in, consent) answer such input with their own page instead."""
    if not request.url.path.startswith(_CHECKED_PATHS):
        return
    for name, value in request.query_params.multi_items():
        if _CONTROL.search(value) or _CONTROL.search(name):
            raise ApiError(400, f"Invalid character in parameter {name[:40]!r}")
    if isinstance(request, Request) and request.method in ("POST", "PUT", "PATCH", "DELETE"):
        kind = request.headers.get("content-type", "")
        if "json" not in kind and "x-www-form-urlencoded" not in kind:
            return  # binary uploads (images) carry NUL bytes legitimately
        body = await request.body()
        if b"\x00" in body or (b"\\u0000" in body and "json" in kind) or (
                b"%00" in body and "x-www-form-urlencoded" in kind):
            raise ApiError(400, "Invalid character (NUL) in the request body")


def build_api(ctx: ApiContext, fallback: ASGIApp | None = None) -> FastAPI:
    """The node's outer HTTP app: API routes first, then `fallback` for everything else."""
    app = FastAPI(
        title="StreamHub API",
        summary="Twitch-Helix-style REST API, OAuth2 and EventSub of a StreamHub node",
        version="1",
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
        dependencies=[Depends(reject_control_characters)],
    )
    install_error_handlers(app)
    for factory in routers():
        app.include_router(factory(ctx))

    @app.api_route("/helix/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                   include_in_schema=False)
    async def unknown_endpoint(rest: str) -> None:
        raise ApiError(404, f"No such endpoint: /helix/{rest}")
    app.add_middleware(RateLimitHeaders)
    app.add_middleware(
        CORSMiddleware, allow_origins=["*"], allow_methods=["*"],
        allow_headers=["Authorization", "Client-Id", "Content-Type"],
        expose_headers=["Ratelimit-Limit", "Ratelimit-Remaining", "Ratelimit-Reset"],
    )
    if fallback is not None:
        app.mount("", fallback)
    return app
