"""PRIVMSG rate limits shared by every chat node: a sliding window per user in Redis."""

from __future__ import annotations

import uuid
from typing import Protocol

import redis.asyncio as aioredis

from streamhub.chat.ratelimit import ChatRateLimiter, RateLimits

# KEYS[1] = window key; ARGV = now (s), window (s), limit, unique member.
# Drop entries older than the window, admit if fewer than `limit` remain, keep the key
# alive for one window. Atomic in Redis, so two nodes cannot both take the last slot.
_SLIDING_WINDOW = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1] - ARGV[2])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
  redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])))
  return 1
end
return 0
"""


class MessageLimiter(Protocol):
    """Counts a user's messages; the 20-or-100 cap is chosen per message (`elevated`)."""

    async def allow(self, key: str, now: float, *, elevated: bool) -> bool: ...


class LocalMessageLimiter:
    """One node's own counts (the single-node default)."""

    def __init__(self, limits: RateLimits | None = None) -> None:
        self._limiter = ChatRateLimiter(limits)

    async def allow(self, key: str, now: float, *, elevated: bool) -> bool:
        return self._limiter.allow_privmsg(key, now, elevated=elevated)


class RedisMessageLimiter:
    """Counts kept in Redis, so a user on several nodes still gets one budget."""

    def __init__(self, url: str, limits: RateLimits | None = None,
                 prefix: str = "streamhub:ratelimit:privmsg:") -> None:
        self._limits = limits or RateLimits()
        self._redis = aioredis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._script = self._redis.register_script(_SLIDING_WINDOW)
        self._prefix = prefix

    async def allow(self, key: str, now: float, *, elevated: bool) -> bool:
        limit = self._limits.privmsg_elevated if elevated else self._limits.privmsg
        result = await self._script(
            keys=[self._prefix + key],
            args=[now, limit.window, limit.count, f"{now}:{uuid.uuid4().hex[:8]}"],
        )
        return bool(result)

    async def close(self) -> None:
        await self._redis.aclose()
