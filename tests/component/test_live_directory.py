"""LiveDirectory: one database read serves /helix/streams for `ttl`; local events refresh it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from streamhub.channels.service import ChannelService
from streamhub.channels.streams import LiveDirectory, matches
from streamhub.storage.models import StreamSession


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
