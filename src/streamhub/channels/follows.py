"""Follows: follow/unfollow, follower and followed lists with totals (chat reads follow age)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from streamhub.storage.models import Follow, User, utcnow


class FollowError(ValueError):
    """A follow that cannot be made (e.g. following oneself)."""


@dataclass(frozen=True, slots=True)
class FollowRow:
    """One follow, with the other side's identity (follower or followed channel)."""

    user_id: int
    login: str
    display_name: str
    followed_at: datetime


async def follow(sessions: async_sessionmaker[AsyncSession], user_id: int, channel_id: int,
                 ) -> tuple[datetime, bool]:
    """Follow a channel; returns (followed_at, created). Following again keeps the first date."""
    if user_id == channel_id:
        raise FollowError("users cannot follow themselves")
    async with sessions() as session:
        found = await session.get(Follow, (user_id, channel_id))
        if found is not None:
            return found.followed_at, False
        now = utcnow()
        session.add(Follow(user_id=user_id, channel_id=channel_id, followed_at=now))
        try:
            await session.commit()
        except IntegrityError:  # a concurrent follow won the race
            await session.rollback()
            again = await session.get(Follow, (user_id, channel_id))
            if again is None:
                raise
            return again.followed_at, False
        return now, True


async def unfollow(sessions: async_sessionmaker[AsyncSession], user_id: int, channel_id: int,
                   ) -> bool:
    async with sessions() as session:
        result = await session.execute(delete(Follow).where(
            Follow.user_id == user_id, Follow.channel_id == channel_id))
        await session.commit()
        return bool(getattr(result, "rowcount", 0))


async def followers(sessions: async_sessionmaker[AsyncSession], channel_id: int, *,
                    user_id: int | None = None, offset: int = 0, limit: int = 20,
                    ) -> tuple[list[FollowRow], int]:
    """The channel's followers, newest first, and the total follower count."""
    where = [Follow.channel_id == channel_id]
    if user_id is not None:
        where.append(Follow.user_id == user_id)
    async with sessions() as session:
        total = await session.scalar(select(func.count()).select_from(Follow).where(
            Follow.channel_id == channel_id)) or 0
        rows = await session.execute(
            select(User.id, User.login, User.display_name, Follow.followed_at)
            .join(User, User.id == Follow.user_id).where(*where)
            .order_by(Follow.followed_at.desc(), User.id).offset(offset).limit(limit))
        return [FollowRow(*r) for r in rows], int(total)


async def followed(sessions: async_sessionmaker[AsyncSession], user_id: int, *,
                   channel_id: int | None = None, offset: int = 0, limit: int = 20,
                   ) -> tuple[list[FollowRow], int]:
    """The channels a user follows, newest first, and how many they follow in total."""
    where = [Follow.user_id == user_id]
    if channel_id is not None:
        where.append(Follow.channel_id == channel_id)
    async with sessions() as session:
        total = await session.scalar(select(func.count()).select_from(Follow).where(*where)) or 0
        rows = await session.execute(
            select(User.id, User.login, User.display_name, Follow.followed_at)
            .join(User, User.id == Follow.channel_id).where(*where)
            .order_by(Follow.followed_at.desc(), User.id).offset(offset).limit(limit))
        return [FollowRow(*r) for r in rows], int(total)


async def followed_ids(sessions: async_sessionmaker[AsyncSession], user_id: int) -> set[int]:
    async with sessions() as session:
        return set(await session.scalars(select(Follow.channel_id).where(
            Follow.user_id == user_id)))
