"""Helix channels: GET/PATCH /helix/channels, followers, followed, editors, and the StreamHub
extensions for about panels and social links."""

from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from streamhub.api.auth import Principal, authorize_channel, channel_roles, is_admin, requires
from streamhub.api.context import ApiContext
from streamhub.api.errors import ApiError
from streamhub.api.helix.users import image_url, read_limited
from streamhub.api.paging import Page, int_ids, offset_envelope, page_params
from streamhub.api.people import Person, parse_user_id, person
from streamhub.api.times import rfc3339
from streamhub.channels import follows, profile, roles
from streamhub.channels.profile import ChannelInfo, ChannelUpdate, ProfileError
from streamhub.storage.models import ChannelRole, User


def channel_json(c: ChannelInfo) -> dict[str, Any]:
    return {
        "broadcaster_id": str(c.user_id), "broadcaster_login": c.login,
        "broadcaster_name": c.display_name, "broadcaster_language": c.language,
        "game_id": str(c.category_id or ""), "game_name": c.category_name, "title": c.title,
        "delay": 0, "tags": c.tags, "content_classification_labels": [],
        "is_branded_content": False, "is_mature": c.is_mature, "accent_color": c.accent_color,
    }


class ChannelPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    game_id: str | None = Field(default=None, max_length=18, pattern=r"^[0-9]*$",
                                description='Category ID; "" or "0" clears it')
    broadcaster_language: str | None = Field(default=None, max_length=8)
    title: str | None = Field(default=None, max_length=140)
    delay: int | None = Field(default=None, ge=0, le=900)
    tags: list[str] | None = Field(default=None, max_length=10)
    is_mature: bool | None = Field(default=None, description="StreamHub extension")
    accent_color: str | None = Field(default=None, pattern=r"^#[0-9A-Fa-f]{6}$",
                                     description="StreamHub extension: #RRGGBB")
    content_classification_labels: list[dict[str, Any]] | None = Field(
        default=None, max_length=20, description="Accepted and ignored")
    is_branded_content: bool | None = Field(default=None, description="Accepted and ignored")


class PanelItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(default="", max_length=100)
    body: str = Field(default="", max_length=2000)
    link_url: str | None = Field(default=None, max_length=500)
    image_url: str | None = Field(default=None, max_length=500, description=(
        "An image_url from PUT /helix/channels/panels/image of this channel (or empty)"))


def panel_image_key(url: str | None) -> str | None:
    """The stored key behind a panel image URL this API gave out (checked later)."""
    if not url:
        return None
    path = urlsplit(url).path
    if not path.startswith("/images/panel/"):
        raise ApiError(400, "Invalid 'image_url': upload it with PUT /helix/channels/panels/image")
    return path.removeprefix("/images/")


class PanelsBody(BaseModel):
    data: list[PanelItem] = Field(max_length=profile.MAX_PANELS)


class LinkItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=64)
    url: str = Field(min_length=1, max_length=500)


class LinksBody(BaseModel):
    data: list[LinkItem] = Field(max_length=profile.MAX_SOCIAL_LINKS)


