"""Shared PRIVMSG limits on a real Redis: two nodes racing for one user's budget."""

import asyncio

from streamhub.chat.sharedlimits import RedisMessageLimiter
from tests.redis_server import RedisServer


async def test_two_nodes_share_one_budget(redis: RedisServer) -> None:
    a, b = RedisMessageLimiter(redis.url), RedisMessageLimiter(redis.url)
    try:
        now = 1000.0
        results = await asyncio.gather(*(
            (a if i % 2 else b).allow("42", now + i * 0.001, elevated=False) for i in range(30)
        ))
        assert sum(results) == 20  # the 20 per 30 s budget, not 20 per node
        assert not await a.allow("42", now + 1, elevated=False)
        # a moderator's message is judged against 100 on the same count
        assert await b.allow("42", now + 1, elevated=True)
        # other users are unaffected, and the window slides
        assert await a.allow("43", now + 1, elevated=False)
        assert await a.allow("42", now + 31, elevated=False)
    finally:
        await a.close()
        await b.close()
