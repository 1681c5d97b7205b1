"""The home page, the directory (categories, live channels, following), search and the live
thumbnails' routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from streamhub.api.context import ApiContext
from streamhub.web import browse
from streamhub.web.site import Site
from streamhub.web.thumbnails import thumbnail_response

Endpoint = Callable[[Request], Awaitable[Response]]
MAX_QUERY = 100


def _refresh_seconds(ctx: ApiContext) -> int:
    """How often the pages' script refreshes thumbnails and viewer counts."""
    return int(max(5.0, min(30.0, ctx.settings.thumbnail_interval)))


def home_page(ctx: ApiContext) -> Endpoint:
    """GET /: live channels as cards, most viewed first; a logged-in viewer's followed live
    channels first in their own row (served by the origin app, see Node)."""
    site = Site(ctx)
    folder = ctx.settings.data_dir / "thumbnails"

    async def home(request: Request) -> Response:
        viewer = await site.viewer(request)
        cards = await browse.live_cards(ctx, folder)
        followed: list[browse.Card] = []
        if viewer is not None:
            followed, cards = browse.split_followed(
                cards, await browse.followed_ids(ctx, viewer.user_id))
        tiles = [t for t in await browse.category_tiles(ctx, cards + followed, limit=12)
                 if t.channels]
        return site.render(request, "home.html", {
            "followed": followed, "cards": cards, "categories": tiles,
            "refresh": _refresh_seconds(ctx)}, viewer=viewer)

    return home


def router(ctx: ApiContext) -> APIRouter:
    """/directory, /directory/category/<id>, /directory/following, /search, the pages' live
    refresh JSON and /thumbnails/<login>.jpg."""
    api = APIRouter(include_in_schema=False)
    site = Site(ctx)
    folder = ctx.settings.data_dir / "thumbnails"

    @api.get("/directory")
    async def directory(request: Request) -> Response:
        viewer = await site.viewer(request)
        cards = await browse.live_cards(ctx, folder)
        tiles = await browse.category_tiles(ctx, cards)
        return site.render(request, "directory.html", {
            "tab": "browse", "cards": cards, "categories": tiles,
            "refresh": _refresh_seconds(ctx)}, viewer=viewer)

    @api.get("/directory/category/{category_id}")
    async def category_page(request: Request, category_id: str) -> Response:
        viewer = await site.viewer(request)
        found = (await browse.category(ctx, int(category_id))
                 if category_id.isdigit() and len(category_id) < 10 else None)
        if found is None:
            return site.not_found(request, viewer, "There is no such category.")
        cards = [c for c in await browse.live_cards(ctx, folder) if c.category_id == found.id]
        return site.render(request, "directory_category.html", {
            "category": found, "cards": cards, "viewers": sum(c.viewers for c in cards),
            "refresh": _refresh_seconds(ctx)}, viewer=viewer)

    @api.get("/directory/following")
    async def following(request: Request) -> Response:
        viewer = await site.require_viewer(request)
        if isinstance(viewer, Response):
            return viewer
        cards = await browse.live_cards(ctx, folder)
        mine, _ = browse.split_followed(cards, await browse.followed_ids(ctx, viewer.user_id))
        channels = await browse.followed_channels(ctx, viewer.user_id, {c.user_id for c in cards})
        return site.render(request, "directory_following.html", {
            "tab": "following", "cards": mine,
            "offline": [h for h in channels if not h.live],
            "refresh": _refresh_seconds(ctx)}, viewer=viewer)

    @api.get("/search")
    async def search(request: Request) -> Response:
        viewer = await site.viewer(request)
        query = " ".join(request.query_params.get("q", "").split())[:MAX_QUERY]
        context: dict[str, Any] = {"search_query": query, "channels": [], "categories": []}
        if query and query.isprintable():
            cards = await browse.live_cards(ctx, folder)
            context["channels"] = await browse.search_channels(
                ctx, query, {c.user_id for c in cards})
            context["categories"] = await browse.search_categories(ctx, query)
        return site.render(request, "search.html", context, viewer=viewer)

    @api.get("/directory/live.json")
    async def live_json() -> Response:
        """What the pages' script refreshes: each live channel's viewers and thumbnail."""
        cards = await browse.live_cards(ctx, folder)
        return JSONResponse({"streams": [
            {"login": c.login, "viewers": c.viewers, "thumbnail_url": c.thumbnail_url,
             "started_at": c.started_at} for c in cards]},
            headers={"Cache-Control": "no-store"})

    @api.get("/thumbnails/{name}")
    async def thumbnail(name: str) -> Response:
        return thumbnail_response(folder, name)

    return api
