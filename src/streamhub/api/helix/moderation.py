"""Helix moderation: bans and timeouts, moderators, VIPs, deleting chat messages, blocked terms.

Every write goes through ChatService, so it takes effect in chat at once (CLEARCHAT, CLEARMSG,
enforced bans) and is logged and reported like the same action from an IRC slash command.
"""

import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import aliased

from streamhub.api.auth import Principal, authorize_channel, requires
from streamhub.api.context import ApiContext
from streamhub.api.errors import ApiError
from streamhub.api.helix.chatauth import (
    MESSAGE_ID,
    ONE_LINE,
    acting_moderator,
    chat_refusal,
    chat_user,
    need_any,
    the_broadcaster,
)
from streamhub.api.paging import Page, int_ids, offset_envelope, page_params
from streamhub.api.people import MAX_ID, Person, person
from streamhub.api.times import rfc3339
from streamhub.chat.service import ChatError
from streamhub.storage.models import BlockedTerm, ChannelRole, ChatBan, User

MAX_TIMEOUT = 1_209_600  # two weeks, as Twitch
UserIds = Annotated[list[str] | None, Query(description="Filter by user ID (repeatable)")]


class BanData(BaseModel):
    model_config = ConfigDict(extra="ignore")

    user_id: str = Field(min_length=1, max_length=18, pattern=r"^[1-9][0-9]*$")
    duration: int | None = Field(default=None, ge=1, le=MAX_TIMEOUT,
                                 description="Timeout in seconds; absent for a permanent ban")
    reason: str = Field(default="", max_length=500, pattern=ONE_LINE)


class BanBody(BaseModel):
    data: BanData


