"""Helix raids: start a raid from the token's live channel to another, or cancel it."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from streamhub.api.auth import Principal, requires
from streamhub.api.context import ApiContext
from streamhub.api.errors import ApiError
from streamhub.api.people import parse_user_id
from streamhub.api.times import rfc3339
from streamhub.channels.raids import RaidError, RaidService


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(prefix="/helix", tags=["raids"])
    raids = ctx.raids or RaidService(
        sessions=ctx.sessions, chat=ctx.chat, hub=ctx.hub, presence=ctx.presence,
        events=ctx.events, delay=ctx.settings.raid_delay)
    manage = requires(ctx, "channel:manage:raids", user=True)

    @api.post("/raids", summary="Raid another channel (after a short countdown)")
    async def start_raid(
        from_broadcaster_id: str, to_broadcaster_id: str,
        who: Annotated[Principal, Depends(manage)],
    ) -> dict[str, Any]:
        from_id = parse_user_id(from_broadcaster_id, "from_broadcaster_id")
        to_id = parse_user_id(to_broadcaster_id, "to_broadcaster_id")
        who.require_self(from_id, "from_broadcaster_id")
        try:
            started = await raids.start(from_id, to_id)
        except RaidError as exc:
            raise ApiError(exc.status, exc.message) from None
        return {"data": [{"created_at": rfc3339(started.created_at),
                          "is_mature": started.is_mature}]}

    @api.delete("/raids", status_code=204, summary="Cancel a pending raid")
    async def cancel_raid(
        broadcaster_id: str, who: Annotated[Principal, Depends(manage)],
    ) -> Response:
        channel_id = parse_user_id(broadcaster_id, "broadcaster_id")
        who.require_self(channel_id)
        try:
            await raids.cancel(channel_id)
        except RaidError as exc:
            raise ApiError(exc.status, exc.message) from None
        return Response(status_code=204)

    return api
