"""Fixtures shared by the chat component tests: a chat service on a migrated database with
two accounts (owner, talker), and a real redis-server per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from streamhub.channels.service import ChannelService
from streamhub.chat.bus import MemoryBus
from streamhub.chat.service import ChatService
from streamhub.chat.store import ChatStore
from tests.redis_server import RedisServer, require_redis_server


@pytest.fixture
async def chat(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[ChatService]:
    accounts = ChannelService(sessions)
    for login in ("owner", "talker"):
        await accounts.create_user(login)
    service = ChatService(store=ChatStore(sessions), bus=MemoryBus())
    yield service
    await service.close()


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    require_redis_server()
    server = RedisServer()
    yield server
    server.cleanup()