class TermBody(BaseModel):
    text: str = Field(min_length=2, max_length=500, pattern=ONE_LINE)


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(prefix="/helix", tags=["moderation"])
    manage_bans = requires(ctx, "moderator:manage:banned_users", user=True)
    any_user = requires(ctx, user=True)
    manage_mods = requires(ctx, "channel:manage:moderators", user=True)
    manage_vips = requires(ctx, "channel:manage:vips", user=True)
    manage_messages = requires(ctx, "moderator:manage:chat_messages", user=True)

    async def role_rows(channel_id: int, role: str, ids: list[int], page: Page,
                        ) -> list[dict[str, Any]]:
        async with ctx.sessions() as session:
            q = (select(User.id, User.login, User.display_name)
                 .join(ChannelRole, ChannelRole.user_id == User.id)
                 .where(ChannelRole.channel_id == channel_id, ChannelRole.role == role))
            if ids:
                q = q.where(User.id.in_(ids))
            q = q.order_by(ChannelRole.created_at, User.id).offset(page.offset()).limit(
                page.first + 1)
            return [Person(r.id, r.login, r.display_name).fields("user")
                    for r in await session.execute(q)]

    # ---- bans ----

    @api.post("/moderation/bans", summary="Ban or time out a user")
    async def ban_user(
        body: BanBody, broadcaster_id: str, moderator_id: str,
        who: Annotated[Principal, Depends(manage_bans)],
    ) -> dict[str, Any]:
        channel, moderator = await acting_moderator(ctx, who, broadcaster_id, moderator_id)
        target = await person(ctx, body.data.user_id, "user_id")
        if target.id == channel.id:
            raise ApiError(400, "The broadcaster may not be banned")
        room = await ctx.chat.open_room(channel.login)
        if room is not None and room.ban_remaining(target.id, time.time()) == float("inf"):
            raise ApiError(400, "The user specified in the user_id field is already banned")
        try:
            await ctx.chat.ban(channel.login, moderator, target.login,
                               duration=body.data.duration, reason=body.data.reason)
        except ChatError as exc:
            raise chat_refusal(exc) from None
        now = datetime.now(UTC)
        end = None if body.data.duration is None else now + timedelta(
            seconds=body.data.duration)
        return {"data": [{
            "broadcaster_id": str(channel.id), "moderator_id": str(moderator.id),
            "user_id": str(target.id), "created_at": rfc3339(now),
            "end_time": None if end is None else rfc3339(end),
        }]}

    @api.delete("/moderation/bans", status_code=204, summary="Unban a user")
    async def unban_user(
        broadcaster_id: str, moderator_id: str, user_id: str,
        who: Annotated[Principal, Depends(manage_bans)],
    ) -> Response:
        channel, moderator = await acting_moderator(ctx, who, broadcaster_id, moderator_id)
        target = await person(ctx, user_id, "user_id")
        try:
            await ctx.chat.unban(channel.login, moderator, target.login)
        except ChatError as exc:
            raise chat_refusal(exc) from None
        return Response(status_code=204)

    @api.get("/moderation/banned", summary="Banned and timed-out users of a channel")
    async def banned_users(
        broadcaster_id: str, who: Annotated[Principal, Depends(any_user)],
        page: Annotated[Page, Depends(page_params)], user_id: UserIds = None,
    ) -> dict[str, Any]:
        need_any(who, "moderation:read", "moderator:manage:banned_users")
        channel = await person(ctx, broadcaster_id, "broadcaster_id")
        await authorize_channel(ctx, who, channel.id, ("broadcaster", "moderator"))
        ids = int_ids(user_id or [], "user_id")
        target, mod = aliased(User), aliased(User)
        now = datetime.now(UTC)
        q = (select(ChatBan, target.login, target.display_name, mod.login.label("m_login"),
                    mod.display_name.label("m_name"))
             .join(target, target.id == ChatBan.user_id)
             .outerjoin(mod, mod.id == ChatBan.moderator_id)
             .where(ChatBan.channel_id == channel.id,
                    (ChatBan.expires_at.is_(None)) | (ChatBan.expires_at > now)))
        if ids:
            q = q.where(ChatBan.user_id.in_(ids))
        q = q.order_by(ChatBan.created_at.desc(), ChatBan.user_id).offset(page.offset()).limit(
            page.first + 1)
        async with ctx.sessions() as session:
            rows = (await session.execute(q)).all()
        data = [{
            "user_id": str(ban.user_id), "user_login": login, "user_name": name,
            "expires_at": rfc3339(ban.expires_at), "created_at": rfc3339(ban.created_at),
            "reason": ban.reason,
            "moderator_id": "" if ban.moderator_id is None else str(ban.moderator_id),
            "moderator_login": m_login or "", "moderator_name": m_name or "",
        } for ban, login, name, m_login, m_name in rows]
        return offset_envelope(data, page)

    # ---- moderators and VIPs ----

    @api.get("/moderation/moderators", summary="Moderators of a channel")
    async def moderators(
        broadcaster_id: str, who: Annotated[Principal, Depends(any_user)],
        page: Annotated[Page, Depends(page_params)], user_id: UserIds = None,
    ) -> dict[str, Any]:
        need_any(who, "moderation:read", "channel:manage:moderators")
        channel = await the_broadcaster(ctx, who, broadcaster_id)
        rows = await role_rows(channel.id, "moderator", int_ids(user_id or [], "user_id"), page)
        return offset_envelope(rows, page)

    async def change_role(channel: Person, user_id: str, role: str, present: bool,
                          statuses: dict[str, int]) -> Response:
        target = await person(ctx, user_id, "user_id")
        room = await ctx.chat.open_room(channel.login)
        if room is None:
            raise ApiError(400, "Invalid 'broadcaster_id'")
        if target.id == channel.id:
            raise ApiError(400, "The broadcaster already has every role in their channel")
        other = room.snap.vips if role == "moderator" else room.snap.moderators
        if present and target.id in other:
            what = "a VIP. Remove them as a VIP first" if role == "moderator" else "a moderator"
            raise ApiError(422, f"The user in user_id is {what}")
        if present and room.ban_remaining(target.id, time.time()) is not None:
            raise ApiError(400, "The user in user_id is banned from the channel")
        try:
            await ctx.chat.set_role(channel.login, await chat_user(ctx, channel.id),
                                    target.login, role, present)
        except ChatError as exc:
            raise chat_refusal(exc, statuses) from None
        return Response(status_code=204)

    @api.post("/moderation/moderators", status_code=204, summary="Add a channel moderator")
    async def add_moderator(
        broadcaster_id: str, user_id: str, who: Annotated[Principal, Depends(manage_mods)],
    ) -> Response:
        channel = await the_broadcaster(ctx, who, broadcaster_id)
        return await change_role(channel, user_id, "moderator", True, {})

    @api.delete("/moderation/moderators", status_code=204, summary="Remove a channel moderator")
    async def remove_moderator(
        broadcaster_id: str, user_id: str, who: Annotated[Principal, Depends(manage_mods)],
    ) -> Response:
        channel = await the_broadcaster(ctx, who, broadcaster_id)
        return await change_role(channel, user_id, "moderator", False, {})

    @api.get("/channels/vips", summary="VIPs of a channel")
    async def vips(
        broadcaster_id: str, who: Annotated[Principal, Depends(any_user)],
        page: Annotated[Page, Depends(page_params)], user_id: UserIds = None,
    ) -> dict[str, Any]:
        need_any(who, "channel:read:vips", "channel:manage:vips")
        channel = await the_broadcaster(ctx, who, broadcaster_id)
        rows = await role_rows(channel.id, "vip", int_ids(user_id or [], "user_id"), page)
        return offset_envelope(rows, page)

    vip_statuses = {"bad_vip_grantee_already_vip": 422, "bad_unvip_grantee_not_vip": 422}

    @api.post("/channels/vips", status_code=204, summary="Add a VIP")
    async def add_vip(
        broadcaster_id: str, user_id: str, who: Annotated[Principal, Depends(manage_vips)],
    ) -> Response:
        channel = await the_broadcaster(ctx, who, broadcaster_id)
        return await change_role(channel, user_id, "vip", True, vip_statuses)

    @api.delete("/channels/vips", status_code=204, summary="Remove a VIP")
    async def remove_vip(
        broadcaster_id: str, user_id: str, who: Annotated[Principal, Depends(manage_vips)],
    ) -> Response:
        channel = await the_broadcaster(ctx, who, broadcaster_id)
        return await change_role(channel, user_id, "vip", False, vip_statuses)

    # ---- messages ----

    @api.delete("/moderation/chat", status_code=204,
                summary="Delete one chat message, or clear the whole chat")
    async def delete_chat_messages(
        broadcaster_id: str, moderator_id: str,
        who: Annotated[Principal, Depends(manage_messages)],
        message_id: Annotated[str | None, Query(pattern=MESSAGE_ID)] = None,
    ) -> Response:
        channel, moderator = await acting_moderator(ctx, who, broadcaster_id, moderator_id)
        try:
            if message_id is None:
                await ctx.chat.clear(channel.login, moderator)
            else:
                await ctx.chat.delete_message(channel.login, moderator, message_id)
        except ChatError as exc:
            raise chat_refusal(exc, {"bad_delete_message_error": 404}) from None
        return Response(status_code=204)

    # ---- blocked terms ----

    def term_json(term: BlockedTerm) -> dict[str, Any]:
        return {"broadcaster_id": str(term.channel_id),
                "moderator_id": "" if term.moderator_id is None else str(term.moderator_id),
                "id": str(term.id), "text": term.term, "created_at": rfc3339(term.created_at),
                "updated_at": rfc3339(term.created_at), "expires_at": None}

    async def find_term(channel_id: int, *, text: str | None = None,
                        term_id: int | None = None) -> BlockedTerm | None:
        async with ctx.sessions() as session:
            q = select(BlockedTerm).where(BlockedTerm.channel_id == channel_id)
            q = q.where(BlockedTerm.term == text) if text is not None else q.where(
                BlockedTerm.id == term_id)
            return await session.scalar(q.limit(1))

    @api.get("/moderation/blocked_terms", summary="A channel's blocked terms")
    async def blocked_terms(
        broadcaster_id: str, moderator_id: str, who: Annotated[Principal, Depends(any_user)],
        page: Annotated[Page, Depends(page_params)],
    ) -> dict[str, Any]:
        need_any(who, "moderator:read:blocked_terms", "moderator:manage:blocked_terms")
        channel, _ = await acting_moderator(ctx, who, broadcaster_id, moderator_id)
        async with ctx.sessions() as session:
            rows = list(await session.scalars(
                select(BlockedTerm).where(BlockedTerm.channel_id == channel.id)
                .order_by(BlockedTerm.id).offset(page.offset()).limit(page.first + 1)))
        return offset_envelope([term_json(t) for t in rows], page)

    manage_terms = requires(ctx, "moderator:manage:blocked_terms", user=True)

    @api.post("/moderation/blocked_terms", summary="Add a blocked term")
    async def add_blocked_term(
        body: TermBody, broadcaster_id: str, moderator_id: str,
        who: Annotated[Principal, Depends(manage_terms)],
    ) -> dict[str, Any]:
        channel, moderator = await acting_moderator(ctx, who, broadcaster_id, moderator_id)
        text = " ".join(body.text.split())
        if len(text) < 2:
            raise ApiError(400, "Invalid body field 'text': at least 2 characters")
        found = await find_term(channel.id, text=text)
        if found is None:
            try:
                await ctx.chat.set_blocked_term(channel.login, moderator, text, True)
            except ChatError as exc:
                raise chat_refusal(exc) from None
            found = await find_term(channel.id, text=text)
        if found is None:  # removed again meanwhile
            raise ApiError(409, "The term was removed while it was being added")
        return {"data": [term_json(found)]}

    @api.delete("/moderation/blocked_terms", status_code=204, summary="Remove a blocked term")
    async def remove_blocked_term(
        broadcaster_id: str, moderator_id: str,
        id: Annotated[str, Query(min_length=1, max_length=10, pattern=r"^[0-9]+$")],
        who: Annotated[Principal, Depends(manage_terms)],
    ) -> Response:
        channel, moderator = await acting_moderator(ctx, who, broadcaster_id, moderator_id)
        found = await find_term(channel.id, term_id=int(id)) if int(id) <= MAX_ID else None
        if found is not None:  # Twitch answers 204 for an unknown id too
            try:
                await ctx.chat.set_blocked_term(channel.login, moderator, found.term, False)
            except ChatError as exc:
                if exc.msg_id != "bad_blocked_term":
                    raise chat_refusal(exc) from None
        return Response(status_code=204)

    return api
