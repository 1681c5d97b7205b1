"""Viewer and chatter counts and the chatter list per room across nodes.

Redis: a hash per room (one `connections,chatters` field per node) and, per room and node, a
set of that node's logged-in chatters (`<id> <login> <display name>`), updated by difference.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Protocol

import redis.asyncio as aioredis

Counts = tuple[int, int]  # (connections, logged-in chatters)
Chatters = frozenset[str]  # "<id> <login> <display name>" of each logged-in chatter


class Presence(Protocol):
    async def report(self, counts: dict[str, Counts],
                     chatters: dict[str, Chatters] | None = None) -> None:
        """This node's counts (and logged-in chatters) for every room it has clients in."""

    async def totals(self, room: str, local: Counts) -> Counts:
        """All nodes' counts for a room (`local` is this node's own, already current)."""
        ...

    async def chatters(self, room: str, local: Chatters) -> Chatters:
        """All nodes' logged-in chatters of a room (`local`: this node's, current)."""
        ...


class LocalPresence:
    """A single node: its own counts are the totals."""

    async def report(self, counts: dict[str, Counts],
                     chatters: dict[str, Chatters] | None = None) -> None:
        return None

    async def totals(self, room: str, local: Counts) -> Counts:
        return local

    async def chatters(self, room: str, local: Chatters) -> Chatters:
        return local


class RedisPresence:
    """Each node writes its counts every few seconds; an entry lives three report periods."""

    def __init__(self, url: str, *, ttl: float = 15.0,
                 prefix: str = "streamhub:chat:presence:",
                 clock: Callable[[], float] = time.time) -> None:
        self._redis = aioredis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._node = uuid.uuid4().hex[:12]
        self._ttl = ttl
        self._prefix = prefix
        self._clock = clock
        self._reported: set[str] = set()
        # chatter sets as last written to Redis; None: unknown (a write failed), rewrite them
        self._listed: dict[str, Chatters] | None = {}

    def _set_key(self, room: str, node: str) -> str:
        return f"{self._prefix}{room}:u:{node}"

    async def report(self, counts: dict[str, Counts],
                     chatters: dict[str, Chatters] | None = None) -> None:
        pipe = self._redis.pipeline(transaction=False)
        ttl = int(self._ttl)
        for room, (conns, chatter_count) in counts.items():
            pipe.hset(self._prefix + room, self._node,
                      f"{conns},{chatter_count},{int(self._clock())}")
            pipe.expire(self._prefix + room, ttl)
        for room in self._reported - counts.keys():  # rooms this node no longer has
            pipe.hdel(self._prefix + room, self._node)
        self._reported = set(counts)
        listed: dict[str, Chatters] = {}
        if chatters is not None:
            previous = self._listed
            for room, now in chatters.items():
                key = self._set_key(room, self._node)
                if previous is None:
                    pipe.delete(key)
                before = previous.get(room, frozenset()) if previous is not None else frozenset()
                if now - before:
                    pipe.sadd(key, *(now - before))
                if before - now:
                    pipe.srem(key, *(before - now))
                if now:
                    pipe.expire(key, ttl)
                    listed[room] = now
            for room in (previous or {}).keys() - listed.keys():
                pipe.delete(self._set_key(room, self._node))
        self._listed = listed
        try:
            await pipe.execute()
        except Exception:
            self._listed = None  # rewrite whole sets next time: Redis may have lost some
            raise

    async def chatters(self, room: str, local: Chatters) -> Chatters:
        keys = [self._set_key(room, node) for node in await self._others(room)]
        if not keys:
            return local
        found = await self._redis.sunion(keys)
        return local | {_text(entry) for entry in found}

    async def _others(self, room: str) -> dict[str, Counts]:
        """The other nodes' counts for a room, without nodes silent for longer than the TTL
        (a node that died leaves its field behind while the others keep the hash alive)."""
        fields = await self._redis.hgetall(self._prefix + room)
        now, found, stale = self._clock(), {}, []
        for raw_node, raw in fields.items():
            node, value = _text(raw_node), _text(raw).split(",")
            if node == self._node:
                continue
            if len(value) > 2 and now - int(value[2]) > self._ttl:
                stale.append(node)
                continue
            found[node] = (int(value[0]), int(value[1]))
        if stale:
            await self._redis.hdel(self._prefix + room, *stale)
        return found

    async def totals(self, room: str, local: Counts) -> Counts:
        conns, chatters = local
        for other_conns, other_chatters in (await self._others(room)).values():
            conns, chatters = conns + other_conns, chatters + other_chatters
        return conns, chatters

    async def close(self) -> None:
        await self._redis.aclose()


def _text(value: bytes | str) -> str:
    return value if isinstance(value, str) else value.decode()
