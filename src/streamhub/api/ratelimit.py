"""Helix token-bucket rate limit: 800 points a minute per client id (+ user for user tokens)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Allowance:
    """What one request saw: allowed?, and the values of the Ratelimit-* headers."""

    allowed: bool
    limit: int
    remaining: int
    reset: int  # epoch seconds when the bucket is full again

    def headers(self) -> dict[str, str]:
        return {"Ratelimit-Limit": str(self.limit), "Ratelimit-Remaining": str(self.remaining),
                "Ratelimit-Reset": str(self.reset)}


class TokenBuckets:
    """In-process token buckets (one node's view; a cluster shares them through Redis later).

    Each key holds up to `capacity` points, refilled continuously over `period` seconds.
    """

    def __init__(self, capacity: int = 800, period: float = 60.0, *,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time, max_keys: int = 100_000) -> None:
        self.capacity = capacity
        self.period = period
        self._clock = clock
        self._wall = wall
        self._max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: str, points: int = 1) -> Allowance:
        now = self._clock()
        rate = self.capacity / self.period
        tokens, at = self._buckets.get(key, (float(self.capacity), now))
        tokens = min(float(self.capacity), tokens + (now - at) * rate)
        allowed = tokens >= points
        if allowed:
            tokens -= points
        if len(self._buckets) >= self._max_keys and key not in self._buckets:
            self._evict(now, rate)
        self._buckets[key] = (tokens, now)
        refill = (self.capacity - tokens) / rate
        reset = math.ceil(self._wall() + refill)
        return Allowance(allowed, self.capacity, int(tokens), reset)

    def _evict(self, now: float, rate: float) -> None:
        """Forget buckets that have refilled (they behave like new ones)."""
        full = [k for k, (t, at) in self._buckets.items()
                if t + (now - at) * rate >= self.capacity]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= self._max_keys:  # still full: drop the oldest half
            for key in sorted(self._buckets, key=lambda k: self._buckets[k][1])[
                    : self._max_keys // 2]:
                del self._buckets[key]
