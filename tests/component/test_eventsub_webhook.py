"""EventSub webhooks in-process against a real local receiver, on SQLite and PostgreSQL:
challenge, signatures and headers, matching, retries with the same id, revocation, restarts."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from streamhub.api.errors import ApiError
from streamhub.api.eventsub.service import EventSubService
from streamhub.api.eventsub.types import Subscription
from streamhub.channels.service import ChannelService
from streamhub.channels.tokens import TokenService
from streamhub.config import Settings
from streamhub.storage.models import EventSubDelivery, EventSubSubscription, OAuthApp
from tests.component.eventsub_receiver import Received, Receiver, answer_challenges

SECRET = "s3cret-for-tests"
CLIENT = "eventsubtestclient"
NS_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")


def settings(tmp: Path, **kw: Any) -> Settings:
    values: dict[str, Any] = {"data_dir": tmp, "eventsub_retry_base": 0.1,
                              "eventsub_max_attempts": 3, "eventsub_poll_interval": 0.05,
                              "eventsub_timeout": 2.0, "eventsub_refresh_interval": 0.2}
    values.update(kw)
    return Settings(**values)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


@pytest.fixture
async def users(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    channels = ChannelService(sessions)
    out = {name: (await channels.create_user(name)).id for name in ("alice", "bob", "mod")}
    async with sessions() as session:
        session.add(OAuthApp(client_id=CLIENT, name="tests", client_secret_hash="0" * 64))
        await session.commit()
    return out


async def until(check: Any, timeout: float = 20.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out: {what}")


async def status_of(sessions: async_sessionmaker[AsyncSession], sub_id: str) -> str:
    async with sessions() as session:
        row = await session.get(EventSubSubscription, sub_id)
        assert row is not None
        return row.status


async def webhook(service: EventSubService, receiver: Receiver, type: str,
                  condition: dict[str, str], version: str = "1") -> Subscription:
    sub, *_ = await service.create(
        client_id=CLIENT, caller_user_id=None, caller_scopes=frozenset(), type=type,
        version=version, condition=condition, method="webhook", callback=receiver.url,
        secret=SECRET, session_id=None)
    return sub


async def enabled(service: EventSubService, receiver: Receiver, type: str,
                  condition: dict[str, str], version: str = "1") -> Subscription:
    sub = await webhook(service, receiver, type, condition, version)

    async def on() -> bool:  # enabled, and in the index emit consults
        return (await status_of(service.sessions, sub.id) == "enabled"
                and sub.id in {s.id for s in service.subscribed(type)})

    await until(on, what="subscription enabled")
    return sub


def online(user_id: int, login: str) -> dict[str, Any]:
    return {"id": "9001", "broadcaster_user_id": str(user_id), "broadcaster_user_login": login,
            "broadcaster_user_name": login.title(), "type": "live",
            "started_at": "2026-11-24T00:00:00Z"}


def check_headers(msg: Received, kind: str, sub: Subscription, retry: int = 0) -> None:
    h = msg.headers
    assert h["Twitch-Eventsub-Message-Type"] == kind
    assert h["Twitch-Eventsub-Subscription-Type"] == sub.type
    assert h["Twitch-Eventsub-Subscription-Version"] == sub.version
    assert h["Twitch-Eventsub-Message-Retry"] == str(retry)
    assert NS_STAMP.match(h["Twitch-Eventsub-Message-Timestamp"]), h
    assert h["Twitch-Eventsub-Message-Signature"].startswith("sha256=")
    assert msg.signature_ok(SECRET)
    assert not msg.signature_ok(SECRET + "x")


async def test_challenge_then_signed_notification_only_for_matching_condition(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, receiver: Receiver,
    users: dict[str, int],
) -> None:
    service = EventSubService(sessions, settings(tmp_path))
    await service.start()
    try:
        sub = await enabled(service, receiver, "stream.online",
                            {"broadcaster_user_id": str(users["alice"])})
        [challenge] = receiver.of_type("webhook_callback_verification")
        check_headers(challenge, "webhook_callback_verification", sub)
        assert challenge.body["subscription"]["id"] == sub.id
        assert challenge.body["subscription"]["status"] == "webhook_callback_verification_pending"
        assert challenge.body["subscription"]["transport"] == {
            "method": "webhook", "callback": receiver.url}
        assert "secret" not in challenge.raw.decode()

        service.emit("stream.online", online(users["bob"], "bob"))  # not subscribed
        service.emit("stream.offline", {"broadcaster_user_id": str(users["alice"])})
        service.emit("stream.online", online(users["alice"], "alice"))
        [note] = await receiver.wait("notification", 1)
        check_headers(note, "notification", sub)
        assert note.body["event"] == online(users["alice"], "alice")
        assert note.body["subscription"]["id"] == sub.id
        assert note.body["subscription"]["status"] == "enabled"
        await service.flush()
        await asyncio.sleep(0.3)  # a stray delivery for bob would have arrived by now
        assert len(receiver.of_type("notification")) == 1
        async with sessions() as session:
            rows = (await session.scalars(select(EventSubDelivery))).all()
        assert all(r.delivered_at is not None for r in rows) and len(rows) == 2
    finally:
        await service.stop()


@pytest.mark.parametrize("reply", [(200, "not the challenge"), (404, ""), (302, "")])
async def test_bad_challenge_answer_fails_verification(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, receiver: Receiver,
    users: dict[str, int], reply: tuple[int, str],
) -> None:
    receiver.answer = lambda msg: reply
    service = EventSubService(sessions, settings(tmp_path))
    await service.start()
    try:
        sub = await webhook(service, receiver, "stream.online",
                            {"broadcaster_user_id": str(users["alice"])})

        async def failed() -> bool:
            return await status_of(sessions, sub.id) == "webhook_callback_verification_failed"

        await until(failed, what="verification failed")
        assert len(receiver.received) == 1  # answered wrong: no retry; redirects not followed
        service.emit("stream.online", online(users["alice"], "alice"))
        await service.flush()
        await asyncio.sleep(0.3)
        assert receiver.of_type("notification") == []
    finally:
        await service.stop()


async def test_unreachable_callback_stays_pending_then_fails(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, users: dict[str, int],
) -> None:
    gone = await Receiver().start()
    await gone.stop()  # nothing listens on its port any more
    service = EventSubService(sessions, settings(tmp_path, eventsub_retry_base=0.3))
    await service.start()
    try:
        sub = await webhook(service, gone, "stream.online",
                            {"broadcaster_user_id": str(users["alice"])})
        await asyncio.sleep(0.1)
        assert await status_of(sessions, sub.id) == "webhook_callback_verification_pending"

        async def failed() -> bool:
            return await status_of(sessions, sub.id) == "webhook_callback_verification_failed"

        await until(failed, what="verification failed after retries")
    finally:
        await service.stop()


async def test_retries_keep_the_message_id_back_off_and_end_in_revocation(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, receiver: Receiver,
    users: dict[str, int],
) -> None:
    receiver.answer = answer_challenges(notifications=500)
    base = 0.2
    service = EventSubService(sessions, settings(tmp_path, eventsub_retry_base=base))
    await service.start()
    try:
        sub = await enabled(service, receiver, "channel.raid",
                            {"to_broadcaster_user_id": str(users["bob"])})
        service.emit("channel.raid", {
            "from_broadcaster_user_id": str(users["alice"]), "from_broadcaster_user_login": "alice",
            "from_broadcaster_user_name": "Alice", "to_broadcaster_user_id": str(users["bob"]),
            "to_broadcaster_user_login": "bob", "to_broadcaster_user_name": "Bob",
            "viewers": 3})
        tries = await receiver.wait("notification", 3)
        assert len({m.id for m in tries}) == 1  # at least once, one message id
        for n, msg in enumerate(tries):
            check_headers(msg, "notification", sub, retry=n)
            assert msg.raw == tries[0].raw
        # exponential backoff: base, then 2 * base (lower bounds only)
        assert tries[1].at - tries[0].at >= base * 0.9
        assert tries[2].at - tries[1].at >= 2 * base * 0.9
        [revocation] = await receiver.wait("revocation", 1)
        check_headers(revocation, "revocation", sub)
        assert revocation.body == {"subscription": {
            **sub.json(), "status": "notification_failures_exceeded"}}
        assert await status_of(sessions, sub.id) == "notification_failures_exceeded"
        await asyncio.sleep(base * 5)
        assert len(receiver.of_type("notification")) == 3  # given up
        service.emit("channel.raid", {"to_broadcaster_user_id": str(users["bob"])})
        await service.flush()
        await asyncio.sleep(0.3)
        assert len(receiver.of_type("notification")) == 3  # revoked: no longer matched
    finally:
        await service.stop()


async def test_undelivered_messages_survive_a_restart_with_their_ids(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, receiver: Receiver,
    users: dict[str, int],
) -> None:
    receiver.answer = answer_challenges(notifications=503)
    cfg = settings(tmp_path, eventsub_retry_base=0.5, eventsub_max_attempts=10)
    first = EventSubService(sessions, cfg)
    await first.start()
    sub = await enabled(first, receiver, "stream.online",
                        {"broadcaster_user_id": str(users["alice"])})
    for _ in range(2):
        first.emit("stream.online", online(users["alice"], "alice"))
    failed = await receiver.wait("notification", 2)
    original = {m.id for m in failed}
    assert len(original) == 2
    await first.stop()

    receiver.answer = answer_challenges(notifications=204)
    before = len(receiver.received)
    second = EventSubService(sessions, cfg)
    await second.start()
    try:
        async def delivered() -> bool:
            async with sessions() as session:
                rows = (await session.scalars(select(EventSubDelivery).where(
                    EventSubDelivery.message_type == "notification"))).all()
            return len(rows) == 2 and all(r.delivered_at is not None for r in rows)

        await until(delivered, what="delivered after restart")
        ok = receiver.received[before:]  # the new service's deliveries
        assert {m.id for m in ok} == original and len(ok) == 2
        for msg in ok:
            check_headers(msg, "notification", sub, retry=int(
                msg.headers["Twitch-Eventsub-Message-Retry"]))
    finally:
        await second.stop()


async def test_index_sees_subscriptions_made_by_another_node(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, receiver: Receiver,
    users: dict[str, int],
) -> None:
    one = EventSubService(sessions, settings(tmp_path))
    other = EventSubService(sessions, settings(tmp_path))
    await one.start()
    await other.start()
    try:
        assert other.subscribed("stream.online") == []
        sub = await enabled(one, receiver, "stream.online",
                            {"broadcaster_user_id": str(users["alice"])})

        async def seen() -> bool:
            return [s.id for s in other.subscribed("stream.online")] == [sub.id]

        await until(seen, what="periodic refresh on the other node")
        other.emit("stream.online", online(users["alice"], "alice"))
        await receiver.wait("notification", 1)
    finally:
        await one.stop()
        await other.stop()


async def test_authorization_and_validation(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, receiver: Receiver,
    users: dict[str, int],
) -> None:
    service = EventSubService(sessions, settings(tmp_path))
    follow = {"broadcaster_user_id": str(users["alice"]), "moderator_user_id": str(users["mod"])}

    async def make(type: str, condition: dict[str, str], version: str = "1",
                   **kw: Any) -> Subscription:
        args: dict[str, Any] = {"client_id": CLIENT, "caller_user_id": None,
                                "caller_scopes": frozenset(), "type": type,
                                "version": version, "condition": condition,
                                "method": "webhook", "callback": receiver.url,
                                "secret": SECRET, "session_id": None}
        args.update(kw)
        sub, *_ = await service.create(**args)
        return sub

    async def refused(status: int, text: str, *args: Any, **kw: Any) -> None:
        with pytest.raises(ApiError) as err:
            await make(*args, **kw)
        assert err.value.status == status, err.value.message
        assert text.lower() in err.value.message.lower(), err.value.message

    await refused(400, "unsupported subscription type", "channel.nothing", follow)
    await refused(400, "unsupported version", "channel.follow", follow, "1")
    await refused(400, "missing condition field 'moderator_user_id'", "channel.follow",
                  {"broadcaster_user_id": str(users["alice"])}, "2")
    await refused(400, "exactly one of", "channel.raid", {})
    await refused(400, "unknown user", "stream.online", {"broadcaster_user_id": "99999"})
    await refused(400, "http", "stream.online", {"broadcaster_user_id": "1"},
                  callback="ftp://127.0.0.1/x")
    await refused(400, "websocket transport requires a user", "stream.online",
                  {"broadcaster_user_id": str(users["alice"])}, method="websocket",
                  session_id="x")
    # the moderator has not authorized this client with moderator:read:followers
    await refused(403, "moderator_user_id", "channel.follow", follow, "2")
    tokens = TokenService(sessions)
    other_client = await tokens.create("mod", ("moderator:read:followers",), client_id="other")
    await refused(403, "moderator_user_id", "channel.follow", follow, "2")
    granted = await tokens.create("mod", ("moderator:read:followers",), client_id=CLIENT)
    sub = await make("channel.follow", follow, "2")
    assert sub.status == "webhook_callback_verification_pending" and sub.cost == 0
    await refused(409, "already exists", "channel.follow", follow, "2")
    # a revoked grant no longer authorizes
    await tokens.revoke(granted.access_token)
    await tokens.revoke(other_client.access_token)
    await refused(403, "moderator_user_id", "channel.follow",
                  {**follow, "broadcaster_user_id": str(users["bob"])}, "2")
    plain = await make("stream.online", {"broadcaster_user_id": str(users["alice"])})
    assert plain.cost == 1
