"""Helix subscriptions and Bits: GET /subscriptions, /subscriptions/user, /bits/leaderboard,
and the StreamHub extension POST /subscriptions (a site admin's grant without payment)."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from streamhub.api.auth import Principal, is_admin, requires
from streamhub.api.context import ApiContext
from streamhub.api.errors import ApiError
from streamhub.api.paging import Page, int_ids, offset_envelope, page_params
from streamhub.api.people import parse_user_id, person
from streamhub.channels.bits import BitsService
from streamhub.channels.subscriptions import (
    SubInfo,
    SubscriptionError,
    SubscriptionService,
)
from streamhub.chat.badges import SUB_PLANS

TIERS = {plan: tier for tier, plan in SUB_PLANS.items()}


def subscription_json(s: SubInfo) -> dict[str, Any]:
    """Twitch's broadcaster-subscription object."""
    gifter = s.gifter
    return {
        **s.broadcaster.fields("broadcaster"),
        "gifter_id": str(gifter.id) if gifter else "",
        "gifter_login": gifter.login if gifter else "",
        "gifter_name": gifter.display_name if gifter else "",
        "is_gift": s.is_gift, "plan_name": s.plan_name, "tier": s.plan,
        "user_id": str(s.user.id), "user_name": s.user.display_name,
        "user_login": s.user.login,
    }


class GrantBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    broadcaster_id: str = Field(max_length=18, pattern=r"^[1-9][0-9]*$")
    user_id: str = Field(max_length=18, pattern=r"^[1-9][0-9]*$")
    tier: str = Field(default="1000", pattern=r"^(1000|2000|3000)$")
    gifter_id: str | None = Field(default=None, max_length=18, pattern=r"^[1-9][0-9]*$")
    months: int = Field(default=1, ge=1, le=12)
    message: str = Field(default="", max_length=500)


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(prefix="/helix", tags=["subscriptions", "bits"])
    subs = ctx.subscriptions or SubscriptionService(ctx.sessions, events=ctx.events)
    bits = ctx.bits or BitsService(ctx.sessions)
    read_subs = requires(ctx, "channel:read:subscriptions", user=True)
    check_sub = requires(ctx, "user:read:subscriptions", user=True)
    any_user = requires(ctx, user=True)
    read_bits = requires(ctx, "bits:read", user=True)

    @api.get("/subscriptions", summary="The broadcaster's subscribers (total and points too)")
    async def get_subscriptions(
        broadcaster_id: str, who: Annotated[Principal, Depends(read_subs)],
        page: Annotated[Page, Depends(page_params)],
        user_id: Annotated[list[str] | None, Query(description="User ID (repeatable)")] = None,
    ) -> dict[str, Any]:
        channel = await person(ctx, broadcaster_id, "broadcaster_id")
        who.require_self(channel.id)
        ids = int_ids(user_id or [], "user_id")
        if ids:
            rows, total, points = await subs.list(channel.id, user_ids=ids, limit=len(ids))
            return {"data": [subscription_json(s) for s in rows], "pagination": {},
                    "total": total, "points": points}
        rows, total, points = await subs.list(channel.id, offset=page.offset(),
                                              limit=page.first + 1)
        return offset_envelope([subscription_json(s) for s in rows], page, total=total,
                               points=points)

    @api.get("/subscriptions/user", summary="Whether the token user subscribes to a channel")
    async def check_user_subscription(
        broadcaster_id: str, user_id: str, who: Annotated[Principal, Depends(check_sub)],
    ) -> dict[str, Any]:
        who.require_self(parse_user_id(user_id, "user_id"), "user_id")
        channel = await person(ctx, broadcaster_id, "broadcaster_id")
        user = await person(ctx, user_id, "user_id")
        found = await subs.get(channel.id, user.id)
        if found is None:
            raise ApiError(404, f"{user.login} has no subscription to {channel.login}")
        out: dict[str, Any] = {**channel.fields("broadcaster"), "is_gift": found.is_gift,
                               "tier": found.plan}
        if found.gifter is not None:
            out.update(found.gifter.fields("gifter"))
        return {"data": [out]}

    @api.post("/subscriptions", summary="StreamHub extension: grant a subscription without "
              "payment (site admins only): a comp sub, or a gift from gifter_id. Payment "
              "flows come with the money feature.")
    async def grant_subscription(
        body: GrantBody, who: Annotated[Principal, Depends(any_user)],
    ) -> dict[str, Any]:
        if not await is_admin(ctx, who.require_user()):
            raise ApiError(403, "Only site admins can grant subscriptions")
        channel = await person(ctx, body.broadcaster_id, "broadcaster_id")
        user = await person(ctx, body.user_id, "user_id")
        gifter = await person(ctx, body.gifter_id, "gifter_id") if body.gifter_id else None
        try:
            result = await subs.subscribe(channel.id, user.id, tier=TIERS[body.tier],
                                          gifter_id=gifter.id if gifter else None,
                                          months=body.months, message=body.message)
        except SubscriptionError as exc:
            raise ApiError(400, str(exc)) from None
        return {"data": [result.json()]}

    @api.get("/bits/leaderboard", summary="The token user's channel's top cheerers "
             "(period=all; started_at is ignored)")
    async def bits_leaderboard(
        who: Annotated[Principal, Depends(read_bits)],
        count: Annotated[int, Query(ge=1, le=100)] = 10,
        period: Annotated[str, Query(max_length=10)] = "all",
        started_at: Annotated[str | None, Query(max_length=40)] = None,
        user_id: str | None = None,
    ) -> dict[str, Any]:
        if period not in ("all", "day", "week", "month", "year"):
            raise ApiError(400, "Invalid 'period': use day, week, month, year or all")
        if period != "all":
            raise ApiError(400, "Only period=all is supported")
        uid = parse_user_id(user_id, "user_id") if user_id else None
        rows, total = await bits.leaderboard(who.require_user(), count, uid)
        return {"data": [{"user_id": str(r.user_id), "user_login": r.login,
                          "user_name": r.display_name, "rank": r.rank, "score": r.score}
                         for r in rows],
                "date_range": {"started_at": "", "ended_at": ""}, "total": total}

    return api
