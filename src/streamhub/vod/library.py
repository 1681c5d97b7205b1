"""The VOD catalogue: ended live sessions of existing channels (rows of `streams`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, Select, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from streamhub.storage.models import Category, StreamSession, User
from streamhub.utc import aware


@dataclass(frozen=True, slots=True)
class Video:
    """One ended broadcast (its recording may or may not be on disk)."""

    id: int
    channel_id: int
    login: str
    display_name: str
    session_id: str
    title: str
    category_id: int | None
    category_name: str
    started_at: datetime
    ended_at: datetime

    @property
    def seconds(self) -> float:
        return max(0.0, (self.ended_at - self.started_at).total_seconds())


def _query() -> Select[StreamSession, User, str]:
    return (select(StreamSession, User, Category.name)
            .join(User, User.id == StreamSession.channel_id)
            .outerjoin(Category, Category.id == StreamSession.category_id)
            .where(StreamSession.ended_at.is_not(None)))


def _video(found: Row[StreamSession, User, str]) -> Video:
    row, user, category = found
    assert row.ended_at is not None
    return Video(row.id, user.id, user.login, user.display_name, row.session_id, row.title or "",
                 row.category_id, category or "", aware(row.started_at), aware(row.ended_at))


async def video(sessions: async_sessionmaker[AsyncSession], stream_id: int) -> Video | None:
    """The ended session with this `streams` id, None when unknown or still live."""
    async with sessions() as session:
        found = (await session.execute(_query().where(StreamSession.id == stream_id))).first()
    return _video(found) if found is not None else None


async def by_session(sessions: async_sessionmaker[AsyncSession], login: str,
                     session_id: str) -> Video | None:
    """`login`'s ended session `session_id`, None when unknown, still live or no such channel."""
    async with sessions() as session:
        found = (await session.execute(
            _query().where(User.login == login, StreamSession.session_id == session_id)
            .order_by(StreamSession.id.desc()).limit(1))).first()
    return _video(found) if found is not None else None


async def channel_videos(sessions: async_sessionmaker[AsyncSession], channel_id: int,
                         limit: int = 5) -> list[Video]:
    """The channel's ended sessions, newest first."""
    async with sessions() as session:
        rows = await session.execute(
            _query().where(StreamSession.channel_id == channel_id)
            .order_by(StreamSession.started_at.desc(), StreamSession.id.desc()).limit(limit))
        return [_video(row) for row in rows]

