"""LiveDirectory and ViewerSettingsCache: one database read serves many callers for `ttl`;
this node's events refresh them at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from streamhub.channels.profile import ViewerSettingsCache
from streamhub.channels.service import ChannelService
from streamhub.channels.streams import LiveDirectory, matches
from streamhub.storage.models import Channel, StreamSession


async def test_reads_once_per_ttl_and_events_refresh(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    now = [0.0]
    directory = LiveDirectory(sessions, ttl=1.0, clock=lambda: now[0])
    users = [await ChannelService(sessions).create_user(f"live{i}") for i in range(3)]
    reads: list[str] = []

    async def viewers(login: str) -> int:
        reads.append(login)
        return {"live0": 5, "live1": 9}.get(login, 0)

    async def go_live(user_id: int) -> None:
        async with sessions() as session:
            session.add(StreamSession(channel_id=user_id, session_id=f"s{user_id}",
                                      started_at=datetime.now(UTC)))
            await session.commit()

    await go_live(users[0].id)
    await go_live(users[1].id)
    # concurrent callers share one read
    first, second = await asyncio.gather(directory.listing(viewers), directory.listing(viewers))
    assert [(v, s.login) for v, s in first] == [(9, "live1"), (5, "live0")] == [
        (v, s.login) for v, s in second]
    assert sorted(reads) == ["live0", "live1"]
    await go_live(users[2].id)
    assert len(await directory.listing(viewers)) == 2  # within ttl: the same read
    directory.emit("channel.follow", {})  # unrelated events keep it
    assert len(await directory.listing(viewers)) == 2
    directory.emit("stream.online", {})  # this node's change: fresh at once
    assert len(await directory.listing(viewers)) == 3
    await go_live(users[2].id)
    now[0] += 1.5  # ttl over: read again (one row per channel, the newest session)
    listed = await directory.listing(viewers)
    assert [s.login for _, s in listed] == ["live1", "live0", "live2"]
    assert [s.login for _, s in listed if matches(s, logins={"live2"}, user_ids={users[0].id})
            ] == ["live0", "live2"]
    assert [s.login for _, s in listed if matches(s, languages={"fr"})] == []


async def test_viewer_settings_read_once_per_ttl_and_refreshed_by_events(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    now = [0.0]
    cache = ViewerSettingsCache(sessions, ttl=1.0, clock=lambda: now[0])
    user = await ChannelService(sessions).create_user("Watched")

    async def set_title(title: str) -> None:
        async with sessions() as session:
            await session.execute(update(Channel).where(Channel.user_id == user.id)
                                  .values(title=title))
            await session.commit()

    await set_title("one")
    first = await cache.get("watched")
    assert first is not None and first["title"] == "one"
    await set_title("two")  # changed behind the cache's back (another node)
    assert (await cache.get("WATCHED") or {})["title"] == "one"
    now[0] += 1.5
    assert (await cache.get("watched") or {})["title"] == "two"
    await set_title("three")  # this node's change: its event refreshes at once
    assert cache.wants("channel.update") and not cache.wants("channel.follow")
    cache.emit("channel.update", {"broadcaster_user_login": "watched"})
    assert (await cache.get("watched") or {})["title"] == "three"
    assert await cache.get("nobody") is None
