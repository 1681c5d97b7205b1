"""Raids: a live broadcaster sends their viewers to another channel after a short countdown.

A raid is a row in `raids` (pending -> done | canceled); the countdown runs on the node that
started it, and both the countdown and a cancel flip the status with a conditional UPDATE, so
a cancel on any node wins over a raid that has not gone out yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from streamhub.chat.presence import Presence
from streamhub.chat.service import ChatError, ChatService
from streamhub.events import EventSink
from streamhub.ingest.hub import LiveHub
from streamhub.storage.models import Channel, Raid, StreamSession, User

STALE_AFTER = 60.0  # seconds past its countdown after which a pending raid no longer blocks


class RaidError(Exception):
    """A refused raid request, with the HTTP status Helix answers."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Broadcaster:
    id: int
    login: str
    display_name: str


@dataclass(frozen=True, slots=True)
class RaidStarted:
    id: int
    created_at: datetime
    is_mature: bool


class RaidService:
    """Starts, counts down, executes and cancels raids."""

    def __init__(
        self, *, sessions: async_sessionmaker[AsyncSession], chat: ChatService, hub: LiveHub,
        presence: Presence, events: EventSink, delay: float,
        logger: logging.Logger | None = None, now: Callable[[], datetime] | None = None,
    ) -> None:
        self._sessions = sessions
        self._chat = chat
        self._hub = hub
        self._presence = presence
        self._events = events
        self.delay = delay
        self._log = logger or logging.getLogger(__name__)
        self._now = now or (lambda: datetime.now(UTC))
        self._tasks: dict[int, asyncio.Task[None]] = {}

    async def _broadcaster(self, user_id: int) -> Broadcaster | None:
        async with self._sessions() as s:
            row = (await s.execute(select(User.id, User.login, User.display_name)
                                   .where(User.id == user_id))).first()
        return None if row is None else Broadcaster(row.id, row.login, row.display_name)

    async def is_live(self, channel: Broadcaster) -> bool:
        """Live on this node's ingest, or an open stream session in the database."""
        stream = self._hub.get(channel.login)
        if stream is not None and stream.live:
            return True
        async with self._sessions() as s:
            found = await s.scalar(select(StreamSession.id).where(
                StreamSession.channel_id == channel.id, StreamSession.ended_at.is_(None)
            ).limit(1))
        return found is not None

    async def viewers(self, channel: Broadcaster) -> int:
        """Who goes along: the connections in the source channel's chat (all nodes)."""
        room = self._chat.rooms.get(channel.login)
        local = self._chat.local_counts(room) if room is not None else (0, 0)
        connections, _ = await self._presence.totals(channel.login, local)
        return connections

    async def start(self, from_id: int, to_id: int) -> RaidStarted:
        """Queue a raid; it goes out after `delay` seconds unless canceled."""
        if from_id == to_id:
            raise RaidError(400, "The broadcaster may not raid themselves")
        source = await self._broadcaster(from_id)
        target = await self._broadcaster(to_id)
        if source is None:
            raise RaidError(400, "Invalid 'from_broadcaster_id': no such user")
        if target is None:
            raise RaidError(404, "The targeted channel was not found")
        if not await self.is_live(source):
            raise RaidError(400, "The broadcaster must be live to start a raid")
        now = self._now()
        async with self._sessions() as s, s.begin():
            if await self._pending_id(s, from_id, now) is not None:
                raise RaidError(409, "The broadcaster is already in the process of raiding "
                                "another channel")
            raid = Raid(from_id=from_id, to_id=to_id, status="pending", created_at=now)
            s.add(raid)
            await s.flush()
            raid_id = raid.id
            mature = bool(await s.scalar(select(Channel.is_mature)
                                         .where(Channel.user_id == to_id)))
        task = asyncio.get_running_loop().create_task(self._countdown(raid_id, source, target))
        self._tasks[raid_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(raid_id, None))
        return RaidStarted(raid_id, now, mature)

    async def _pending_id(self, s: AsyncSession, from_id: int, now: datetime) -> int | None:
        since = now - timedelta(seconds=self.delay + STALE_AFTER)
        return await s.scalar(select(Raid.id).where(
            Raid.from_id == from_id, Raid.status == "pending", Raid.created_at > since,
        ).order_by(Raid.id.desc()).limit(1))

    async def cancel(self, from_id: int) -> None:
        """Cancel the broadcaster's pending raid; RaidError 404 when there is none."""
        async with self._sessions() as s, s.begin():
            raid_id = await self._pending_id(s, from_id, self._now())
            done = raid_id is not None and await self._set_status(s, raid_id, "canceled")
        if raid_id is None or not done:
            raise RaidError(404, "The broadcaster doesn't have a pending raid to cancel")
        task = self._tasks.pop(raid_id, None)
        if task is not None:
            task.cancel()

    @staticmethod
    async def _set_status(s: AsyncSession, raid_id: int, status: str,
                          viewers: int | None = None, at: datetime | None = None) -> bool:
        values: dict[str, object] = {"status": status}
        if viewers is not None:
            values["viewer_count"] = viewers
        if at is not None:
            values["executed_at"] = at
        result = await s.execute(update(Raid).where(Raid.id == raid_id,
                                                    Raid.status == "pending").values(**values))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def _countdown(self, raid_id: int, source: Broadcaster, target: Broadcaster) -> None:
        try:
            await asyncio.sleep(self.delay)
            await self.execute(raid_id, source, target)
        except asyncio.CancelledError:
            raise
        except Exception:
            self._log.exception("raid %d from %s to %s failed", raid_id, source.login,
                                target.login)

    async def execute(self, raid_id: int, source: Broadcaster, target: Broadcaster) -> bool:
        """Send the raid now (if still pending): USERNOTICE in the target's chat, HOSTTARGET
        in the source's, `channel.raid` event. False when it was canceled meanwhile."""
        viewers = await self.viewers(source)
        async with self._sessions() as s, s.begin():
            if not await self._set_status(s, raid_id, "done", viewers, self._now()):
                return False
        tags = {
            "badge-info": "", "badges": "", "color": "", "display-name": source.display_name,
            "emotes": "", "login": source.login, "mod": "0",
            "msg-param-displayName": source.display_name, "msg-param-login": source.login,
            "msg-param-viewerCount": str(viewers), "subscriber": "0", "turbo": "0",
            "user-id": str(source.id), "user-type": "",
        }
        try:
            await self._chat.usernotice(
                target.login, "raid", f"{viewers} raiders from {source.display_name} have joined!",
                tags)
            await self._chat.host_target(source.login, target.login, viewers)
        except ChatError as exc:
            self._log.warning("raid %d: chat refused: %s", raid_id, exc.text)
        self._events.emit("channel.raid", {
            "from_broadcaster_user_id": str(source.id),
            "from_broadcaster_user_login": source.login,
            "from_broadcaster_user_name": source.display_name,
            "to_broadcaster_user_id": str(target.id),
            "to_broadcaster_user_login": target.login,
            "to_broadcaster_user_name": target.display_name,
            "viewers": viewers,
        })
        return True

    async def close(self) -> None:
        """Stop the countdowns of this node (their raids stay pending, then go stale)."""
        for task in list(self._tasks.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
