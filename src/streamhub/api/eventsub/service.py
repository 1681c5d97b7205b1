"""EventSub: the node's event sink, subscription store and matcher feeding webhooks and sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
import uuid
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from streamhub.api.errors import ApiError
from streamhub.api.eventsub.types import TYPES, Subscription, lookup
from streamhub.api.eventsub.webhook import WebhookWorker, message_timestamp
from streamhub.api.eventsub.websocket import WebSocketHub
from streamhub.chat.bus import Bus
from streamhub.config import Settings
from streamhub.storage.models import (
    AccessToken,
    EventSubDelivery,
    EventSubSubscription,
    RefreshToken,
    User,
    utcnow,
)

ENABLED = "enabled"
PENDING = "webhook_callback_verification_pending"
ACTIVE = (ENABLED, PENDING)  # statuses that count towards cost and duplicates
WEBHOOK_MAX_TOTAL_COST = 10_000
WEBSOCKET_MAX_TOTAL_COST = 10
MAX_PER_SESSION = 300


class Created(NamedTuple):
    """A new subscription and its owner's active totals afterwards (Helix's envelope)."""

    subscription: Subscription
    total: int
    total_cost: int
    max_total_cost: int


def check_callback(url: str) -> str:
    """A webhook callback: an absolute http(s) URL without credentials (ValueError if not).

    Loopback and private addresses are allowed on purpose (self-hosted receivers)."""
    if len(url) > 500:
        raise ValueError("transport.callback is longer than 500 characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("transport.callback must be an absolute http:// or https:// URL")
    if parts.username or parts.password:
        raise ValueError("transport.callback must not contain credentials")
    try:
        parts.port  # noqa: B018 - validates the port number
    except ValueError:
        raise ValueError("transport.callback has an invalid port") from None
    return url


class EventSubService:
    """Implements EventSink: `emit` is cheap and non-blocking; a task matches events against
    enabled subscriptions, writes outbox rows for webhooks (one transaction per event) and
    pushes to websocket sessions."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings,
                 *, logger: logging.Logger | None = None) -> None:
        self.sessions = sessions
        self.settings = settings
        self.log = logger or logging.getLogger("streamhub.eventsub")
        self._index: dict[str, list[Subscription]] = {}
        self._queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(
            maxsize=settings.eventsub_queue_size)
        self.dropped = 0
        self.webhooks = WebhookWorker(sessions, settings, on_change=self.refresh,
                                      logger=self.log.getChild("webhook"))
        self.sockets = WebSocketHub(self, settings, logger=self.log.getChild("ws"))
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        self._busy = False

    def attach_bus(self, bus: Bus) -> None:
        """Websocket notifications travel over the node bus (Redis across nodes)."""
        self.sockets.bus = bus

    # -- the sink ------------------------------------------------------------------------

    def wants(self, type: str) -> bool:
        return self._started and bool(self._index.get(type))

    def emit(self, type: str, event: Mapping[str, Any]) -> None:
        if not self.wants(type):
            return
        try:
            self._queue.put_nowait((type, dict(event)))
        except asyncio.QueueFull:
            self.dropped += 1
            self.log.warning("eventsub queue full: dropped a %s event (%d dropped so far)",
                             type, self.dropped)

    def subscribed(self, type: str) -> list[Subscription]:
        """Enabled subscriptions of this type known to this node (the in-memory index)."""
        return list(self._index.get(type, ()))

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self, public_base: str | None = None) -> None:
        """Load the index and start the dispatcher, the index refresher and the webhook
        worker (which resumes whatever the outbox still holds)."""
        if public_base:
            self.sockets.public_ws = public_base.replace("http", "ws", 1) + "/eventsub/ws"
        await self.refresh()
        self._started = True
        self._tasks = [asyncio.create_task(self._dispatch()),
                       asyncio.create_task(self._refresh_loop()),
                       asyncio.create_task(self.webhooks.run())]

    async def stop(self) -> None:
        """Ask websocket clients to reconnect elsewhere, stop the tasks and hand claimed
        outbox rows back (they stay in the database for the next start)."""
        self._started = False
        await self.sockets.reconnect_all()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        await self.webhooks.close()

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until every emitted event has been matched (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while (self._queue.qsize() or self._busy) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def refresh(self) -> None:
        """Reload the enabled subscriptions (called on every change here, and periodically
        for changes other nodes made)."""
        async with self.sessions() as session:
            rows = (await session.scalars(select(EventSubSubscription).where(
                EventSubSubscription.status == ENABLED))).all()
        index: dict[str, list[Subscription]] = {}
        for row in rows:
            if (row.type, row.version) in TYPES:
                index.setdefault(row.type, []).append(Subscription.of(row))
        self._index = index

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.eventsub_refresh_interval)
            try:
                await self.sockets.expire_reconnects()
                await self.refresh()
            except Exception as exc:  # database away: keep the old index
                self.log.warning("eventsub index refresh failed: %s", exc)

    async def _dispatch(self) -> None:
        while True:
            type, event = await self._queue.get()
            self._busy = True
            try:
                await self.deliver(type, event)
            except Exception:
                self.log.exception("eventsub: delivering a %s event failed", type)
            finally:
                self._busy = self._queue.qsize() > 0

    async def deliver(self, type: str, event: dict[str, Any]) -> None:
        """Match one event and hand it to every matching subscription's transport."""
        matches = [s for s in self._index.get(type, ()) if s.kind.matches(s.condition, event)]
        hooks = [s for s in matches if s.method == "webhook"]
        if hooks:
            now = utcnow()
            async with self.sessions() as session:
                session.add_all(EventSubDelivery(
                    message_id=str(uuid.uuid4()), subscription_id=s.id,
                    message_type="notification", body=json.dumps(
                        {"subscription": s.json(), "event": event}, separators=(",", ":")),
                    attempts=0, next_attempt_at=now, created_at=now, last_error="",
                ) for s in hooks)
                await session.commit()
            self.webhooks.wake()
        for sub in matches:
            if sub.method == "websocket" and sub.session_id:
                await self.sockets.send(sub.session_id, {
                    "metadata": {
                        "message_id": str(uuid.uuid4()), "message_type": "notification",
                        "message_timestamp": message_timestamp(),
                        "subscription_type": sub.type, "subscription_version": sub.version,
                    },
                    "payload": {"subscription": sub.json(), "event": event},
                })

    # -- subscriptions -------------------------------------------------------------------

    async def _authorized(self, session: AsyncSession, user_id: int, client_id: str,
                          scopes: tuple[str, ...]) -> bool:
        """Has this user granted `client_id` one of `scopes` (a live access or refresh
        token)?"""
        now = utcnow()
        granted: list[str] = list((await session.scalars(select(AccessToken.scopes).where(
            AccessToken.user_id == user_id, AccessToken.client_id == client_id,
            AccessToken.revoked_at.is_(None),
            (AccessToken.expires_at.is_(None)) | (AccessToken.expires_at > now)))).all())
        granted += (await session.scalars(select(RefreshToken.scopes).where(
            RefreshToken.user_id == user_id, RefreshToken.client_id == client_id,
            RefreshToken.revoked_at.is_(None)))).all()
        return any(scope in held.split() for held in granted for scope in scopes)

    async def create(
        self, *, client_id: str, caller_user_id: int | None, caller_scopes: frozenset[str],
        type: str, version: str, condition: Mapping[str, Any], method: str,
        callback: str | None, secret: str | None, session_id: str | None,
    ) -> Created:
        """Create a subscription (webhook: pending until the callback answers the challenge).
        ApiError on refusal."""
        try:
            kind = lookup(type, version)
            cond = kind.check_condition(condition)
        except ValueError as exc:
            raise ApiError(400, str(exc)[:1].upper() + str(exc)[1:]) from None
        if method == "webhook":
            if caller_user_id is not None:
                raise ApiError(400, "The webhook transport requires an app access token")
            if not callback or not secret:
                raise ApiError(400, "The webhook transport requires 'callback' and 'secret'")
            try:
                check_callback(callback)
            except ValueError as exc:
                raise ApiError(400, str(exc)) from None
            if not 10 <= len(secret) <= 100 or not secret.isprintable():
                raise ApiError(400, "transport.secret must be 10-100 printable characters")
            session_id = None
        else:
            if caller_user_id is None:
                raise ApiError(400, "The websocket transport requires a user access token")
            if not session_id:
                raise ApiError(400, "The websocket transport requires 'session_id'")
            if not await self.sockets.exists(session_id):
                raise ApiError(400, "The websocket session does not exist or has disconnected")
            callback = secret = None
        cond_json = json.dumps(cond, sort_keys=True, separators=(",", ":"))
        ids = {int(v) for v in cond.values()}
        async with self.sessions() as session:
            known = set((await session.scalars(select(User.id).where(User.id.in_(ids)))).all())
            missing = sorted(ids - known)
            if missing:
                raise ApiError(400, f"The condition names an unknown user ID {missing[0]}")
            if kind.authorizer is not None:
                authorizer = int(cond[kind.authorizer])
                ok = (method == "websocket" and caller_user_id == authorizer
                      and any(s in caller_scopes for s in kind.scopes))
                if not ok:
                    ok = await self._authorized(session, authorizer, client_id, kind.scopes)
                if not ok:
                    raise ApiError(403, f"The user in {kind.authorizer} has not authorized "
                                        f"this client with {' or '.join(kind.scopes)}")
            owner: tuple[Any, ...] = (EventSubSubscription.client_id == client_id,
                     EventSubSubscription.status.in_(ACTIVE),
                     EventSubSubscription.method == method)
            if method == "websocket":
                owner += (EventSubSubscription.user_id == caller_user_id,)
            dup = await session.scalar(select(EventSubSubscription.id).where(
                *owner, EventSubSubscription.type == type,
                EventSubSubscription.version == version,
                EventSubSubscription.condition == cond_json,
                (EventSubSubscription.callback == callback) if callback
                else (EventSubSubscription.session_id == session_id)).limit(1))
            if dup is not None:
                raise ApiError(409, "A subscription with this type, version, condition and "
                                    "transport already exists")
            cost = 0 if kind.authorizer is not None else 1
            counted = (await session.execute(select(
                func.count(), func.coalesce(func.sum(EventSubSubscription.cost), 0)).where(
                *owner))).one()
            count, total = int(counted[0]), int(counted[1])
            limit = WEBHOOK_MAX_TOTAL_COST if method == "webhook" else WEBSOCKET_MAX_TOTAL_COST
            if total + cost > limit:
                raise ApiError(429, f"The subscriptions' total cost would exceed {limit}")
            if session_id is not None:
                used = await session.scalar(select(func.count()).where(
                    EventSubSubscription.session_id == session_id,
                    EventSubSubscription.status == ENABLED))
                if (used or 0) >= MAX_PER_SESSION:
                    raise ApiError(429, f"A websocket session has at most {MAX_PER_SESSION} "
                                        "subscriptions")
            row = EventSubSubscription(
                id=str(uuid.uuid4()), type=type, version=version, condition=cond_json,
                method=method, callback=callback, secret=secret, session_id=session_id,
                status=PENDING if method == "webhook" else ENABLED, client_id=client_id,
                user_id=caller_user_id, cost=cost, failures=0, created_at=utcnow())
            session.add(row)
            await session.flush()  # the outbox row below references it
            sub = Subscription.of(row)
            if method == "webhook":
                now = utcnow()
                session.add(EventSubDelivery(
                    message_id=str(uuid.uuid4()), subscription_id=row.id,
                    message_type="webhook_callback_verification",
                    body=json.dumps({"challenge": secrets.token_urlsafe(24),
                                     "subscription": sub.json()}, separators=(",", ":")),
                    attempts=0, next_attempt_at=now, created_at=now, last_error=""))
            await session.commit()
        if method == "webhook":
            self.webhooks.wake()
        else:
            assert session_id is not None
            await self.sockets.subscribed(session_id)
            await self.refresh()
        return Created(sub, count + 1, total + cost, limit)

    def _owner_filter(self, client_id: str, user_id: int | None) -> tuple[Any, ...]:
        if user_id is None:
            return (EventSubSubscription.client_id == client_id,)
        return (EventSubSubscription.client_id == client_id,
                EventSubSubscription.user_id == user_id)

    async def list(
        self, *, client_id: str, caller_user_id: int | None, status: str | None,
        type: str | None, user_id: str | None, subscription_id: str | None, offset: int,
        limit: int,
    ) -> tuple[list[Subscription], int, int, int]:
        """The caller's subscriptions (app token: the client's; user token: those it made),
        filtered; with total, total_cost and max_total_cost."""
        owner = self._owner_filter(client_id, caller_user_id)
        query = select(EventSubSubscription).where(*owner)
        if status:
            query = query.where(EventSubSubscription.status == status)
        if type:
            query = query.where(EventSubSubscription.type == type)
        if subscription_id:
            query = query.where(EventSubSubscription.id == subscription_id)
        if user_id:
            # any condition field naming the user (conditions are small JSON objects)
            query = query.where(EventSubSubscription.condition.contains(f'"{user_id}"'))
        async with self.sessions() as session:
            rows = (await session.scalars(query.order_by(
                EventSubSubscription.created_at, EventSubSubscription.id,
            ).offset(offset).limit(limit))).all()
            total = int(await session.scalar(select(func.count()).select_from(
                EventSubSubscription).where(*owner)) or 0)
            cost = int(await session.scalar(select(
                func.coalesce(func.sum(EventSubSubscription.cost), 0)).where(
                *owner, EventSubSubscription.status.in_(ACTIVE))) or 0)
        limit_cost = WEBHOOK_MAX_TOTAL_COST if caller_user_id is None else (
            WEBSOCKET_MAX_TOTAL_COST)
        return [Subscription.of(r) for r in rows], total, cost, limit_cost

    async def delete(self, *, client_id: str, caller_user_id: int | None,
                     subscription_id: str) -> None:
        """Delete one of the caller's subscriptions (404 when it is not one)."""
        async with self.sessions() as session:
            row = await session.scalar(select(EventSubSubscription).where(
                EventSubSubscription.id == subscription_id,
                *self._owner_filter(client_id, caller_user_id)))
            if row is None:
                raise ApiError(404, "Subscription not found")
            await session.delete(row)
            await session.commit()
        await self.refresh()

    async def end_session(self, session_id: str, status: str) -> None:
        """A websocket session ended: its enabled subscriptions get `status`."""
        async with self.sessions() as session:
            await session.execute(update(EventSubSubscription).where(
                EventSubSubscription.session_id == session_id,
                EventSubSubscription.status == ENABLED).values(status=status))
            await session.commit()
        await self.refresh()

    async def move_session(self, parked_prefix: str, new: str) -> int:
        """Hand a reconnecting client's subscriptions (parked under `parked_prefix`<deadline>)
        to session `new`, if the grace time has not passed."""
        now = time.time()
        async with self.sessions() as session:
            rows = (await session.execute(select(
                EventSubSubscription.id, EventSubSubscription.session_id).where(
                EventSubSubscription.method == "websocket",
                EventSubSubscription.status == ENABLED,
                EventSubSubscription.session_id.startswith(parked_prefix, autoescape=True),
            ))).all()
            ids = [r.id for r in rows if _deadline(r.session_id or "") >= now]
            if ids:
                await session.execute(update(EventSubSubscription).where(
                    EventSubSubscription.id.in_(ids)).values(session_id=new))
                await session.commit()
        if ids:
            await self.refresh()
        return len(ids)

    async def revoke(self, subscription_id: str, status: str) -> bool:
        """End a subscription for `status` (e.g. authorization_revoked, user_removed) and tell
        its receiver with a `revocation` message. False if it was not active."""
        async with self.sessions() as session:
            row = await session.get(EventSubSubscription, subscription_id)
            if row is None or row.status not in ACTIVE:
                return False
            row.status = status
            sub = Subscription.of(row)
            if row.method == "webhook":
                now = utcnow()
                session.add(EventSubDelivery(
                    message_id=str(uuid.uuid4()), subscription_id=row.id,
                    message_type="revocation", body=json.dumps(
                        {"subscription": sub.json()}, separators=(",", ":")),
                    attempts=0, next_attempt_at=now, created_at=now, last_error=""))
            await session.commit()
        if sub.method == "webhook":
            self.webhooks.wake()
        elif sub.session_id:
            await self.sockets.revoke(sub.session_id, sub.json())
        await self.refresh()
        return True

    async def user_revoked(self, user_id: int, client_id: str | None) -> int:
        """`_user_revoked`, never raising: the authorization has already ended when this
        runs (account deleted, tokens revoked), so a failure here is logged, not reported
        to the user."""
        try:
            return await self._user_revoked(user_id, client_id)
        except Exception:
            self.log.exception("could not revoke subscriptions resting on user %d", user_id)
            return 0

    async def _user_revoked(self, user_id: int, client_id: str | None) -> int:
        """A user's authorization ended. With `client_id` (its tokens for that client were
        revoked): revoke that client's subscriptions that rest on the user's grant (the user
        is the type's authorizer, or made the websocket subscription) as authorization_revoked.
        Without (the account was deleted): revoke every subscription whose condition names
        the user, or that the user made, as user_removed. Returns how many were revoked."""
        uid = str(user_id)
        query = select(EventSubSubscription.id, EventSubSubscription.type,
                       EventSubSubscription.version, EventSubSubscription.condition,
                       EventSubSubscription.user_id).where(
            EventSubSubscription.status.in_(ACTIVE))
        if client_id is not None:
            query = query.where(EventSubSubscription.client_id == client_id)
        else:  # a cheap pre-filter; the exact test on the parsed condition follows
            query = query.where(EventSubSubscription.condition.contains(f'"{uid}"')
                                | (EventSubSubscription.user_id == user_id))
        async with self.sessions() as session:
            rows = (await session.execute(query)).all()
        chosen: list[str] = []
        for row in rows:
            condition: dict[str, Any] = json.loads(row.condition)
            if client_id is None:
                hit = row.user_id == user_id or any(
                    key.endswith("user_id") and value == uid for key, value in condition.items())
            else:
                authorizer = TYPES[(row.type, row.version)].authorizer if (
                    row.type, row.version) in TYPES else None
                hit = row.user_id == user_id or (
                    authorizer is not None and condition.get(authorizer) == uid)
            if hit:
                chosen.append(row.id)
        status = "user_removed" if client_id is None else "authorization_revoked"
        revoked = 0
        for sub_id in chosen:
            revoked += await self.revoke(sub_id, status)
        return revoked

    async def park_session(self, session_id: str, parked: str) -> None:
        """On shutdown: keep a session's subscriptions under a reconnect key."""
        async with self.sessions() as session:
            await session.execute(update(EventSubSubscription).where(
                EventSubSubscription.session_id == session_id,
                EventSubSubscription.status == ENABLED).values(session_id=parked))
            await session.commit()

    async def expire_parked(self, now: float) -> None:
        """Parked subscriptions whose client did not reconnect in time fail."""
        async with self.sessions() as session:
            rows = (await session.execute(select(
                EventSubSubscription.id, EventSubSubscription.session_id).where(
                EventSubSubscription.method == "websocket",
                EventSubSubscription.status == ENABLED,
                EventSubSubscription.session_id.like("r%.%")))).all()
            late = [r.id for r in rows if _deadline(r.session_id or "") < now]
            if late:
                await session.execute(update(EventSubSubscription).where(
                    EventSubSubscription.id.in_(late)).values(
                    status="websocket_failed_to_reconnect"))
                await session.commit()


def _deadline(parked: str) -> float:
    try:
        return float(parked.rsplit(".", 1)[1])
    except (IndexError, ValueError):
        return float("inf")
