"""Helix streams: live streams (filters, viewer counts), followed live streams, stream keys."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from streamhub.api.auth import Principal, authorize_channel, requires
from streamhub.api.context import ApiContext
from streamhub.api.errors import ApiError
from streamhub.api.helix.games import SVG_HEADERS
from streamhub.api.paging import Page, check_ids, int_ids, offset_envelope, page_params
from streamhub.api.people import parse_user_id, person
from streamhub.api.times import rfc3339
from streamhub.channels import follows
from streamhub.channels.categories import box_art_svg
from streamhub.channels.service import LOGIN_RE, AccountError
from streamhub.channels.streams import LiveStream, matches

Repeated = Annotated[list[str] | None, Query(description="Repeatable filter (up to 100)")]


async def viewer_count(ctx: ApiContext, login: str) -> int:
    """Viewers = connections to the channel's chat room across nodes (the watch page joins
    chat anonymously), as counted by chat presence."""
    room = ctx.chat.rooms.get(login)
    local = ctx.chat.local_counts(room) if room is not None else (0, 0)
    try:
        connections, _ = await ctx.presence.totals(login, local)
    except Exception:  # Redis away: this node's own count
        connections = local[0]
    return connections


def thumbnail_url(request: Request, login: str) -> str:
    """Twitch's template: the live thumbnail (web/thumbnails.py) at {width}x{height}."""
    return (f"{str(request.base_url).rstrip('/')}/thumbnails/{login}"
            "-{width}x{height}.jpg")


def stream_json(request: Request, s: LiveStream, viewers: int) -> dict[str, Any]:
    return {
        "id": str(s.id), "user_id": str(s.user_id), "user_login": s.login,
        "user_name": s.display_name, "game_id": str(s.category_id or ""),
        "game_name": s.category_name, "type": "live", "title": s.title, "tags": s.tags,
        "viewer_count": viewers, "started_at": rfc3339(s.started_at), "language": s.language,
        "thumbnail_url": thumbnail_url(request, s.login), "tag_ids": [],
        "is_mature": s.is_mature,
    }


async def listing(ctx: ApiContext, request: Request, page: Page, **filters: Any,
                  ) -> dict[str, Any]:
    """Live streams matching `filters` (see channels.streams.matches), most viewers first,
    then by start time; offset-paged. Served from the node's LiveDirectory."""
    everything = await ctx.live.listing(lambda login: viewer_count(ctx, login))
    counted = [(v, s) for v, s in everything if matches(s, **filters)]
    start = page.offset()
    rows = [stream_json(request, s, v) for v, s in counted[start:start + page.first + 1]]
    return offset_envelope(rows, page)


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(tags=["streams"])
    any_token = requires(ctx)
    read_follows = requires(ctx, "user:read:follows", user=True)
    read_key = requires(ctx, "channel:read:stream_key", user=True)
    reset_key = requires(ctx, "channel:read:stream_key", "channel:manage:broadcast", user=True)

    @api.get("/helix/streams", summary="Live streams, most viewers first")
    async def get_streams(
        request: Request, who: Annotated[Principal, Depends(any_token)],
        page: Annotated[Page, Depends(page_params)],
        user_id: Repeated = None, user_login: Repeated = None, game_id: Repeated = None,
        language: Repeated = None, type: Literal["all", "live"] = "all",
    ) -> dict[str, Any]:
        ids = int_ids(user_id or [], "user_id")
        logins = [x.lower() for x in check_ids(user_login or [], "user_login")]
        if len(ids) + len(logins) > 100:
            raise ApiError(400, "At most 100 'user_id' and 'user_login' values together")
        return await listing(
            ctx, request, page, user_ids=set(ids), logins=set(logins),
            category_ids=set(int_ids(game_id or [], "game_id")),
            languages={x.lower() for x in check_ids(language or [], "language")})

    @api.get("/helix/streams/followed", summary="Live streams of channels the user follows")
    async def followed_streams(
        request: Request, user_id: str, who: Annotated[Principal, Depends(read_follows)],
        page: Annotated[Page, Depends(page_params)],
    ) -> dict[str, Any]:
        who.require_self(parse_user_id(user_id, "user_id"), "user_id")
        ids = await follows.followed_ids(ctx.sessions, who.require_user())
        if not ids:
            return offset_envelope([], page)
        return await listing(ctx, request, page, user_ids=set(ids))

    async def key_of(who: Principal, broadcaster_id: str) -> str:
        channel = await person(ctx, broadcaster_id, "broadcaster_id")
        await authorize_channel(ctx, who, channel.id, ("broadcaster",), admin=False)
        return channel.login

    @api.get("/helix/streams/key", summary="The broadcaster's stream key")
    async def get_key(
        broadcaster_id: str, who: Annotated[Principal, Depends(read_key)],
    ) -> dict[str, Any]:
        user = await ctx.channels.get_user(await key_of(who, broadcaster_id))
        if user is None or user.stream_key is None:
            raise ApiError(404, "The channel has no stream key")
        return {"data": [{"stream_key": user.stream_key}]}

    @api.post("/helix/streams/key/reset", summary="StreamHub extension: issue a new stream key; "
              "the old one stops working at once (also for a live encoder's reconnect)")
    async def post_reset_key(
        broadcaster_id: str, who: Annotated[Principal, Depends(reset_key)],
    ) -> dict[str, Any]:
        login = await key_of(who, broadcaster_id)
        try:
            key = await ctx.channels.reset_stream_key(login)
        except AccountError as exc:
            raise ApiError(400, str(exc)) from None
        return {"data": [{"stream_key": key}]}

    @api.get("/images/thumbnails/{name}", include_in_schema=False)
    async def thumbnail(name: str) -> Response:
        """A generated placeholder preview (older thumbnail_url form; the live JPEG is at
        /thumbnails/<login>-<w>x<h>.jpg)."""
        login, _, rest = name.partition("-")
        size, _, ext = rest.partition(".")
        width, _, height = size.partition("x")
        if (not LOGIN_RE.fullmatch(login) or ext != "svg" or not width.isdigit()
                or not height.isdigit() or not (1 <= int(width) <= 4096)
                or not (1 <= int(height) <= 4096)):
            raise ApiError(404, "No such image")
        return Response(box_art_svg(login, int(width), int(height)), media_type="image/svg+xml",
                        headers={**SVG_HEADERS, "Cache-Control": "public, max-age=60"})

    return api
