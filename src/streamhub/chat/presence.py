"""Viewer and chatter counts per room across nodes (Redis hash per room, one field per node)."""

from __future__ import annotations

import uuid
from typing import Protocol

import redis.asyncio as aioredis

Counts = tuple[int, int]  # (connections, logged-in chatters)


class Presence(Protocol):
    async def report(self, counts: dict[str, Counts]) -> None:
        """This node's counts for every room it has clients in."""

    async def totals(self, room: str, local: Counts) -> Counts:
        """All nodes' counts for a room (`local` is this node's own, already current)."""
        ...


class LocalPresence:
    """A single node: its own counts are the totals."""

    async def report(self, counts: dict[str, Counts]) -> None:
        return None

    async def totals(self, room: str, local: Counts) -> Counts:
        return local


class RedisPresence:
    """Each node writes its counts every few seconds; an entry lives three report periods."""

    def __init__(self, url: str, *, ttl: float = 15.0,
                 prefix: str = "streamhub:chat:presence:") -> None:
        self._redis = aioredis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._node = uuid.uuid4().hex[:12]
        self._ttl = ttl
        self._prefix = prefix
        self._reported: set[str] = set()

    async def report(self, counts: dict[str, Counts]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for room, (conns, chatters) in counts.items():
            pipe.hset(self._prefix + room, self._node, f"{conns},{chatters}")
            pipe.expire(self._prefix + room, int(self._ttl))
        for room in self._reported - counts.keys():  # rooms this node no longer has
            pipe.hdel(self._prefix + room, self._node)
        self._reported = set(counts)
        await pipe.execute()

    async def totals(self, room: str, local: Counts) -> Counts:
        fields = await self._redis.hgetall(self._prefix + room)
        conns, chatters = local
        for node, value in fields.items():
            if _text(node) == self._node:
                continue
            other = _text(value).split(",")
            conns, chatters = conns + int(other[0]), chatters + int(other[1])
        return conns, chatters

    async def close(self) -> None:
        await self._redis.aclose()


def _text(value: bytes | str) -> str:
    return value if isinstance(value, str) else value.decode()
