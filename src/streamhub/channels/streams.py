"""Stream sessions: a `streams` row per broadcast, stream.online/offline events, live listings."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Collection, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from streamhub.events import EventSink
from streamhub.storage.models import Category, Channel, StreamSession, User, utcnow
from streamhub.utc import rfc3339


def node_name(data_dir: Path) -> str:
    """A stable name for this node: host name plus a digest of its data directory."""
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:10]
    return f"{socket.gethostname()[:50]}-{digest}"


class StreamSessions:
    """The ingest hub's LiveListener: records sessions in order and reports them as events."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], events: EventSink,
                 *, node: str, logger: logging.Logger) -> None:
        self._sessions = sessions
        self._events = events
        self._node = node[:64]
        self._log = logger
        self._lock = asyncio.Lock()  # FIFO: a session's online is written before its offline
        self._tasks: set[asyncio.Task[None]] = set()

    # ---- LiveListener ----

    def on_live(self, login: str, session_id: str, started: datetime) -> None:
        self._spawn(self._online(login, session_id, started))

    def on_offline(self, login: str, session_id: str) -> None:
        self._spawn(self._offline(login, session_id))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _online(self, login: str, session_id: str, started: datetime) -> None:
        async with self._lock:
            try:
                async with self._sessions() as session:
                    row = (await session.execute(
                        select(User.id, User.login, User.display_name, Channel.title,
                               Channel.category_id)
                        .join(Channel, Channel.user_id == User.id)
                        .where(User.login == login))).first()
                    if row is None:
                        return
                    stream = StreamSession(channel_id=row.id, session_id=session_id[:40],
                                           node=self._node, title=row.title,
                                           category_id=row.category_id, started_at=started)
                    session.add(stream)
                    await session.commit()
                    stream_id = stream.id
            except Exception:
                self._log.exception("%s: could not record the stream session", login)
                return
        self._events.emit("stream.online", {
            "id": str(stream_id), "broadcaster_user_id": str(row.id),
            "broadcaster_user_login": row.login, "broadcaster_user_name": row.display_name,
            "type": "live", "started_at": rfc3339(started)})

    async def _offline(self, login: str, session_id: str) -> None:
        async with self._lock:
            try:
                async with self._sessions() as session:
                    user = (await session.execute(select(User.id, User.login, User.display_name)
                                                  .where(User.login == login))).first()
                    if user is None:
                        return
                    result = await session.execute(update(StreamSession).where(
                        StreamSession.channel_id == user.id,
                        StreamSession.session_id == session_id[:40],
                        StreamSession.ended_at.is_(None)).values(ended_at=utcnow()))
                    await session.commit()
            except Exception:
                self._log.exception("%s: could not end the stream session", login)
                return
        if getattr(result, "rowcount", 0):
            self._emit_offline(user.id, user.login, user.display_name)

    def _emit_offline(self, user_id: int, login: str, name: str) -> None:
        self._events.emit("stream.offline", {
            "broadcaster_user_id": str(user_id), "broadcaster_user_login": login,
            "broadcaster_user_name": name})

    async def close_orphans(self) -> int:
        """At start: end the sessions this node left open (it crashed or was killed)."""
        async with self._lock, self._sessions() as session:
            rows = (await session.execute(
                select(StreamSession.id, User.id, User.login, User.display_name)
                .join(User, User.id == StreamSession.channel_id)
                .where(StreamSession.node == self._node, StreamSession.ended_at.is_(None)),
            )).all()
            if rows:
                await session.execute(update(StreamSession).where(
                    StreamSession.id.in_([r[0] for r in rows])).values(ended_at=utcnow()))
                await session.commit()
        for _, uid, login, name in rows:
            self._log.info("%s: closed a stream session left open by this node", login)
            self._emit_offline(uid, login, name)
        return len(rows)

    async def drain(self) -> None:
        """Wait for pending writes (at shutdown)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


@dataclass(frozen=True, slots=True)
class LiveStream:
    """A channel that is live now, with its current channel settings."""

    id: int
    user_id: int
    login: str
    display_name: str
    title: str
    category_id: int | None
    category_name: str
    tags: list[str]
    language: str
    is_mature: bool
    started_at: datetime


async def live_streams(sessions: async_sessionmaker[AsyncSession], *,
                       user_ids: Iterable[int] = (), logins: Iterable[str] = (),
                       category_ids: Iterable[int] = (), languages: Iterable[str] = (),
                       ) -> list[LiveStream]:
    """Open sessions (one per channel, the newest), filtered: users by id or login, AND
    category, AND language."""
    ids, names = sorted(set(user_ids)), sorted({x.lower() for x in logins})
    cats, langs = sorted(set(category_ids)), sorted({x.lower() for x in languages})
    query = (select(StreamSession.id, User.id, User.login, User.display_name, Channel.title,
                    Channel.category_id, Category.name, Channel.tags, Channel.language,
                    Channel.is_mature, StreamSession.started_at)
             .join(User, User.id == StreamSession.channel_id)
             .join(Channel, Channel.user_id == User.id)
             .outerjoin(Category, Category.id == Channel.category_id)
             .where(StreamSession.ended_at.is_(None)))
    if ids or names:
        query = query.where(User.id.in_(ids) | User.login.in_(names))
    if cats:
        query = query.where(Channel.category_id.in_(cats))
    if langs:
        query = query.where(Channel.language.in_(langs))
    async with sessions() as session:
        rows = (await session.execute(query.order_by(StreamSession.id.desc()))).all()
    out: dict[int, LiveStream] = {}
    for r in rows:
        if r[1] not in out:
            out[r[1]] = LiveStream(r[0], r[1], r[2], r[3], r[4], r[5], r[6] or "",
                                   r[7].split() if r[7] else [], r[8], r[9], r[10])
    return list(out.values())


ViewerCount = Callable[[str], Awaitable[int]]
_DIRECTORY_EVENTS = frozenset({"stream.online", "stream.offline", "channel.update"})


def matches(s: LiveStream, *, user_ids: Collection[int] = (), logins: Collection[str] = (),
            category_ids: Collection[int] = (), languages: Collection[str] = ()) -> bool:
    """The /helix/streams filters: (user id or login) AND category AND language."""
    if (user_ids or logins) and s.user_id not in user_ids and s.login not in logins:
        return False
    if category_ids and s.category_id not in category_ids:
        return False
    return not languages or s.language.lower() in languages


class LiveDirectory:
    """Every live stream with its viewer count, most viewed first, read at most once per
    `ttl` seconds (directory pages and bots poll /helix/streams; one read serves them all).

    It is also an EventSink: stream.online/offline and channel.update emitted on this node
    make the next read fresh, so this node's own changes show at once; other nodes' within
    `ttl`.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, ttl: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._sessions = sessions
        self._ttl = ttl
        self._clock = clock
        self._value: list[tuple[int, LiveStream]] | None = None
        self._until = 0.0
        self._generation = 0
        self._loading: asyncio.Future[list[tuple[int, LiveStream]]] | None = None

    def wants(self, type: str) -> bool:
        return type in _DIRECTORY_EVENTS

    def emit(self, type: str, event: Mapping[str, Any]) -> None:
        if self.wants(type):
            self.invalidate()

    def invalidate(self) -> None:
        self._generation += 1
        self._value = None

    async def listing(self, viewers: ViewerCount) -> list[tuple[int, LiveStream]]:
        """(viewer count, stream) pairs, most viewers first, then oldest, then by id."""
        if self._value is not None and self._clock() < self._until:
            return self._value
        if self._loading is not None and self._loading.done():  # left by a canceled caller
            self._loading = None
        if self._loading is None:  # one read at a time; concurrent callers share it
            self._loading = asyncio.ensure_future(self._load(viewers))
        loading = self._loading
        try:
            return await asyncio.shield(loading)
        finally:
            if self._loading is loading and loading.done():
                self._loading = None

    async def _load(self, viewers: ViewerCount) -> list[tuple[int, LiveStream]]:
        generation = self._generation
        found = await live_streams(self._sessions)
        counted = [(await viewers(s.login), s) for s in found]
        counted.sort(key=lambda vs: (-vs[0], vs[1].started_at, vs[1].id))
        if generation == self._generation and self._ttl > 0:
            self._value, self._until = counted, self._clock() + self._ttl
        return counted


class EventFanout:
    """An EventSink that hands every event to several sinks (EventSub, caches)."""

    def __init__(self, *sinks: EventSink) -> None:
        self._sinks = sinks

    def wants(self, type: str) -> bool:
        return any(sink.wants(type) for sink in self._sinks)

    def emit(self, type: str, event: Mapping[str, Any]) -> None:
        for sink in self._sinks:
            if sink.wants(type):
                sink.emit(type, event)
