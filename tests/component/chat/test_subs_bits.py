"""Subscriptions and Bits on a real database (SQLite and PostgreSQL) with a real ChatService:
founders, periods and streaks, badges without rejoin, atomic cheers and refunds."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from streamhub.channels.bits import BitsService
from streamhub.channels.service import ChannelService
from streamhub.channels.subscriptions import PERIOD, SubscriptionError, SubscriptionService
from streamhub.chat.bus import MemoryBus
from streamhub.chat.service import ChatError, ChatService, ChatUser
from streamhub.chat.store import ChatStore
from tests.component.chat.test_service import Sub, user


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class FailingBus(MemoryBus):
    """The in-process bus, but publishing fails once `broken` (Redis gone mid-message)."""

    broken = False

    async def publish(self, room: str, payload: bytes) -> None:
        if self.broken:
            raise ConnectionError("bus down")
        await super().publish(room, payload)


@pytest.fixture
async def people(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    accounts = ChannelService(sessions)
    out = {}
    for login in ["owner", "gifter", *(f"fan{i}" for i in range(12))]:
        out[login] = (await accounts.create_user(login)).id
    return out


async def wait_for(pred: object, what: str) -> None:
    async with asyncio.timeout(10):
        while not pred():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def test_founders_periods_streaks_and_gifts(
    sessions: async_sessionmaker[AsyncSession], people: dict[str, int]
) -> None:
    clock = Clock()
    subs = SubscriptionService(sessions, clock=clock)
    owner = people["owner"]
    results = []
    for i in range(12):
        results.append(await subs.subscribe(owner, people[f"fan{i}"]))
        clock.now += 1
    assert [r.kind for r in results] == ["sub"] * 12
    assert [r.subscription.founder for r in results] == [True] * 10 + [False] * 2
    rows, total, points = await subs.list(owner, limit=100)
    assert (total, points) == (12, 12)
    assert [r.user.login for r in rows] == [f"fan{i}" for i in range(12)]

    # an active sub extended: resub, months and streak grow, the end moves a period later
    first = results[0].subscription
    again = await subs.subscribe(owner, people["fan0"], tier=3, months=2, message="hi")
    assert again.kind == "resub" and not again.started
    s = again.subscription
    assert (s.tier, s.plan, s.cumulative_months, s.streak_months, s.founder) == (
        3, "3000", 3, 3, True)
    assert s.ends_at == first.ends_at + 2 * PERIOD
    assert (await subs.list(owner, limit=1))[2] == 11 + 6  # tier 3 counts 6 points

    # a gift to a subscriber of the channel
    gift = await subs.subscribe(owner, people["fan11"], tier=2, gifter_id=people["gifter"])
    assert gift.kind == "subgift" and gift.subscription.is_gift
    assert gift.subscription.gifter is not None and gift.subscription.gifter.login == "gifter"

    # lapsed: not active, not in the list; resubscribing starts a new streak and a founder
    # loses the badge for good
    clock.now += timedelta(days=31).total_seconds()
    assert await subs.subscription(owner, people["fan1"]) is None
    assert await subs.get(owner, people["fan1"]) is None
    back = await subs.subscribe(owner, people["fan1"])
    assert back.kind == "resub" and back.started
    assert (back.subscription.cumulative_months, back.subscription.streak_months,
            back.subscription.founder) == (2, 1, False)
    status = await subs.subscription(owner, people["fan1"])
    assert status is not None and (status.tier, status.months, status.founder) == (1, 2, False)
    # fan0 (3 months) is still a founder
    status = await subs.subscription(owner, people["fan0"])
    assert status is not None and status.founder and status.months == 3
    renewed = await subs.renew(owner, people["fan0"])
    assert renewed.kind == "resub" and renewed.subscription.tier == 3

    for call, text in [
        (subs.subscribe(owner, owner), "own channel"),
        (subs.subscribe(owner, people["fan2"], tier=4), "tier"),
        (subs.subscribe(owner, people["fan2"], months=13), "months"),
        (subs.subscribe(owner, people["fan2"], gifter_id=people["fan2"]), "themselves"),
        (subs.renew(owner, people["gifter"]), "no subscription"),
        (subs.grant("owner", "nobody"), "nobody"),
    ]:
        with pytest.raises(SubscriptionError, match=text):
            await call


async def test_concurrent_cheers_never_overspend(
    sessions: async_sessionmaker[AsyncSession], people: dict[str, int]
) -> None:
    bits = BitsService(sessions)
    fan, owner = people["fan0"], people["owner"]
    assert await bits.grant("fan0", 500) == (fan, 500)
    results = await asyncio.gather(*(bits.cheer(owner, fan, 100) for _ in range(12)))
    assert sorted(r for r in results if r is not None) == [100, 200, 300, 400, 500]
    assert results.count(None) == 7
    assert await bits.balance(fan) == 0
    assert await bits.cheered(owner, fan) == 500
    assert await bits.cheer(owner, fan, 1) is None
    assert await bits.refund(owner, fan, 100) == 400
    assert await bits.balance(fan) == 100
    board, total = await bits.leaderboard(owner, 10)
    assert total == 1 and [(r.login, r.rank, r.score) for r in board] == [("fan0", 1, 400)]


async def test_chat_badges_usernotice_and_cheers(
    sessions: async_sessionmaker[AsyncSession], people: dict[str, int]
) -> None:
    clock = Clock()
    subs = SubscriptionService(sessions, clock=clock)
    bits = BitsService(sessions)
    bus = FailingBus()
    chat = ChatService(store=ChatStore(sessions), bus=bus, subscriptions=subs, bits=bits,
                       clock=clock)
    subs.attach_chat(chat)
    try:
        fan = user(people["fan0"], "fan0")
        watcher, sender = Sub(None), Sub(fan.id)
        await chat.join(watcher, ChatUser(None, "justinfan1", "justinfan1"), "owner")
        await chat.join(sender, fan, "owner")
        await chat.send_message(sender, "owner", "before")
        await wait_for(lambda: any(m.command == "PRIVMSG" for m in watcher.lines()), "message")
        before = [m for m in watcher.lines() if m.command == "PRIVMSG"][-1]
        assert (before.tags["badges"], before.tags["subscriber"]) == ("", "0")

        await subs.grant("owner", "fan0", tier=2)  # while fan0 sits in the room
        await wait_for(lambda: any(m.command == "USERNOTICE" for m in watcher.lines()), "sub")
        notice = next(m for m in watcher.lines() if m.command == "USERNOTICE")
        assert notice.tags["msg-id"] == "sub" and notice.tags["login"] == "fan0"
        assert notice.tags["msg-param-sub-plan"] == "2000"
        assert notice.tags["badges"] == "founder/0"  # the channel's first subscriber
        clock.now += 1
        await chat.send_message(sender, "owner", "after")
        await wait_for(lambda: sum(m.command == "PRIVMSG" for m in watcher.lines()) == 2, "msg")
        after = [m for m in watcher.lines() if m.command == "PRIVMSG"][-1]
        assert (after.tags["badges"], after.tags["badge-info"], after.tags["subscriber"]) == (
            "founder/0", "founder/1", "1")

        # cheers: not enough Bits refused with nothing debited; then bits= and the badge
        with pytest.raises(ChatError) as refused:
            await chat.send_message(sender, "owner", "Cheer100 hype")
        assert refused.value.msg_id == "msg_bits_insufficient"
        await bits.grant("fan0", 150)
        clock.now += 1
        await chat.send_message(sender, "owner", "Cheer100 hype")
        await wait_for(lambda: sum(m.command == "PRIVMSG" for m in watcher.lines()) == 3, "cheer")
        cheer = [m for m in watcher.lines() if m.command == "PRIVMSG"][-1]
        assert cheer.tags["bits"] == "100"
        assert cheer.tags["badges"] == "founder/0,bits/100"
        assert await bits.balance(fan.id or 0) == 50

        # the bus fails under a cheer: the Bits come back
        bus.broken = True
        await bits.grant("fan0", 50)
        clock.now += 1
        with pytest.raises(ConnectionError):
            await chat.send_message(sender, "owner", "cheer100 again")
        async with asyncio.timeout(10):
            while await bits.balance(fan.id or 0) != 100:
                await asyncio.sleep(0.02)
        assert await bits.cheered(people["owner"], fan.id or 0) == 100
    finally:
        await chat.close()
