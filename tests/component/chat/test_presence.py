"""Room presence on a real Redis: counts and chatter lists summed over nodes, kept current by
difference, and a silent (dead) node dropped after the TTL."""


import pytest
from redis import exceptions as redis_errors

from streamhub.chat.presence import RedisPresence
from tests.redis_server import RedisServer


async def test_counts_and_chatters_across_nodes(redis: RedisServer) -> None:
    now = [1000.0]
    a = RedisPresence(redis.url, ttl=15, clock=lambda: now[0])
    b = RedisPresence(redis.url, ttl=15, clock=lambda: now[0])
    try:
        alice, bob, carol = "1 alice Alice", "2 bob bob", "3 carol carol"
        await a.report({"room": (3, 1)}, {"room": frozenset({alice})})
        await b.report({"room": (5, 2)}, {"room": frozenset({bob, carol})})
        assert await a.totals("room", (3, 1)) == (8, 3)
        assert await a.chatters("room", frozenset({alice})) == {alice, bob, carol}
        assert await b.chatters("room", frozenset({bob, carol})) == {alice, bob, carol}
        # carol leaves b, dave joins: only the difference is written, the list follows
        dave = "4 dave Dave"
        await b.report({"room": (5, 2)}, {"room": frozenset({bob, dave})})
        assert await a.chatters("room", frozenset({alice})) == {alice, bob, dave}
        # b's room empties: its set goes at once
        await b.report({}, {})
        assert await a.chatters("room", frozenset({alice})) == {alice}
        assert await a.totals("room", (3, 1)) == (3, 1)
        # b reports again, then dies: a keeps the hash alive, b's field is ignored after the TTL
        await b.report({"room": (4, 1)}, {"room": frozenset({bob})})
        assert await a.totals("room", (3, 1)) == (7, 2)
        now[0] += 16
        await a.report({"room": (3, 1)}, {"room": frozenset({alice})})
        assert await a.totals("room", (3, 1)) == (3, 1)
        assert await a.chatters("room", frozenset({alice})) == {alice}
    finally:
        await a.close()
        await b.close()


async def test_a_failed_write_rewrites_the_whole_set(redis: RedisServer) -> None:
    """Redis restarted empty: after a failed report the next one writes the whole set again
    (writing only the difference would leave the list empty)."""
    a = RedisPresence(redis.url)
    b = RedisPresence(redis.url)
    try:
        await a.report({"room": (2, 2)}, {"room": frozenset({"1 x x", "2 y y"})})
        redis.stop()
        with pytest.raises(redis_errors.ConnectionError):
            await a.report({"room": (1, 1)}, {"room": frozenset({"1 x x"})})
        redis.start()
        await a.report({"room": (1, 1)}, {"room": frozenset({"1 x x"})})
        assert await b.chatters("room", frozenset()) == {"1 x x"}
        assert await b.totals("room", (0, 0)) == (1, 1)
    finally:
        await a.close()
        await b.close()
