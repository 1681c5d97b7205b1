"""Helix chat: settings (room modes), emotes, badges, chatters, name colors, announcements and
sending messages — each backed by ChatService, so changes show up in chat immediately."""

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from streamhub.api.auth import Principal, requires
from streamhub.api.context import ApiContext
from streamhub.api.errors import ApiError, query_model
from streamhub.api.helix.chatauth import (
    MESSAGE_ID,
    ONE_LINE,
    acting_moderator,
    chat_refusal,
    chat_user,
)
from streamhub.api.paging import Page, int_ids, offset_envelope, page_params
from streamhub.api.people import people_by_id, person
from streamhub.chat.emoteart import badge_png
from streamhub.chat.http import BADGES
from streamhub.chat.service import ChatError, ChatUser, Room
from streamhub.chat.store import EmoteInfo, RoomSnapshot

ANNOUNCEMENT_COLORS = ("blue", "green", "orange", "purple", "primary")
SCALES = ["1.0", "2.0", "3.0"]
THEMES = ["light", "dark"]
DEFAULT_SLOW = 30  # seconds, when slow mode is turned on without a wait time


class SettingsPatch(BaseModel):
    """PATCH /helix/chat/settings body: only the fields to change."""

    model_config = ConfigDict(extra="forbid")

    emote_mode: bool | None = None
    follower_mode: bool | None = None
    follower_mode_duration: int | None = Field(default=None, ge=0, le=129_600,
                                               description="Minutes (0-129600)")
    non_moderator_chat_delay: bool | None = None
    non_moderator_chat_delay_duration: int | None = None
    slow_mode: bool | None = None
    slow_mode_wait_time: int | None = Field(default=None, ge=3, le=120,
                                            description="Seconds (3-120)")
    subscriber_mode: bool | None = None
    unique_chat_mode: bool | None = None


class Announcement(BaseModel):
    message: str = Field(min_length=1, max_length=500, pattern=ONE_LINE)
    color: str = Field(default="primary", description="blue, green, orange, purple or primary")


class ChatMessageBody(BaseModel):
    broadcaster_id: str = Field(min_length=1, max_length=18, pattern=r"^[1-9][0-9]*$")
    sender_id: str = Field(min_length=1, max_length=18, pattern=r"^[1-9][0-9]*$")
    message: str = Field(min_length=1, max_length=500, pattern=ONE_LINE)
    reply_parent_message_id: str | None = Field(default=None, pattern=MESSAGE_ID)


def settings_json(s: RoomSnapshot, moderator_id: str | None) -> dict[str, Any]:
    return {
        "broadcaster_id": str(s.channel.id),
        "slow_mode": s.slow > 0, "slow_mode_wait_time": s.slow or None,
        "follower_mode": s.followers_only >= 0,
        "follower_mode_duration": s.followers_only if s.followers_only >= 0 else None,
        "subscriber_mode": s.subs_only, "emote_mode": s.emote_only,
        "unique_chat_mode": s.r9k,
        "non_moderator_chat_delay": False, "non_moderator_chat_delay_duration": None,
        "moderator_id": moderator_id or "",
    }


