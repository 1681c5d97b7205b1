"""Sliding-window rate limiting (pure, injected clock) and Twitch's chat limit policy."""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from dataclasses import dataclass

__all__ = ["ChatRateLimiter", "Limit", "RateLimits", "SlidingWindowLimiter"]


class SlidingWindowLimiter:
    """At most `limit` accepted events per key in any `window` seconds.

    An event accepted at time t counts while `now < t + window`. Each key keeps a deque
    of the expiry times of its accepted events (at most `limit` of them); keys are also
    kept in order of their latest accepted event, so that every call can drop the keys whose events
    have all expired from the front. Cost: O(1) amortized per call (each timestamp
    and each key is added once and removed at most once). Memory: O(keys active in
    the last `window` seconds x `limit`).

    `now` comes from a monotonic clock; a value smaller than one already seen is
    treated as the latest seen, so a clock step backwards never opens a burst.
    """

    __slots__ = ("_keys", "_now", "limit", "window")

    def __init__(self, limit: int, window: float) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        if not window > 0:
            raise ValueError(f"window must be positive seconds, got {window}")
        self.limit = limit
        self.window = float(window)
        self._keys: OrderedDict[str, deque[float]] = OrderedDict()
        self._now = float("-inf")

    def __len__(self) -> int:
        """Keys currently tracked (those with an event in the last window, at most)."""
        return len(self._keys)

    def _advance(self, now: float) -> float:
        now = max(now, self._now)
        self._now = now
        keys = self._keys
        while keys:
            key, expiries = next(iter(keys.items()))
            if expiries[-1] > now:
                break
            del keys[key]
        return now

    def _live(self, key: str, now: float) -> deque[float] | None:
        expiries = self._keys.get(key)
        if expiries is not None:
            while expiries[0] <= now:
                expiries.popleft()  # never empties: the key would have been dropped
        return expiries

    def _cap(self, limit: int | None) -> int:
        if limit is None:
            return self.limit
        if not 1 <= limit <= self.limit:
            raise ValueError(f"limit override {limit} must be between 1 and {self.limit}")
        return limit

    def allow(self, key: str, now: float, *, limit: int | None = None) -> bool:
        """Record and accept an event for `key` at `now`, or refuse it (nothing recorded).

        `limit` may lower the limit for this one event (the count stays shared), which
        is how Twitch applies 20 or 100 per message to one per-connection count.
        """
        cap = self._cap(limit)
        now = self._advance(now)
        expiries = self._live(key, now)
        if expiries is None:
            self._keys[key] = deque((now + self.window,))
            return True
        if len(expiries) >= cap:
            return False
        expiries.append(now + self.window)
        self._keys.move_to_end(key)
        return True

    def retry_after(self, key: str, now: float, *, limit: int | None = None) -> float:
        """Seconds until `allow(key, ...)` would accept (0.0 if it would now)."""
        cap = self._cap(limit)
        now = self._advance(now)
        expiries = self._live(key, now)
        if expiries is None or len(expiries) < cap:
            return 0.0
        # The (len - cap + 1)-th oldest event must expire first; round up so that
        # `now + retry_after(...)` is never a float step short of that expiry.
        expiry = expiries[len(expiries) - cap]
        wait = expiry - now
        while now + wait < expiry:
            wait = math.nextafter(wait, math.inf)
        return wait

    def count(self, key: str, now: float) -> int:
        """Events of `key` that still count at `now`."""
        expiries = self._live(key, self._advance(now))
        return 0 if expiries is None else len(expiries)

    def forget(self, key: str) -> None:
        """Drop a key's history (e.g. its connection closed)."""
        self._keys.pop(key, None)


@dataclass(frozen=True, slots=True)
class Limit:
    """`count` events per `window` seconds."""

    count: int
    window: float


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Twitch's chat limits (dev.twitch.tv/docs/irc; discuss.dev.twitch.com/t/1108).

    PRIVMSG: 20 per 30 s, or 100 per 30 s when the sender is broadcaster, moderator or
    VIP in the channel of that message; the choice is made per message while one count
    is kept per connection (so both PRIVMSG limits share a window). JOIN and
    authentication attempts together: 50 per 10 s per client IP.
    """

    privmsg: Limit = Limit(20, 30.0)
    privmsg_elevated: Limit = Limit(100, 30.0)
    join_auth: Limit = Limit(50, 10.0)

    def __post_init__(self) -> None:
        if self.privmsg.window != self.privmsg_elevated.window:
            raise ValueError("privmsg and privmsg_elevated must share a window (one count)")
        if self.privmsg.count > self.privmsg_elevated.count:
            raise ValueError("privmsg_elevated.count must be at least privmsg.count")

    def privmsg_limit(self, *, is_broadcaster: bool, is_mod: bool, is_vip: bool) -> Limit:
        """The limit that applies to one message, by the sender's role in its channel."""
        return self.privmsg_elevated if is_broadcaster or is_mod or is_vip else self.privmsg


class ChatRateLimiter:
    """The PRIVMSG (per connection or user) and JOIN+auth (per IP) windows of a chat node."""

    __slots__ = ("_join", "_privmsg", "limits")

    def __init__(self, limits: RateLimits | None = None) -> None:
        self.limits = limits or RateLimits()
        self._privmsg = SlidingWindowLimiter(
            self.limits.privmsg_elevated.count, self.limits.privmsg_elevated.window
        )
        self._join = SlidingWindowLimiter(self.limits.join_auth.count, self.limits.join_auth.window)

    def _privmsg_cap(self, elevated: bool) -> int:
        return (self.limits.privmsg_elevated if elevated else self.limits.privmsg).count

    def allow_privmsg(self, key: str, now: float, *, elevated: bool) -> bool:
        """Count one PRIVMSG of `key` (connection or user id); False -> NOTICE msg_ratelimit.

        `elevated`: the sender is broadcaster, moderator or VIP of the target channel.
        """
        return self._privmsg.allow(key, now, limit=self._privmsg_cap(elevated))

    def privmsg_retry_after(self, key: str, now: float, *, elevated: bool) -> float:
        return self._privmsg.retry_after(key, now, limit=self._privmsg_cap(elevated))

    def allow_join_or_auth(self, ip: str, now: float) -> bool:
        """Count one JOIN or login attempt from `ip`; False -> refuse it."""
        return self._join.allow(ip, now)

    def join_retry_after(self, ip: str, now: float) -> float:
        return self._join.retry_after(ip, now)

    def forget_connection(self, key: str) -> None:
        self._privmsg.forget(key)
