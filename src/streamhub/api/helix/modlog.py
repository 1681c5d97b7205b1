"""StreamHub extension: a channel's moderation log (who did what to whom, when and why)."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from streamhub.api.auth import Principal, authorize_channel, requires
from streamhub.api.context import ApiContext
from streamhub.api.errors import ApiError
from streamhub.api.helix.chatauth import need_any
from streamhub.api.paging import DEFAULT_FIRST, MAX_FIRST, decode_cursor, encode_cursor, envelope
from streamhub.api.people import MAX_ID, people_by_id, person
from streamhub.api.times import rfc3339
from streamhub.storage.models import ModerationAction

READ_SCOPES = ("moderation:read", "moderator:read:banned_users")


def cursor_id(after: str | None) -> int | None:
    """The log entry id a page continues below (entries are newest first)."""
    if not after:
        return None
    value = decode_cursor(after).get("id")
    if not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise ApiError(400, "Invalid cursor")
    return value


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(prefix="/helix", tags=["moderation"])
    any_user = requires(ctx, user=True)

    @api.get("/moderation/log", summary="StreamHub extension: the channel's moderation log, "
             "newest first (broadcaster, moderators and site admins)")
    async def moderation_log(
        broadcaster_id: str, who: Annotated[Principal, Depends(any_user)],
        first: Annotated[int, Query(ge=1, le=MAX_FIRST)] = DEFAULT_FIRST,
        after: Annotated[str | None, Query(max_length=500)] = None,
    ) -> dict[str, Any]:
        need_any(who, *READ_SCOPES)
        channel = await person(ctx, broadcaster_id, "broadcaster_id")
        await authorize_channel(ctx, who, channel.id, ("broadcaster", "moderator"))
        below = cursor_id(after)
        q = select(ModerationAction).where(ModerationAction.channel_id == channel.id)
        if below is not None:
            q = q.where(ModerationAction.id < below)
        q = q.order_by(ModerationAction.id.desc()).limit(first + 1)
        async with ctx.sessions() as session:
            rows = list(await session.scalars(q))
        more = len(rows) > first
        rows = rows[:first]
        names = await people_by_id(ctx, {i for r in rows for i in (r.moderator_id, r.target_user_id)
                                         if i is not None})
        data = []
        for r in rows:
            mod = names.get(r.moderator_id) if r.moderator_id is not None else None
            target = names.get(r.target_user_id) if r.target_user_id is not None else None
            data.append({
                "id": str(r.id), "action": r.action, "created_at": rfc3339(r.created_at),
                "moderator_id": "" if r.moderator_id is None else str(r.moderator_id),
                "moderator_login": mod.login if mod else "",
                "moderator_name": mod.display_name if mod else "",
                "user_id": "" if r.target_user_id is None else str(r.target_user_id),
                "user_login": target.login if target else "",
                "user_name": target.display_name if target else "",
                "message_id": r.target_message_id or "", "details": r.details,
            })
        cursor = encode_cursor({"id": rows[-1].id}) if more and rows else None
        return envelope(data, cursor)

    return api