def mode_changes(room: Room, body: SettingsPatch) -> dict[str, Any]:
    """The ChatService.set_modes arguments for a settings PATCH (400 for contradictions and
    for the chat delay, which this server does not implement)."""
    if body.non_moderator_chat_delay_duration is not None and (
        body.non_moderator_chat_delay_duration not in (2, 4, 6)
    ):
        raise ApiError(400, "Invalid body field 'non_moderator_chat_delay_duration': "
                       "must be 2, 4 or 6")
    if body.non_moderator_chat_delay or body.non_moderator_chat_delay_duration is not None:
        raise ApiError(400, "non_moderator_chat_delay is not supported by this server")
    changes: dict[str, Any] = {}
    snap = room.snap
    if body.slow_mode is False:
        if body.slow_mode_wait_time is not None:
            raise ApiError(400, "slow_mode_wait_time needs slow_mode true")
        changes["slow"] = 0
    elif body.slow_mode or body.slow_mode_wait_time is not None:
        changes["slow"] = body.slow_mode_wait_time or snap.slow or DEFAULT_SLOW
    if body.follower_mode is False:
        if body.follower_mode_duration is not None:
            raise ApiError(400, "follower_mode_duration needs follower_mode true")
        changes["followers_only"] = -1
    elif body.follower_mode or body.follower_mode_duration is not None:
        duration = body.follower_mode_duration
        changes["followers_only"] = duration if duration is not None else max(
            snap.followers_only, 0)
    if body.subscriber_mode is not None:
        changes["subs_only"] = body.subscriber_mode
    if body.emote_mode is not None:
        changes["emote_only"] = body.emote_mode
    if body.unique_chat_mode is not None:
        changes["r9k"] = body.unique_chat_mode
    return changes


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(prefix="/helix", tags=["chat"])
    any_token = requires(ctx)
    badge_cache: dict[tuple[str, str], bytes] = {}

    async def room_of(login: str) -> Room:
        room = await ctx.chat.open_room(login)
        if room is None:
            raise ApiError(400, "Invalid 'broadcaster_id'")
        return room

    # ---- settings ----

    @api.get("/chat/settings", summary="A channel's chat settings")
    async def get_settings(
        broadcaster_id: str, who: Annotated[Principal, Depends(any_token)],
        moderator_id: str | None = None,
    ) -> dict[str, Any]:
        channel = await person(ctx, broadcaster_id, "broadcaster_id")
        if moderator_id is not None:
            if "moderator:read:chat_settings" not in who.scopes and (
                "moderator:manage:chat_settings" not in who.scopes
            ):
                raise ApiError(401, "Missing scope: moderator:read:chat_settings")
            await acting_moderator(ctx, who, broadcaster_id, moderator_id)
        room = ctx.chat.rooms.get(channel.login)  # read without opening (and keeping) a room
        snap = room.snap if room is not None else await ctx.chat.store.load_room(
            channel.login, time.time())
        if snap is None:
            raise ApiError(400, "Invalid 'broadcaster_id'")
        return {"data": [settings_json(snap, moderator_id)]}

    manage_settings = requires(ctx, "moderator:manage:chat_settings", user=True)

    @api.patch("/chat/settings", summary="Change a channel's chat settings")
    async def patch_settings(
        body: SettingsPatch, broadcaster_id: str, moderator_id: str,
        who: Annotated[Principal, Depends(manage_settings)],
    ) -> dict[str, Any]:
        channel, moderator = await acting_moderator(ctx, who, broadcaster_id, moderator_id)
        room = await room_of(channel.login)
        changes = mode_changes(room, body)
        if changes:
            try:
                await ctx.chat.set_modes(channel.login, moderator, **changes)
            except ChatError as exc:
                raise chat_refusal(exc) from None
        return {"data": [settings_json(room.snap, moderator_id)]}

    # ---- emotes and badges ----

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def emote_json(request: Request, e: EmoteInfo, channel: bool) -> dict[str, Any]:
        url = f"{base(request)}/emotes/{e.id}"
        out: dict[str, Any] = {
            "id": e.id, "name": e.code,
            "images": {"url_1x": url, "url_2x": url, "url_4x": url},
            "format": ["static", "animated"] if e.format == "gif" else ["static"],
            "scale": SCALES, "theme_mode": THEMES,
        }
        if channel:
            out.update({"tier": str(e.tier * 1000) if e.tier else "",
                        "emote_type": "subscriptions" if e.tier else "channel",
                        "emote_set_id": f"{e.channel_id}_{e.tier}" if e.tier else "0"})
        return out

    def template(request: Request) -> str:
        return (f"{base(request)}/emotes/{{{{id}}}}?format={{{{format}}}}"
                f"&theme_mode={{{{theme_mode}}}}&scale={{{{scale}}}}")

    @api.get("/chat/emotes", summary="A channel's custom emotes")
    async def channel_emotes(
        request: Request, broadcaster_id: str, who: Annotated[Principal, Depends(any_token)],
    ) -> dict[str, Any]:
        channel = await person(ctx, broadcaster_id, "broadcaster_id")
        emotes = await ctx.chat.store.emotes_of(channel.id)
        return {"data": [emote_json(request, e, True) for e in emotes],
                "template": template(request)}

    @api.get("/chat/emotes/global", summary="Emotes everyone may use")
    async def global_emotes(
        request: Request, who: Annotated[Principal, Depends(any_token)],
    ) -> dict[str, Any]:
        emotes = sorted(ctx.chat.global_emotes.values(), key=lambda e: e.code)
        return {"data": [emote_json(request, e, False) for e in emotes],
                "template": template(request)}

    def badge_sets(request: Request) -> list[dict[str, Any]]:
        out = []
        for set_id, versions in BADGES.items():
            images = f"{base(request)}/helix/chat/badges/images/{set_id}"
            out.append({"set_id": set_id, "versions": [{
                "id": version,
                **{f"image_url_{n}x": f"{images}/{version}.png" for n in (1, 2, 4)},
                "title": title, "description": title, "click_action": None, "click_url": None,
            } for version, title in versions.items()]})
        return out

    @api.get("/chat/badges/global", summary="Chat badges of the whole site")
    async def global_badges(
        request: Request, who: Annotated[Principal, Depends(any_token)],
    ) -> dict[str, Any]:
        return {"data": badge_sets(request)}

    @api.get("/chat/badges", summary="A channel's custom chat badges (none on this server)")
    async def channel_badges(
        broadcaster_id: str, who: Annotated[Principal, Depends(any_token)],
    ) -> dict[str, Any]:
        await person(ctx, broadcaster_id, "broadcaster_id")
        return {"data": []}

    @api.get("/chat/badges/images/{set_id}/{version}.png", include_in_schema=False)
    async def badge_image(set_id: str, version: str) -> Response:
        if version not in BADGES.get(set_id, {}):
            raise ApiError(404, "No such badge")
        key = (set_id, version)
        if key not in badge_cache:
            badge_cache[key] = badge_png(f"{set_id}/{version}", 72)
        return Response(badge_cache[key], media_type="image/png", headers={
            "Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"})

    # ---- chatters ----

    read_chatters = requires(ctx, "moderator:read:chatters", user=True)

    @api.get("/chat/chatters", summary="Users connected to a channel's chat")
    async def chatters(
        broadcaster_id: str, moderator_id: str,
        who: Annotated[Principal, Depends(read_chatters)],
        page: Annotated[Page, Depends(page_params)],
    ) -> dict[str, Any]:
        channel, _ = await acting_moderator(ctx, who, broadcaster_id, moderator_id)
        room = ctx.chat.rooms.get(channel.login)
        local = ctx.chat.local_chatters(room) if room is not None else frozenset()
        found: dict[str, dict[str, Any]] = {}
        for entry in await ctx.presence.chatters(channel.login, local):  # every node's
            uid, login, name = entry.split(" ", 2)
            found[login] = {"user_id": uid, "user_login": login, "user_name": name}
        everyone = [found[login] for login in sorted(found)]
        start = page.offset()
        return offset_envelope(everyone[start:start + page.first + 1], page,
                               total=len(everyone))

    # ---- colors ----

    @api.get("/chat/color", summary="Users' chat name colors")
    async def get_colors(
        who: Annotated[Principal, Depends(any_token)],
        user_id: Annotated[list[str] | None, Query(description="User ID (repeatable)")] = None,
    ) -> dict[str, Any]:
        ids = int_ids(user_id or [], "user_id")
        if not ids:
            raise ApiError(400, "Missing required parameter 'user_id'")
        people = await people_by_id(ctx, ids)
        data = []
        for uid in dict.fromkeys(ids):
            if uid in people:
                u = await chat_user(ctx, uid)
                data.append({**people[uid].fields("user"), "color": u.color or ""})
        return {"data": data}

    manage_color = requires(ctx, "user:manage:chat_color", user=True)

    @api.put("/chat/color", status_code=204, summary="Change your chat name color")
    async def put_color(
        user_id: str, color: Annotated[str, Query(min_length=1, max_length=32)],
        who: Annotated[Principal, Depends(manage_color)],
    ) -> Response:
        me = await person(ctx, user_id, "user_id")
        who.require_self(me.id, "user_id")
        try:
            await ctx.chat.set_color(await chat_user(ctx, me.id), color)
        except ChatError:
            raise ApiError(400, "Invalid 'color': use #RRGGBB or a Twitch color name such as "
                           "blue, coral or hot_pink") from None
        return Response(status_code=204)

    # ---- announcements and messages ----

    announce = requires(ctx, "moderator:manage:announcements", user=True)

    @api.post("/chat/announcements", status_code=204, summary="Send an announcement")
    async def send_announcement(
        body: Announcement, broadcaster_id: str, moderator_id: str,
        who: Annotated[Principal, Depends(announce)],
    ) -> Response:
        color = body.color.lower()
        if color not in ANNOUNCEMENT_COLORS:
            raise ApiError(400, "Invalid body field 'color': one of "
                           + ", ".join(ANNOUNCEMENT_COLORS))
        channel, mod = await acting_moderator(ctx, who, broadcaster_id, moderator_id)
        is_broadcaster = mod.id == channel.id
        tags = {
            "badge-info": "", "badges": "broadcaster/1" if is_broadcaster else "moderator/1",
            "color": mod.shown_color, "display-name": mod.display_name, "emotes": "",
            "login": mod.login, "mod": "0" if is_broadcaster else "1",
            "msg-param-color": color.upper(), "subscriber": "0", "turbo": "0",
            "user-id": str(mod.id), "user-type": "" if is_broadcaster else "mod",
        }
        try:
            await ctx.chat.usernotice(channel.login, "announcement", "", tags, text=body.message)
        except ChatError as exc:
            raise chat_refusal(exc) from None
        return Response(status_code=204)

    write_chat = requires(ctx, "user:write:chat", user=True)

    @api.post("/chat/messages", summary="Send a chat message",
              description="Fields in the JSON body or, as Twitch also accepts, in the query.")
    async def send_message(
        request: Request, who: Annotated[Principal, Depends(write_chat)],
        given: ChatMessageBody | None = None,
    ) -> dict[str, Any]:
        body = given or query_model(ChatMessageBody, request)
        sender_id = int(body.sender_id)
        who.require_self(sender_id, "sender_id")
        channel = await person(ctx, body.broadcaster_id, "broadcaster_id")
        sender = await chat_user(ctx, sender_id)
        user = ChatUser(sender.id, sender.login, sender.display_name, sender.color, who.scopes,
                        sender.staff)
        try:
            message_id, done = await ctx.chat.submit_as(
                user, channel.login, body.message, reply_to=body.reply_parent_message_id)
            await done
        except ChatError as exc:
            return {"data": [{"message_id": "", "is_sent": False,
                              "drop_reason": {"code": exc.msg_id, "message": exc.text}}]}
        return {"data": [{"message_id": message_id, "is_sent": True, "drop_reason": None}]}

    return api
