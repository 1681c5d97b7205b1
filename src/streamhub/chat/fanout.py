"""Per-room local fan-out: pre-encoded, batched delivery of RoomEvents to subscribers."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from streamhub.chat import wsframes
from streamhub.chat.events import CAP_TAGS, KNOWN_CAPS, RoomEvent, Subscriber

__all__ = ["FanoutRoom", "FanoutStats", "FlushThrottle", "WriteBudget"]

TRANSPORT_KINDS = frozenset({"ws", "tcp"})

# (transport kind, the known caps the subscriber holds): everything the payload depends on
# apart from exclusion. `RoomEvent.delivered_to` reads only KNOWN_CAPS.
_GroupKey = tuple[str, frozenset[str]]


class WriteBudget:
    """A node's fan-out budget in socket writes per second, shared by the rooms given it.

    Rooms count their subscribers here; each room then flushes at most once per
    `interval()` on average, so all rooms sharing one budget together make at most
    `subscribers / interval` <= `writes_per_s` writes per second (until the interval
    reaches a room's `max_interval`, where latency wins over the budget).
    """

    __slots__ = ("subscribers", "writes_per_s")

    def __init__(self, writes_per_s: float) -> None:
        if writes_per_s <= 0:
            raise ValueError(f"writes_per_s must be positive, got {writes_per_s}")
        self.writes_per_s = writes_per_s
        self.subscribers = 0

    def interval(self, base: float, maximum: float) -> float:
        """clamp(subscribers / writes_per_s, base, maximum) seconds between flushes."""
        return min(max(self.subscribers / self.writes_per_s, base), maximum)


class FlushThrottle:
    """GCRA over flushes (pure): at most `burst` back to back, then one per interval.

    `tat` is the theoretical time of the next slot. A flush is booked at the slot it was
    scheduled for, not at its (possibly late) wake-up, so the time a flush takes does
    not push later slots back; a wake-up more than one interval late is not caught up.
    """

    __slots__ = ("burst", "not_before", "tat")

    def __init__(self, burst: int) -> None:
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst}")
        self.burst = burst
        self.tat = float("-inf")
        self.not_before = float("-inf")

    def slot(self, now: float, interval: float) -> float:
        """When the next flush may run: `now` if at once, else a later time."""
        return max(now, self.tat - (self.burst - 1) * interval, self.not_before)

    def book(self, slot: float, now: float, interval: float) -> None:
        """A flush scheduled for `slot` runs at `now` (>= slot)."""
        self.tat = max(self.tat, slot, now - interval) + interval

    def hold(self, until: float) -> None:
        """No flush before `until`, whatever the credit."""
        self.not_before = max(self.not_before, until)


@dataclass(slots=True)
class FanoutStats:
    """Counters of one room (monotonic, except the flush timings)."""

    events: int = 0
    dropped_events: int = 0  # pending queue overflow (oldest dropped)
    flushes: int = 0
    writes: int = 0
    slow_disconnects: int = 0
    write_failures: int = 0
    last_flush_s: float = 0.0
    max_flush_s: float = 0.0


class _Group:
    """Subscribers that receive byte-identical payloads."""

    __slots__ = ("caps", "kind", "members", "tags")

    def __init__(self, key: _GroupKey) -> None:
        self.kind, self.caps = key
        self.tags = CAP_TAGS in self.caps
        self.members: dict[Subscriber, None] = {}  # insertion-ordered set

    def encode(self, events: Iterable[RoomEvent], skip_user: str | None = None) -> bytes | None:
        lines = [
            e.wire(tags=self.tags)
            for e in events
            if e.delivered_to(self.caps) and (skip_user is None or e.exclude_user_id != skip_user)
        ]
        if not lines:
            return None
        data = b"".join(lines)
        return wsframes.text_frame(data) if self.kind == "ws" else data


class FanoutRoom:
    """Local subscribers of one room on this node; delivers RoomEvents, batched.

    Each flush encodes one payload per group of subscribers with the same transport kind
    and known caps (a WebSocket text frame holding all the batch's lines, or the raw
    lines for TCP) and writes it to every member; a sender's own connections
    (`exclude_user_id`) get a payload built without that event.

    Batching (`FlushThrottle`, a GCRA over flushes): a quiet room flushes on the next loop
    iteration (so events of one iteration share a flush), up to `quiet_threshold` flushes
    back to back; past that the room is busy and events are coalesced until the next
    slot, one flush per `interval`:

        interval = clamp(budget.subscribers / budget.writes_per_s, base_interval, max_interval)

    `budget` is a `WriteBudget` shared by all rooms of a node (or a private one of
    `write_budget_per_s`): every room averages at most one flush (= one write per
    subscriber) per interval, so the node stays within `writes_per_s` until the interval
    is clamped at `max_interval`. Slots follow a fixed schedule: the time a flush takes
    does not push the next slot back, and late slots are not caught up. A flush that
    takes more than `max_flush_share` of the interval (an overloaded node) is followed by
    a pause that keeps flushing to that share of the loop's time: the next flush waits
    min(elapsed * (1/share - 1), max_interval) after the end of the last one.

    `loop_time` (default: the running loop's clock) must tick with the loop's clock: it
    is used to compute timer delays and to measure flushes (`stats`).

    After each write, a subscriber whose transport holds more than `max_buffered_bytes`
    is closed ("slow client") and dropped; one whose write raises is dropped alone.
    Pending events are bounded by `max_pending` (the oldest are dropped and counted).
    Transport kind, caps and user id are read when a subscriber is added: call
    `refresh(sub)` after changing them.
    """

    def __init__(
        self,
        name: str,
        *,
        loop_time: Callable[[], float] | None = None,
        quiet_threshold: int = 3,
        base_interval: float = 0.05,
        max_interval: float = 0.25,
        write_budget_per_s: float = 50_000.0,
        budget: WriteBudget | None = None,
        max_buffered_bytes: int = 1 << 20,
        max_pending: int = 10_000,
        max_flush_share: float = 0.5,
        logger: logging.Logger | None = None,
    ) -> None:
        if not 0 < max_flush_share <= 1:
            raise ValueError(f"max_flush_share must be in (0, 1], got {max_flush_share}")
        if not 0 < base_interval <= max_interval:
            raise ValueError(f"need 0 < base_interval <= max_interval, got {base_interval}, "
                             f"{max_interval}")
        self.name = name
        self._loop_time = loop_time
        self._throttle = FlushThrottle(quiet_threshold)
        self._base_interval = base_interval
        self._max_interval = max_interval
        self._budget = budget if budget is not None else WriteBudget(write_budget_per_s)
        self._max_buffered = max_buffered_bytes
        self._max_flush_share = max_flush_share
        self._log = logger or logging.getLogger(__name__)
        self._groups: dict[_GroupKey, _Group] = {}
        self._key_of: dict[Subscriber, tuple[_GroupKey, str | None]] = {}
        self._by_user: dict[str, dict[Subscriber, None]] = {}
        self._pending: deque[RoomEvent] = deque(maxlen=max_pending)
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None
        self._closed = False
        self.stats = FanoutStats()

    # -- membership -------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._key_of)

    def __contains__(self, sub: object) -> bool:
        return sub in self._key_of

    def add(self, sub: Subscriber) -> None:
        if self._closed:
            raise RuntimeError(f"room {self.name!r} is closed")
        if sub in self._key_of:
            self.refresh(sub)
            return
        kind = sub.transport_kind
        if kind not in TRANSPORT_KINDS:
            raise ValueError(f"unknown transport kind {kind!r}")
        key: _GroupKey = (kind, sub.caps & KNOWN_CAPS)
        user_id = sub.user_id
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(key)
        group.members[sub] = None
        self._key_of[sub] = (key, user_id)
        if user_id is not None:
            self._by_user.setdefault(user_id, {})[sub] = None
        self._budget.subscribers += 1

    def remove(self, sub: Subscriber) -> None:
        """Forget `sub`; a subscriber that is not in the room is ignored."""
        entry = self._key_of.pop(sub, None)
        if entry is None:
            return
        key, user_id = entry
        group = self._groups[key]
        del group.members[sub]
        if not group.members:
            del self._groups[key]
        if user_id is not None:
            subs = self._by_user[user_id]
            del subs[sub]
            if not subs:
                del self._by_user[user_id]
        self._budget.subscribers -= 1

    def refresh(self, sub: Subscriber) -> None:
        """Re-read `sub`'s transport kind, caps and user id (after a CAP REQ or login)."""
        if sub in self._key_of:
            self.remove(sub)
            self.add(sub)

    # -- delivery -----------------------------------------------------------------------

    @property
    def interval(self) -> float:
        return self._budget.interval(self._base_interval, self._max_interval)

    def deliver(self, event: RoomEvent) -> None:
        """Queue `event` for every subscriber it is for; never blocks, never writes inline."""
        if self._closed:
            self._log.debug("room %s: event after close dropped", self.name)
            return
        self.stats.events += 1
        if len(self._pending) == self._pending.maxlen:
            self.stats.dropped_events += 1
        self._pending.append(event)
        if self._timer is not None:
            return
        loop = asyncio.get_running_loop()
        now = self._now(loop)
        slot = self._throttle.slot(now, self.interval)
        if slot <= now:  # quiet: flush on the next loop iteration (with this one's events)
            self._timer = loop.call_soon(self._on_slot, slot)
        else:  # busy: coalesce until the slot
            self._timer = loop.call_later(slot - now, self._on_slot, slot)

    async def close(self) -> None:
        """Flush what is pending, then stop; subscribers are left open (the gateway owns them)."""
        if self._closed:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._flush()
        self._closed = True
        self._budget.subscribers -= len(self._key_of)
        self._groups.clear()
        self._key_of.clear()
        self._by_user.clear()

    # -- internals -----------------------------------------------------------------------

    def _now(self, loop: asyncio.AbstractEventLoop) -> float:
        return self._loop_time() if self._loop_time is not None else loop.time()

    def _on_slot(self, slot: float) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        now = self._now(loop)
        interval = self.interval
        self._throttle.book(slot, now, interval)
        self._flush()
        end = self._now(loop)
        elapsed = end - now
        self.stats.last_flush_s = elapsed
        self.stats.max_flush_s = max(self.stats.max_flush_s, elapsed)
        if elapsed > interval * self._max_flush_share:
            # Flushes may take at most `max_flush_share` of the loop's time: otherwise an
            # overloaded room would flush back to back, one event per flush, and starve
            # the rest of the loop. The pause is capped at `max_interval`.
            pause = elapsed * (1 / self._max_flush_share - 1)
            self._throttle.hold(end + min(pause, self._max_interval))

    def _flush(self) -> None:
        if not self._pending:
            return
        events = list(self._pending)
        self._pending.clear()
        self.stats.flushes += 1
        excluded = {e.exclude_user_id for e in events if e.exclude_user_id is not None}
        # Subscribers of excluded users, by group: they get a payload of their own.
        special: dict[_GroupKey, dict[Subscriber, str]] = {}
        for user_id in excluded:
            for sub in self._by_user.get(user_id, ()):
                special.setdefault(self._key_of[sub][0], {})[sub] = user_id
        slow: list[Subscriber] = []
        failed: list[tuple[Subscriber, Exception]] = []
        limit = self._max_buffered
        writes = 0
        # Snapshot: a write may close a subscriber, whose owner may then remove it.
        for key, group in list(self._groups.items()):
            members = tuple(group.members)
            payload = group.encode(events)
            skip = special.get(key)
            if skip:
                per_user: dict[str, bytes | None] = {}
                for sub, user_id in skip.items():
                    if user_id not in per_user:
                        per_user[user_id] = group.encode(events, skip_user=user_id)
                    own = per_user[user_id]
                    if own is not None:
                        writes += 1
                        self._write(sub, own, limit, slow, failed)
                if payload is not None:
                    for sub in members:
                        if sub in skip:
                            continue
                        writes += 1
                        self._write(sub, payload, limit, slow, failed)
            elif payload is not None:
                writes += len(members)
                for sub in members:
                    try:
                        sub.write_encoded(payload)
                        if sub.buffered_bytes() > limit:
                            slow.append(sub)
                    except Exception as exc:
                        failed.append((sub, exc))
        self.stats.writes += writes
        for sub in slow:
            self.stats.slow_disconnects += 1
            self._drop(sub, "slow client")
        for sub, error in failed:
            self.stats.write_failures += 1
            self._log.warning("room %s: write failed (%r), dropping subscriber", self.name, error)
            self._drop(sub, "write failed")

    @staticmethod
    def _write(
        sub: Subscriber, payload: bytes, limit: int,
        slow: list[Subscriber], failed: list[tuple[Subscriber, Exception]],
    ) -> None:
        try:
            sub.write_encoded(payload)
            if sub.buffered_bytes() > limit:
                slow.append(sub)
        except Exception as exc:
            failed.append((sub, exc))

    def _drop(self, sub: Subscriber, reason: str) -> None:
        self.remove(sub)
        try:
            sub.close(reason)
        except Exception:
            self._log.exception("room %s: closing a dropped subscriber failed", self.name)
