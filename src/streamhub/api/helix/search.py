"""Helix search: channels by login/display name (live first) and categories by name."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import case, func, select

from streamhub.api.auth import Principal, requires
from streamhub.api.context import ApiContext
from streamhub.api.errors import ApiError
from streamhub.api.helix.games import game_json
from streamhub.api.helix.users import image_url
from streamhub.api.paging import Page, offset_envelope, page_params
from streamhub.api.times import rfc3339
from streamhub.channels import categories
from streamhub.channels.streams import live_streams
from streamhub.storage.models import Category, Channel, User

SearchQuery = Annotated[str, Query(min_length=1, max_length=100,
                                   description="Text to look for (case-insensitive)")]


def nonblank(query: str) -> str:
    text = query.strip().lower()
    if not text:
        raise ApiError(400, "Invalid parameter 'query': must not be blank")
    return text


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(prefix="/helix/search", tags=["search"])
    any_token = requires(ctx)

    @api.get("/channels", summary="Channels whose login or display name contains the query")
    async def search_channels(
        request: Request, query: SearchQuery, who: Annotated[Principal, Depends(any_token)],
        page: Annotated[Page, Depends(page_params)], live_only: bool = False,
    ) -> dict[str, Any]:
        q = nonblank(query)
        live = {s.user_id: s for s in await live_streams(ctx.sessions)}
        login = func.lower(User.login)
        stmt = (select(User.id, User.login, User.display_name, User.profile_image_key,
                       Channel.title, Channel.category_id, Category.name, Channel.tags,
                       Channel.language)
                .join(Channel, Channel.user_id == User.id)
                .outerjoin(Category, Category.id == Channel.category_id)
                .where(login.contains(q, autoescape=True)
                       | func.lower(User.display_name).contains(q, autoescape=True)))
        if live_only:
            stmt = stmt.where(User.id.in_(sorted(live)))
        stmt = stmt.order_by(case((User.id.in_(sorted(live)), 0), else_=1),
                             case((login == q, 0), (login.startswith(q, autoescape=True), 1),
                                  else_=2), login)
        async with ctx.sessions() as session:
            rows = (await session.execute(
                stmt.offset(page.offset()).limit(page.first + 1))).all()
        data = []
        for r in rows:
            stream = live.get(r.id)
            data.append({
                "broadcaster_language": r.language, "broadcaster_login": r.login,
                "display_name": r.display_name, "game_id": str(r.category_id or ""),
                "game_name": r.name or "", "id": str(r.id), "is_live": stream is not None,
                "tags": r.tags.split() if r.tags else [], "tag_ids": [],
                "thumbnail_url": image_url(request, r.profile_image_key), "title": r.title,
                "started_at": rfc3339(stream.started_at) if stream else ""})
        return offset_envelope(data, page)

    @api.get("/categories", summary="Categories whose name contains the query")
    async def search_categories(
        request: Request, query: SearchQuery, who: Annotated[Principal, Depends(any_token)],
        page: Annotated[Page, Depends(page_params)],
    ) -> dict[str, Any]:
        found = await categories.search(ctx.sessions, nonblank(query), page.offset(),
                                        page.first + 1)
        return offset_envelope([game_json(request, c) for c in found], page)

    return api