BroadcasterIds = Annotated[list[str], Query(description="Broadcaster ID (repeatable, up to 100)")]


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(prefix="/helix", tags=["channels"])
    any_token = requires(ctx)
    manage = requires(ctx, "channel:manage:broadcast", user=True)
    read_follows = requires(ctx, "user:read:follows", user=True)
    read_editors = requires(ctx, "channel:read:editors", user=True)
    manage_editors = requires(ctx, "channel:manage:editors", user=True)

    @api.get("/channels", summary="Channel information of one or more broadcasters")
    async def get_channels(
        broadcaster_id: BroadcasterIds, who: Annotated[Principal, Depends(any_token)],
    ) -> dict[str, Any]:
        ids = int_ids(broadcaster_id, "broadcaster_id")
        return {"data": [channel_json(c) for c in await profile.channels(ctx.sessions, ids)]}

    @api.patch("/channels", status_code=204,
               summary="Update title, category, language, tags (broadcaster or editor)")
    async def patch_channel(
        broadcaster_id: str, body: ChannelPatch, who: Annotated[Principal, Depends(manage)],
    ) -> Response:
        channel = await person(ctx, broadcaster_id, "broadcaster_id")
        await authorize_channel(ctx, who, channel.id, ("broadcaster", "editor"))
        if body.model_dump(exclude_none=True) == {}:
            raise ApiError(400, "No fields to update: send at least one field in the body")
        if body.delay:
            raise ApiError(400, "Stream delay is not supported (delay must be 0)")
        if body.title is not None and not body.title.strip():
            raise ApiError(400, "The title must not be empty")
        change = ChannelUpdate(
            title=body.title, language=body.broadcaster_language, tags=body.tags,
            is_mature=body.is_mature, accent_color=body.accent_color,
            category_id=None if body.game_id is None else int(body.game_id or 0))
        try:
            info = await profile.update_channel(ctx.sessions, channel.id, change)
        except ProfileError as exc:
            raise ApiError(400, str(exc)) from None
        if change.changed & {"title", "language", "category_id", "tags", "is_mature"}:
            ctx.events.emit("channel.update", {
                **channel.fields("broadcaster_user"), "title": info.title,
                "language": info.language, "category_id": str(info.category_id or ""),
                "category_name": info.category_name, "content_classification_labels": []})
        return Response(status_code=204)

    @api.get("/channels/followers", summary="A channel's followers (list for the broadcaster "
             "and moderators with moderator:read:followers; otherwise only the total)")
    async def channel_followers(
        broadcaster_id: str, who: Annotated[Principal, Depends(any_token)],
        page: Annotated[Page, Depends(page_params)], user_id: str | None = None,
    ) -> dict[str, Any]:
        channel = await person(ctx, broadcaster_id, "broadcaster_id")
        uid = parse_user_id(user_id, "user_id") if user_id is not None else None
        allowed = False
        if who.user_id is not None and "moderator:read:followers" in who.scopes:
            roles = await channel_roles(ctx, channel.id, who.user_id)
            allowed = bool(roles & {"broadcaster", "moderator"}) or await is_admin(
                ctx, who.user_id)
        rows, total = await follows.followers(ctx.sessions, channel.id, user_id=uid,
                                              offset=page.offset(), limit=page.first + 1)
        if not allowed:
            return {"total": total, "data": [], "pagination": {}}
        data = [{**Person(r.user_id, r.login, r.display_name).fields("user"),
                 "followed_at": rfc3339(r.followed_at)} for r in rows]
        return offset_envelope(data, page, total=total)

    @api.get("/channels/followed", summary="Channels the token user follows")
    async def channels_followed(
        user_id: str, who: Annotated[Principal, Depends(read_follows)],
        page: Annotated[Page, Depends(page_params)], broadcaster_id: str | None = None,
    ) -> dict[str, Any]:
        who.require_self(parse_user_id(user_id, "user_id"), "user_id")
        cid = parse_user_id(broadcaster_id, "broadcaster_id") if broadcaster_id else None
        rows, total = await follows.followed(ctx.sessions, who.require_user(), channel_id=cid,
                                             offset=page.offset(), limit=page.first + 1)
        data = [{**Person(r.user_id, r.login, r.display_name).fields("broadcaster"),
                 "followed_at": rfc3339(r.followed_at)} for r in rows]
        return offset_envelope(data, page, total=total)

    @api.get("/channels/editors", summary="The channel's editors (broadcaster only)")
    async def channel_editors(
        broadcaster_id: str, who: Annotated[Principal, Depends(read_editors)],
    ) -> dict[str, Any]:
        channel = await person(ctx, broadcaster_id, "broadcaster_id")
        await authorize_channel(ctx, who, channel.id, ("broadcaster",))
        async with ctx.sessions() as session:
            rows = await session.execute(
                select(User.id, User.display_name, ChannelRole.created_at)
                .join(ChannelRole, ChannelRole.user_id == User.id)
                .where(ChannelRole.channel_id == channel.id, ChannelRole.role == "editor")
                .order_by(ChannelRole.created_at, User.id))
            data = [{"user_id": str(r.id), "user_name": r.display_name,
                     "created_at": rfc3339(r.created_at)} for r in rows]
        return {"data": data}

    async def change_editor(broadcaster_id: str, user_id: str, who: Principal,
                            present: bool) -> Response:
        channel = await person(ctx, broadcaster_id, "broadcaster_id")
        who.require_self(channel.id)
        try:
            await roles.set_editor(ctx.sessions, channel.id, parse_user_id(user_id, "user_id"),
                                   present)
        except roles.RoleError as exc:
            raise ApiError(400, str(exc)) from None
        return Response(status_code=204)

    @api.post("/channels/editors", status_code=204,
              summary="StreamHub extension: add an editor (broadcaster only)")
    async def add_editor(
        broadcaster_id: str, user_id: str, who: Annotated[Principal, Depends(manage_editors)],
    ) -> Response:
        return await change_editor(broadcaster_id, user_id, who, True)

    @api.delete("/channels/editors", status_code=204,
                summary="StreamHub extension: remove an editor (broadcaster only)")
    async def remove_editor(
        broadcaster_id: str, user_id: str, who: Annotated[Principal, Depends(manage_editors)],
    ) -> Response:
        return await change_editor(broadcaster_id, user_id, who, False)

    # ---- StreamHub extensions: about panels and social links ----

    def panel_json(request: Request, p: profile.Panel) -> dict[str, Any]:
        return {"id": str(p.id), "position": p.position, "title": p.title, "body": p.body,
                "link_url": p.link_url or "", "image_url": image_url(request, p.image_key)}

    @api.get("/channels/panels", summary="StreamHub extension: a channel's about panels")
    async def get_panels(
        request: Request, broadcaster_id: str, who: Annotated[Principal, Depends(any_token)],
    ) -> dict[str, Any]:
        channel = await person(ctx, broadcaster_id, "broadcaster_id")
        return {"data": [panel_json(request, p)
                         for p in await profile.panels(ctx.sessions, channel.id)]}

    @api.put("/channels/panels/image", summary="StreamHub extension: upload a panel image "
             "(raw PNG, GIF, WebP or JPEG body with its Content-Type; at most 1 MiB, 1024 px); "
             "answers its image_url for PUT /channels/panels")
    async def put_panel_image(
        request: Request, broadcaster_id: str, who: Annotated[Principal, Depends(manage)],
    ) -> dict[str, Any]:
        channel = await person(ctx, broadcaster_id, "broadcaster_id")
        await authorize_channel(ctx, who, channel.id, ("broadcaster", "editor"))
        data = await read_limited(request, profile.PANEL_IMAGE_BYTES)
        if not data:
            raise ApiError(400, "Missing image: send the image file as the request body")
        try:
            key = await profile.store_panel_image(ctx.blobs, channel.id, data,
                                                  request.headers.get("content-type", ""))
        except ProfileError as exc:
            raise ApiError(400, str(exc)) from None
        return {"data": [{"image_url": image_url(request, key)}]}

    @api.put("/channels/panels", summary="StreamHub extension: replace the about panels "
             f"(at most {profile.MAX_PANELS}; broadcaster or editor)")
    async def put_panels(
        request: Request, broadcaster_id: str, body: PanelsBody,
        who: Annotated[Principal, Depends(manage)],
    ) -> dict[str, Any]:
        channel = await person(ctx, broadcaster_id, "broadcaster_id")
        await authorize_channel(ctx, who, channel.id, ("broadcaster", "editor"))
        try:
            found = await profile.replace_panels(ctx.sessions, channel.id, [
                profile.PanelInput(p.title, p.body, p.link_url or None,
                                   panel_image_key(p.image_url)) for p in body.data],
                ctx.blobs)
        except ProfileError as exc:
            raise ApiError(400, str(exc)) from None
        return {"data": [panel_json(request, p) for p in found]}

    @api.get("/channels/social_links", summary="StreamHub extension: a channel's social links")
    async def get_links(
        broadcaster_id: str, who: Annotated[Principal, Depends(any_token)],
    ) -> dict[str, Any]:
        channel = await person(ctx, broadcaster_id, "broadcaster_id")
        return {"data": [{"id": str(s.id), "position": s.position, "title": s.title,
                          "url": s.url}
                         for s in await profile.social_links(ctx.sessions, channel.id)]}

    @api.put("/channels/social_links", summary="StreamHub extension: replace the social links "
             f"(at most {profile.MAX_SOCIAL_LINKS}; broadcaster or editor)")
    async def put_links(
        broadcaster_id: str, body: LinksBody, who: Annotated[Principal, Depends(manage)],
    ) -> dict[str, Any]:
        channel = await person(ctx, broadcaster_id, "broadcaster_id")
        await authorize_channel(ctx, who, channel.id, ("broadcaster", "editor"))
        try:
            found = await profile.replace_social_links(ctx.sessions, channel.id, [
                profile.LinkInput(x.title, x.url) for x in body.data])
        except ProfileError as exc:
            raise ApiError(400, str(exc)) from None
        return {"data": [{"id": str(s.id), "position": s.position, "title": s.title,
                          "url": s.url} for s in found]}

    return api
