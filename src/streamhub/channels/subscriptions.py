"""Channel subscriptions: tiers, 30-day periods, months and streaks, gifts, founders; chat badges.

Payment is the money feature's (a later issue): it will call `subscribe` when a first payment
clears and `renew` on each monthly one. Until then subscriptions are granted without payment
by a site admin (a comp sub) or given as a gift on someone's behalf (`streamhub sub grant`,
`POST /helix/subscriptions`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from streamhub.chat.badges import SUB_PLANS, SubscriberStatus
from streamhub.chat.service import ChatUser
from streamhub.events import DiscardEvents, EventSink
from streamhub.storage.models import Subscription, User
from streamhub.utc import aware, rfc3339

PERIOD = timedelta(days=30)  # one subscription month
FOUNDERS = 10  # a channel's first subscribers, in order of their first subscription
POINTS = {1: 1, 2: 2, 3: 6}  # Helix `points` per tier
MAX_MONTHS = 12

Kind = Literal["sub", "resub", "subgift"]


class SubscriptionError(ValueError):
    """A subscription that cannot be made (unknown user, self-subscription, bad tier)."""


@dataclass(frozen=True, slots=True)
class Party:
    """A user in a subscription: subscriber, broadcaster or gifter."""

    id: int
    login: str
    display_name: str
    color: str | None = None
    staff: bool = False

    def fields(self, prefix: str) -> dict[str, str]:
        return {f"{prefix}_id": str(self.id), f"{prefix}_login": self.login,
                f"{prefix}_name": self.display_name}

    def chat_user(self) -> ChatUser:
        return ChatUser(self.id, self.login, self.display_name, self.color, staff=self.staff)


@dataclass(frozen=True, slots=True)
class SubInfo:
    """One subscription row with the people in it."""

    broadcaster: Party
    user: Party
    tier: int
    started_at: datetime
    ends_at: datetime
    cumulative_months: int
    streak_months: int
    is_gift: bool
    gifter: Party | None
    founder: bool

    @property
    def plan(self) -> str:
        return SUB_PLANS[self.tier]

    @property
    def plan_name(self) -> str:
        return f"Channel Subscription ({self.broadcaster.login})"

    def active(self, now: datetime) -> bool:
        return self.ends_at > now

    def status(self) -> SubscriberStatus:
        return SubscriberStatus(self.tier, self.cumulative_months, self.founder,
                                self.ends_at.timestamp())


@dataclass(frozen=True, slots=True)
class SubResult:
    """What a subscribe/renew did: a new sub, a resub, or a gift (to `subscription.user`)."""

    kind: Kind
    subscription: SubInfo
    months: int  # months this event added
    started: bool  # a new subscription period began (first ever, or after a lapse)
    message: str = ""

    def json(self) -> dict[str, Any]:
        s = self.subscription
        return {
            "event": self.kind, "broadcaster_id": str(s.broadcaster.id),
            "broadcaster_login": s.broadcaster.login, "user_id": str(s.user.id),
            "user_login": s.user.login, "tier": s.plan, "is_gift": s.is_gift,
            "gifter_login": s.gifter.login if s.gifter else "",
            "cumulative_months": s.cumulative_months, "streak_months": s.streak_months,
            "founder": s.founder, "started_at": rfc3339(s.started_at),
            "ends_at": rfc3339(s.ends_at),
        }


class SubscriptionChat(Protocol):
    """What the subscriptions feature tells chat (ChatService implements it)."""

    async def subscription_changed(self, name: str, user_id: int,
                                   status: SubscriberStatus | None) -> None: ...

    async def user_notice(self, name: str, user: ChatUser, msg_id: str, system_msg: str,
                          params: dict[str, str], text: str = "", *,
                          subscription: SubscriberStatus | None = None) -> None: ...


def _party(row: User | None) -> Party | None:
    if row is None:
        return None
    return Party(row.id, row.login, row.display_name, row.chat_color, bool(row.is_admin))


class SubscriptionService:
    """Subscriptions on the database; tells chat and EventSub what happened."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, chat: SubscriptionChat | None = None,
        events: EventSink | None = None, clock: Any = time.time,
        logger: logging.Logger | None = None,
    ) -> None:
        self._sessions = sessions
        self._chat = chat
        self._events: EventSink = events or DiscardEvents()
        self._clock = clock
        self.log = logger or logging.getLogger(__name__)

    def attach_chat(self, chat: SubscriptionChat) -> None:
        """Chat is built after this service (it reads badges from it): wire it in then."""
        self._chat = chat

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    # ---- reading ----

    async def subscription(self, channel_id: int, user_id: int) -> SubscriberStatus | None:
        """The chat's SubscriptionLookup: the active subscription's badge data, or None."""
        async with self._sessions() as session:  # one query per logged-in join
            row = (await session.execute(
                select(Subscription.tier, Subscription.cumulative_months, Subscription.founder,
                       Subscription.ends_at)
                .where(Subscription.broadcaster_id == channel_id,
                       Subscription.user_id == user_id))).first()
        if row is None or aware(row.ends_at) <= self._now():
            return None
        return SubscriberStatus(row.tier, row.cumulative_months, row.founder,
                                aware(row.ends_at).timestamp())

    async def get(self, broadcaster_id: int, user_id: int) -> SubInfo | None:
        """The user's active subscription to the channel (None if none or lapsed)."""
        async with self._sessions() as session:
            row = await session.get(Subscription, (broadcaster_id, user_id))
            if row is None or aware(row.ends_at) <= self._now():
                return None
            people = await self._people(session, {broadcaster_id, user_id} | (
                {row.gifter_id} if row.gifter_id else set()))
        return self._info(row, people)

    async def list(self, broadcaster_id: int, *, user_ids: Sequence[int] = (), offset: int = 0,
                   limit: int = 20) -> tuple[list[SubInfo], int, int]:
        """Active subscriptions of a channel, oldest first: (page, total, points)."""
        now = self._now()
        where = [Subscription.broadcaster_id == broadcaster_id, Subscription.ends_at > now]
        async with self._sessions() as session:
            total, points = 0, 0
            for tier, count in await session.execute(
                    select(Subscription.tier, func.count()).where(*where)
                    .group_by(Subscription.tier)):
                total += int(count)
                points += POINTS.get(int(tier), 0) * int(count)
            if user_ids:
                where.append(Subscription.user_id.in_(list(user_ids)))
            rows = list(await session.scalars(
                select(Subscription).where(*where)
                .order_by(Subscription.seq).offset(offset).limit(limit)))
            people = await self._people(session, {r.broadcaster_id for r in rows}
                                        | {r.user_id for r in rows}
                                        | {r.gifter_id for r in rows if r.gifter_id})
        return [self._info(r, people) for r in rows], total, points

    @staticmethod
    async def _people(session: AsyncSession, ids: set[int]) -> dict[int, Party]:
        if not ids:
            return {}
        found = await session.scalars(select(User).where(User.id.in_(sorted(ids))))
        return {u.id: p for u in found if (p := _party(u)) is not None}

    @staticmethod
    def _info(row: Subscription, people: dict[int, Party]) -> SubInfo:
        return SubInfo(
            people[row.broadcaster_id], people[row.user_id], row.tier, aware(row.started_at),
            aware(row.ends_at), row.cumulative_months, row.streak_months, row.is_gift,
            people.get(row.gifter_id) if row.gifter_id else None, row.founder)

    # ---- changing ----

    async def grant(self, channel: str, user: str, *, tier: int = 1,
                    gift_from: str | None = None, months: int = 1,
                    message: str = "") -> SubResult:
        """A subscription without payment, by logins: a site admin's comp sub, or a gift
        from `gift_from`."""
        async with self._sessions() as session:
            logins = {x.lower() for x in (channel, user, gift_from) if x}
            found = {u.login: u for u in await session.scalars(
                select(User).where(User.login.in_(sorted(logins))))}
        for login in logins:
            if login not in found:
                raise SubscriptionError(f"no user {login!r}")
        gifter = found[gift_from.lower()].id if gift_from else None
        return await self.subscribe(found[channel.lower()].id, found[user.lower()].id,
                                    tier=tier, gifter_id=gifter, months=months, message=message)

    async def subscribe(self, broadcaster_id: int, user_id: int, *, tier: int = 1,
                        gifter_id: int | None = None, months: int = 1,
                        message: str = "") -> SubResult:
        """Start or extend a subscription by `months` 30-day periods (a gift when
        `gifter_id`). The money feature calls this once a payment clears."""
        if tier not in SUB_PLANS:
            raise SubscriptionError("tier must be 1, 2 or 3")
        if not 1 <= months <= MAX_MONTHS:
            raise SubscriptionError(f"months must be 1 to {MAX_MONTHS}")
        if user_id == broadcaster_id:
            raise SubscriptionError("broadcasters cannot subscribe to their own channel")
        if gifter_id == user_id:
            raise SubscriptionError("users cannot gift a subscription to themselves")
        if len(message) > 500:
            raise SubscriptionError("a resub message has at most 500 characters")
        for attempt in range(5):
            try:
                result = await self._write(broadcaster_id, user_id, tier, gifter_id, months,
                                           message)
                break
            except IntegrityError:  # a concurrent first subscription took the same seq
                if attempt == 4:
                    raise
        await self._announce(result)
        return result

    async def renew(self, broadcaster_id: int, user_id: int, *, months: int = 1,
                    message: str = "") -> SubResult:
        """A paid renewal of an existing subscription at its tier (the money feature's
        monthly charge); SubscriptionError when the user never subscribed."""
        async with self._sessions() as session:
            tier = await session.scalar(select(Subscription.tier).where(
                Subscription.broadcaster_id == broadcaster_id, Subscription.user_id == user_id))
        if tier is None:
            raise SubscriptionError("there is no subscription to renew")
        return await self.subscribe(broadcaster_id, user_id, tier=tier, months=months,
                                    message=message)

    async def _write(self, broadcaster_id: int, user_id: int, tier: int,
                     gifter_id: int | None, months: int, message: str) -> SubResult:
        now = self._now()
        async with self._sessions() as session, session.begin():
            people = await self._people(session, {broadcaster_id, user_id} | (
                {gifter_id} if gifter_id else set()))
            for uid in (broadcaster_id, user_id, gifter_id):
                if uid is not None and uid not in people:
                    raise SubscriptionError(f"no user with ID {uid}")
            row = (await session.scalars(
                select(Subscription).where(Subscription.broadcaster_id == broadcaster_id,
                                           Subscription.user_id == user_id)
                .with_for_update())).first()
            started = row is None or aware(row.ends_at) <= now
            if row is None:
                seq = (await session.scalar(select(func.max(Subscription.seq)).where(
                    Subscription.broadcaster_id == broadcaster_id)) or 0) + 1
                row = Subscription(
                    broadcaster_id=broadcaster_id, user_id=user_id, seq=seq, tier=tier,
                    started_at=now, ends_at=now + months * PERIOD, cumulative_months=months,
                    streak_months=months, is_gift=gifter_id is not None, gifter_id=gifter_id,
                    founder=seq <= FOUNDERS, updated_at=now)
                session.add(row)
                kind: Kind = "subgift" if gifter_id else "sub"
            else:
                if started:  # lapsed: a new streak, and founders lose the badge for good
                    row.ends_at = now + months * PERIOD
                    row.streak_months = months
                    row.founder = False
                else:
                    row.ends_at = aware(row.ends_at) + months * PERIOD
                    row.streak_months += months
                row.cumulative_months += months
                row.tier = tier
                row.is_gift = gifter_id is not None
                row.gifter_id = gifter_id
                row.updated_at = now
                kind = "subgift" if gifter_id else "resub"
            await session.flush()
            info = self._info(row, people)
        return SubResult(kind, info, months, started, message)

    async def _announce(self, result: SubResult) -> None:
        """Tell chat (badge now, USERNOTICE) and EventSub; failures here never undo the sub."""
        s = result.subscription
        try:
            self._emit(result)
            if self._chat is None:
                return
            await self._chat.subscription_changed(s.broadcaster.login, s.user.id, s.status())
            msg_id, system_msg, params, who = self._usernotice(result)
            who_sub = s.status() if who.id == s.user.id else await self.subscription(
                s.broadcaster.id, who.id)
            await self._chat.user_notice(s.broadcaster.login, who.chat_user(), msg_id,
                                         system_msg, params, result.message,
                                         subscription=who_sub)
        except Exception:
            self.log.exception("subscription of %s to %s: chat notification failed",
                               s.user.login, s.broadcaster.login)

    @staticmethod
    def _usernotice(result: SubResult) -> tuple[str, str, dict[str, str], Party]:
        """Twitch's USERNOTICE msg-id, system-msg, msg-param-* tags and sender."""
        s = result.subscription
        tier_text = f"Tier {s.tier}"
        plan = {"msg-param-sub-plan": s.plan, "msg-param-sub-plan-name": s.plan_name}
        if result.kind == "subgift":
            assert s.gifter is not None
            return "subgift", (
                f"{s.gifter.display_name} gifted a {tier_text} sub to {s.user.display_name}!"), {
                **plan, "msg-param-gift-months": str(result.months),
                "msg-param-months": str(s.cumulative_months),
                "msg-param-recipient-display-name": s.user.display_name,
                "msg-param-recipient-id": str(s.user.id),
                "msg-param-recipient-user-name": s.user.login,
                "msg-param-sender-count": "0",
            }, s.gifter
        params = {
            **plan, "msg-param-cumulative-months": str(s.cumulative_months),
            "msg-param-months": "0", "msg-param-multimonth-duration": str(result.months),
            "msg-param-should-share-streak": "1",
            "msg-param-streak-months": str(s.streak_months),
            "msg-param-was-gifted": "false",
        }
        text = f"{s.user.display_name} subscribed at {tier_text}."
        if result.kind == "sub":
            return "sub", text, params, s.user
        text += f" They've subscribed for {s.cumulative_months} months"
        if s.streak_months > 1:
            text += f", currently on a {s.streak_months} month streak"
        return "resub", text + "!", params, s.user

    def _emit(self, result: SubResult) -> None:
        s = result.subscription
        where = s.broadcaster.fields("broadcaster_user")
        if result.started:
            self._events.emit("channel.subscribe", {
                **s.user.fields("user"), **where, "tier": s.plan, "is_gift": s.is_gift})
        if result.kind == "subgift":
            assert s.gifter is not None
            self._events.emit("channel.subscription.gift", {
                **s.gifter.fields("user"), **where, "total": 1, "tier": s.plan,
                "cumulative_total": None, "is_anonymous": False})
        elif result.kind == "resub":
            self._events.emit("channel.subscription.message", {
                **s.user.fields("user"), **where, "tier": s.plan,
                "message": {"text": result.message, "emotes": []},
                "cumulative_months": s.cumulative_months, "streak_months": s.streak_months,
                "duration_months": result.months})
