"""Webhook delivery from the outbox: claim due rows, sign, POST, retry with backoff, revoke."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from streamhub.api.eventsub.types import Subscription
from streamhub.config import Settings
from streamhub.storage.models import EventSubDelivery, EventSubSubscription, utcnow

BATCH = 50


def message_timestamp() -> str:
    """Now as RFC 3339 with nanoseconds, as Twitch-Eventsub-Message-Timestamp carries it."""
    ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


def signature(secret: str, message_id: str, timestamp: str, body: bytes) -> str:
    """`sha256=` + hex HMAC-SHA256(secret, id + timestamp + raw body)."""
    mac = hmac.new(secret.encode(), message_id.encode() + timestamp.encode() + body,
                   hashlib.sha256)
    return "sha256=" + mac.hexdigest()


@dataclass(frozen=True, slots=True)
class Claimed:
    """One outbox row taken for an attempt (with what signing needs)."""

    id: int
    message_id: str
    message_type: str
    body: str
    attempts: int
    subscription_id: str
    sub_type: str
    sub_version: str
    callback: str
    secret: str


class WebhookWorker:
    """Delivers outbox rows. Claims are short transactions (FOR UPDATE SKIP LOCKED on
    PostgreSQL, so several nodes share the work) that push the row's next_attempt_at out by
    a lease; the HTTP call happens outside any transaction. Deliveries are at least once:
    a row is done only when a 2xx was seen, and a retry reuses its message id."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings, *,
                 on_change: Callable[[], Awaitable[None]],
                 logger: logging.Logger | None = None) -> None:
        self.sessions = sessions
        self.settings = settings
        self.on_change = on_change
        self.log = logger or logging.getLogger("streamhub.eventsub.webhook")
        self._wake = asyncio.Event()
        self._inflight: set[int] = set()
        self._client: httpx.AsyncClient | None = None

    def wake(self) -> None:
        self._wake.set()

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.settings.eventsub_timeout + 30)

    def backoff(self, attempts: int) -> float:
        """Seconds before retry number `attempts` (1, 2, ...): base * 2^(attempts-1)."""
        return float(min(self.settings.eventsub_retry_base * 2 ** (attempts - 1), 3600.0))

    async def run(self) -> None:
        self._client = httpx.AsyncClient(
            follow_redirects=False, trust_env=False,
            timeout=httpx.Timeout(self.settings.eventsub_timeout),
            headers={"User-Agent": "StreamHub-EventSub"},
        )
        while True:
            self._wake.clear()
            try:
                claimed = await self.claim()
            except Exception as exc:  # database away: try again shortly
                self.log.warning("eventsub outbox claim failed: %s", exc)
                claimed = []
            if claimed:
                await asyncio.gather(*(self._attempt(c) for c in claimed))
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.eventsub_poll_interval)

    async def close(self) -> None:
        """Hand rows still in flight back (due now), so the next start retries them."""
        if self._inflight:
            async with self.sessions() as session:
                await session.execute(update(EventSubDelivery).where(
                    EventSubDelivery.id.in_(self._inflight),
                    EventSubDelivery.delivered_at.is_(None)).values(next_attempt_at=utcnow()))
                await session.commit()
            self._inflight.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def claim(self) -> list[Claimed]:
        now = utcnow()
        async with self.sessions() as session:
            rows = (await session.execute(
                select(EventSubDelivery, EventSubSubscription)
                .join(EventSubSubscription,
                      EventSubSubscription.id == EventSubDelivery.subscription_id)
                .where(EventSubDelivery.delivered_at.is_(None),
                       EventSubDelivery.failed_at.is_(None),
                       EventSubDelivery.next_attempt_at <= now,
                       EventSubSubscription.method == "webhook",
                       or_(EventSubDelivery.message_type != "notification",
                           EventSubSubscription.status == "enabled"))
                .order_by(EventSubDelivery.next_attempt_at, EventSubDelivery.id)
                .limit(BATCH)
                .with_for_update(skip_locked=True, of=EventSubDelivery)
            )).all()
            out: list[Claimed] = []
            for row, sub in rows:
                row.next_attempt_at = now + self.lease
                out.append(Claimed(row.id, row.message_id, row.message_type, row.body,
                                   row.attempts, sub.id, sub.type, sub.version,
                                   sub.callback or "", sub.secret or ""))
            await session.commit()
        self._inflight.update(c.id for c in out)
        return out

    async def _attempt(self, row: Claimed) -> None:
        try:
            ok, answered, error = await self._post(row)
            await self._record(row, ok, answered, error)
        except Exception:
            self.log.exception("eventsub delivery of %s failed unexpectedly", row.message_id)
        # on cancellation (stop) the row stays in flight: close() hands it back
        self._inflight.discard(row.id)

    async def _post(self, row: Claimed) -> tuple[bool, bool, str]:
        """(success, the receiver answered at all, error text)."""
        assert self._client is not None
        body = row.body.encode()
        stamp = message_timestamp()
        headers = {
            "Content-Type": "application/json",
            "Twitch-Eventsub-Message-Id": row.message_id,
            "Twitch-Eventsub-Message-Timestamp": stamp,
            "Twitch-Eventsub-Message-Signature": signature(row.secret, row.message_id, stamp,
                                                           body),
            "Twitch-Eventsub-Message-Type": row.message_type,
            "Twitch-Eventsub-Message-Retry": str(row.attempts),
            "Twitch-Eventsub-Subscription-Type": row.sub_type,
            "Twitch-Eventsub-Subscription-Version": row.sub_version,
        }
        try:
            response = await self._client.post(row.callback, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return False, False, f"{type(exc).__name__}: {exc}"[:500]
        if row.message_type == "webhook_callback_verification":
            challenge = json.loads(row.body)["challenge"]
            if response.status_code != 200:
                return False, True, f"challenge answered with HTTP {response.status_code}"
            if response.text.strip() != challenge:
                return False, True, "challenge answered with the wrong text"
            return True, True, ""
        if 200 <= response.status_code < 300:
            return True, True, ""
        return False, True, f"HTTP {response.status_code}"

    async def _record(self, row: Claimed, ok: bool, answered: bool, error: str) -> None:
        now = utcnow()
        attempts = row.attempts + 1
        changed = False
        async with self.sessions() as session:
            delivery = await session.get(EventSubDelivery, row.id)
            sub = await session.get(EventSubSubscription, row.subscription_id)
            if delivery is None or sub is None:  # subscription deleted meanwhile
                return
            delivery.attempts = attempts
            if ok:
                delivery.delivered_at = now
                delivery.last_error = ""
                if row.message_type == "webhook_callback_verification":
                    if sub.status == "webhook_callback_verification_pending":
                        sub.status = "enabled"
                        changed = True
                else:
                    sub.failures = 0
            else:
                delivery.last_error = error
                self.log.info("eventsub %s %s to subscription %s failed (attempt %d): %s",
                              row.message_type, row.message_id, row.subscription_id,
                              attempts, error)
                final = attempts >= self.settings.eventsub_max_attempts
                if row.message_type == "webhook_callback_verification":
                    if answered or final:
                        delivery.failed_at = now
                        if sub.status == "webhook_callback_verification_pending":
                            sub.status = "webhook_callback_verification_failed"
                    else:
                        delivery.next_attempt_at = now + timedelta(seconds=self.backoff(attempts))
                elif row.message_type == "revocation":
                    delivery.failed_at = now  # revocations are sent once
                else:
                    sub.failures += 1
                    if final:
                        delivery.failed_at = now
                        if sub.status == "enabled":
                            await self._revoke(session, sub, now)
                            changed = True
                    else:
                        delivery.next_attempt_at = now + timedelta(seconds=self.backoff(attempts))
            await session.commit()
        if changed:
            self.wake()
            await self.on_change()

    async def _revoke(self, session: AsyncSession, sub: EventSubSubscription,
                      now: datetime) -> None:
        """Give up on a subscription: its status, its other pending messages, a revocation."""
        sub.status = "notification_failures_exceeded"
        await session.flush()
        await session.execute(update(EventSubDelivery).where(
            EventSubDelivery.subscription_id == sub.id,
            EventSubDelivery.message_type == "notification",
            EventSubDelivery.delivered_at.is_(None),
            EventSubDelivery.failed_at.is_(None)).values(
            failed_at=now, last_error="subscription revoked"))
        body = json.dumps({"subscription": Subscription.of(sub).json()}, separators=(",", ":"))
        session.add(EventSubDelivery(
            message_id=str(uuid.uuid4()), subscription_id=sub.id, message_type="revocation",
            body=body, attempts=0, next_attempt_at=now, created_at=now, last_error=""))
