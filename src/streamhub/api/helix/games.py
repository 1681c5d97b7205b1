"""Helix games (categories): lookups by id/name/IGDB id, top categories, box art placeholders."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from streamhub.api.auth import Principal, requires
from streamhub.api.context import ApiContext
from streamhub.api.errors import ApiError
from streamhub.api.paging import Page, check_ids, int_ids, offset_envelope, page_params
from streamhub.channels import categories
from streamhub.channels.categories import CategoryInfo

Repeated = Annotated[list[str] | None, Query(description="Repeatable filter (up to 100)")]
SVG_HEADERS = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff",
               "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}


def game_json(request: Request, c: CategoryInfo) -> dict[str, Any]:
    return {"id": str(c.id), "name": c.name,
            "box_art_url": categories.box_art_url(str(request.base_url), c.id),
            "igdb_id": c.igdb_id}


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(tags=["games"])
    any_token = requires(ctx)

    @api.get("/helix/games", summary="Categories by ID, name or IGDB ID")
    async def get_games(
        request: Request, who: Annotated[Principal, Depends(any_token)],
        id: Repeated = None, name: Repeated = None, igdb_id: Repeated = None,
    ) -> dict[str, Any]:
        ids = int_ids(id or [], "id")
        names = check_ids(name or [], "name")
        igdb = int_ids(igdb_id or [], "igdb_id")
        if not (ids or names or igdb):
            raise ApiError(400, "Specify at least one 'id', 'name' or 'igdb_id'")
        if len(ids) + len(names) + len(igdb) > 100:
            raise ApiError(400, "At most 100 'id', 'name' and 'igdb_id' values together")
        found = await categories.lookup(ctx.sessions, ids=ids, names=names,
                                        igdb_ids=[str(i) for i in igdb])
        return {"data": [game_json(request, c) for c in found]}

    @api.get("/helix/games/top", summary="Categories by number of live channels")
    async def top_games(
        request: Request, who: Annotated[Principal, Depends(any_token)],
        page: Annotated[Page, Depends(page_params)],
    ) -> dict[str, Any]:
        found = await categories.top(ctx.sessions, page.offset(), page.first + 1)
        return offset_envelope([game_json(request, c) for c in found], page)

    @api.get("/images/boxart/{name}", include_in_schema=False)
    async def box_art(name: str) -> Response:
        stem, _, ext = name.partition(".")
        cid, _, size = stem.partition("-")
        width, _, height = size.partition("x")
        if not (ext == "svg" and cid.isdigit() and len(cid) < 10 and width.isdigit()
                and height.isdigit() and 1 <= int(width) <= 4096 and 1 <= int(height) <= 4096):
            raise ApiError(404, "No such image")
        found = await categories.lookup(ctx.sessions, ids=[int(cid)])
        if not found:
            raise ApiError(404, "No such image")
        return Response(categories.box_art_svg(found[0].name, int(width), int(height)),
                        media_type="image/svg+xml", headers=SVG_HEADERS)

    return api
