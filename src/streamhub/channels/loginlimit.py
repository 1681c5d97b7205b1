"""Web login and signup rate limits: failed logins counted per account and per client IP,
and accounts created per client IP, each in a sliding window.

Defaults (settings `login_failures_account`, `login_failures_ip`, `login_failure_window`):
5 failures per account and 20 per IP within 15 minutes; then that account (from any IP) or
that IP (for any account) is refused until the oldest counted failure leaves the window.
A successful login clears its account's failures (not the IP's).

Signups (settings `signup_limit_ip`, `signup_window`): 20 accounts created per IP within an
hour; then that IP's signups are refused (before any password hashing) until the oldest counted
creation leaves the window. Refused or invalid signup attempts are not counted.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LoginBlock:
    """Why a login attempt is refused right now, and for how many more seconds."""

    reason: str  # "account" or "ip"
    retry_after: int


class FailureWindow:
    """Timestamps of recent failures per key (sliding window, bounded number of keys)."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float],
                 max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float] | None:
        found = self._failures.get(key)
        if found is None:
            return None
        while found and found[0] <= now - self.window:
            found.popleft()
        if not found:
            del self._failures[key]
            return None
        return found

    def blocked_for(self, key: str) -> float:
        """Seconds until `key` may try again (0 when it may try now)."""
        now = self._clock()
        found = self._recent(key, now)
        if found is None or len(found) < self.limit:
            return 0.0
        return max(0.0, found[-self.limit] + self.window - now)

    def add(self, key: str) -> None:
        now = self._clock()
        found = self._recent(key, now)
        if found is None:
            if len(self._failures) >= self._max_keys:
                self._evict(now)
            found = self._failures[key] = deque(maxlen=self.limit)
        found.append(now)

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)

    def _evict(self, now: float) -> None:
        for key in list(self._failures):
            self._recent(key, now)
        if len(self._failures) >= self._max_keys:  # still full: forget the stalest half
            stale = sorted(self._failures, key=lambda k: self._failures[k][-1])
            for key in stale[: self._max_keys // 2]:
                del self._failures[key]


class LoginLimiter:
    """Checks and records login attempts by account login and by client IP."""

    def __init__(self, *, per_account: int = 5, per_ip: int = 20, window: float = 900.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.accounts = FailureWindow(per_account, window, clock)
        self.ips = FailureWindow(per_ip, window, clock)

    def check(self, login: str, ip: str) -> LoginBlock | None:
        """None if an attempt may be made now, else why not and for how long."""
        wait = self.ips.blocked_for(ip)
        if wait > 0:
            return LoginBlock("ip", math.ceil(wait))
        wait = self.accounts.blocked_for(login.strip().lower())
        if wait > 0:
            return LoginBlock("account", math.ceil(wait))
        return None

    def failed(self, login: str, ip: str) -> None:
        self.accounts.add(login.strip().lower())
        self.ips.add(ip)

    def succeeded(self, login: str) -> None:
        self.accounts.clear(login.strip().lower())


class SignupLimiter:
    """Accounts created per client IP in a sliding window."""

    def __init__(self, *, per_ip: int = 20, window: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ips = FailureWindow(per_ip, window, clock)

    def check(self, ip: str) -> int:
        """Seconds (rounded up) before `ip` may create another account; 0 if it may now."""
        return math.ceil(self.ips.blocked_for(ip))

    def created(self, ip: str) -> None:
        self.ips.add(ip)
