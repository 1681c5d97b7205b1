"""Per-room local fan-out: pre-encoded, batched, rolling delivery of RoomEvents."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from streamhub.chat import wsframes
from streamhub.chat.events import CAP_TAGS, KNOWN_CAPS, RoomEvent, Subscriber

__all__ = ["FanoutRoom", "FanoutStats", "FlushThrottle", "WriteBudget"]

TRANSPORT_KINDS = frozenset({"ws", "tcp"})

# (transport kind, the known caps the subscriber holds): everything a payload depends on
# apart from the events and exclusion. `RoomEvent.delivered_to` reads only KNOWN_CAPS.
_GroupKey = tuple[str, frozenset[str]]


class WriteBudget:
    """A node's fan-out budget: a token bucket of socket writes, shared by its rooms.

    Tokens accrue at `writes_per_s` up to `burst` (default: a tenth of a second's worth,
    at least 1,000): a quiet node writes a burst at once, a busy one at most
    `writes_per_s` on average. `subscribers` counts the rooms' subscribers (for stats).
    """

    __slots__ = ("_stamp", "_tokens", "burst", "subscribers", "writes_per_s")

    def __init__(self, writes_per_s: float, burst: float | None = None) -> None:
        if writes_per_s <= 0:
            raise ValueError(f"writes_per_s must be positive, got {writes_per_s}")
        self.writes_per_s = writes_per_s
        self.burst = burst if burst is not None else max(1000.0, writes_per_s / 10)
        if self.burst < 1:
            raise ValueError(f"burst must be >= 1, got {self.burst}")
        self.subscribers = 0
        self._tokens = self.burst
        self._stamp: float | None = None

    def _refill(self, now: float) -> None:
        if self._stamp is not None and now > self._stamp:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.writes_per_s)
        if self._stamp is None or now > self._stamp:
            self._stamp = now

    def take(self, want: int, now: float) -> int:
        """Up to `want` writes allowed now (0 when the bucket holds less than one)."""
        self._refill(now)
        granted = max(0, min(want, int(self._tokens)))
        self._tokens -= granted
        return granted

    def give_back(self, unused: int) -> None:
        """Return tokens taken but not spent."""
        self._tokens = min(self.burst, self._tokens + unused)

    def delay(self, want: int, now: float) -> float:
        """Seconds until `want` writes (at most the burst) may be taken."""
        self._refill(now)
        need = min(float(want), self.burst) - self._tokens
        return max(0.0, need / self.writes_per_s)


class FlushThrottle:
    """GCRA over pass starts (pure): at most `burst` back to back, then one per interval.

    `tat` is the theoretical time of the next slot. A pass is booked at the slot it was
    scheduled for, not at its (possibly late) wake-up, so the time a pass takes does not
    push later slots back; a wake-up more than one interval late is not caught up.
    """

    __slots__ = ("burst", "tat")

    def __init__(self, burst: int) -> None:
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst}")
        self.burst = burst
        self.tat = float("-inf")

    def slot(self, now: float, interval: float) -> float:
        """When the next pass may start: `now` if at once, else a later time."""
        return max(now, self.tat - (self.burst - 1) * interval)

    def book(self, slot: float, now: float, interval: float) -> None:
        """A pass scheduled for `slot` starts at `now` (>= slot)."""
        self.tat = max(self.tat, slot, now - interval) + interval


@dataclass(slots=True)
class FanoutStats:
    """Counters of one room (monotonic, except the pass timings)."""

    events: int = 0
    dropped_events: int = 0  # the event log overflowed before every subscriber had them
    passes: int = 0  # completed passes over the subscribers
    writes: int = 0
    slow_disconnects: int = 0
    write_failures: int = 0
    last_pass_s: float = 0.0
    max_pass_s: float = 0.0


class _Entry:
    """One subscriber's place in the room: what it receives and what it has seen."""

    __slots__ = ("key", "seen", "sub", "user_id")

    def __init__(self, sub: Subscriber, key: _GroupKey, user_id: str | None, seen: int) -> None:
        self.sub = sub
        self.key = key
        self.user_id = user_id
        self.seen = seen  # sequence number of the last event it was given (or skipped)


def _encode(key: _GroupKey, events: Sequence[RoomEvent], skip_user: str | None) -> bytes | None:
    """One payload for `events` as subscribers of `key` receive them (None: nothing)."""
    kind, caps = key
    tags = CAP_TAGS in caps
    lines = [
        e.wire(tags=tags)
        for e in events
        if e.delivered_to(caps) and (skip_user is None or e.exclude_user_id != skip_user)
    ]
    if not lines:
        return None
    data = b"".join(lines)
    return wsframes.text_frame(data) if kind == "ws" else data


class FanoutRoom:
    """Local subscribers of one room on this node; delivers RoomEvents in rolling passes.

    Events are numbered and kept in a log; every subscriber remembers the last one it was
    given. A pass walks the subscribers in order, a chunk per event-loop iteration (so I/O
    and other rooms interleave), and writes each one everything it has not seen — one
    payload (a WebSocket text frame holding all the lines, or raw lines for TCP), encoded
    once per distinct (transport kind, caps, first unseen event) and shared. Events that
    arrive during a pass reach the subscribers the pass has not visited yet in the same
    pass, and the others in the next one, which starts when the pass ends. So a message
    waits at most one pass for any subscriber, and a pass over N subscribers takes
    about N / (writes per second the node gets): the room coalesces more per write as
    it grows or as the node gets busy, without a separate flush interval to wait out.

    Pace: writes take tokens from the node's `WriteBudget` (shared by its rooms, or a
    private one of `write_budget_per_s`); without tokens a pass waits for them. Pass
    starts follow a `FlushThrottle`: a quiet room starts one on the next loop iteration
    (so events of one iteration share it), up to `quiet_threshold` back to back; a busy
    room starts at most one per `base_interval`.

    A sender's own connections (`exclude_user_id`) get a payload without that event. After
    each write a subscriber whose transport holds more than `max_buffered_bytes` is closed
    ("slow client") and dropped; one whose write raises is dropped alone. The log holds at
    most `max_pending` events (the oldest are dropped and counted). Transport kind, caps
    and user id are read when a subscriber is added: call `refresh(sub)` after changing
    them. `loop_time` (default: the running loop's clock) must tick with the loop's clock.
    """

    def __init__(
        self,
        name: str,
        *,
        loop_time: Callable[[], float] | None = None,
        quiet_threshold: int = 3,
        base_interval: float = 0.05,
        write_budget_per_s: float = 50_000.0,
        budget: WriteBudget | None = None,
        chunk: int = 128,
        max_buffered_bytes: int = 1 << 20,
        max_pending: int = 10_000,
        logger: logging.Logger | None = None,
    ) -> None:
        if base_interval <= 0:
            raise ValueError(f"base_interval must be positive, got {base_interval}")
        if chunk < 1 or max_pending < 1:
            raise ValueError(f"chunk and max_pending must be >= 1, got {chunk}, {max_pending}")
        self.name = name
        self._loop_time = loop_time
        self._throttle = FlushThrottle(quiet_threshold)
        self._base_interval = base_interval
        self._budget = budget if budget is not None else WriteBudget(write_budget_per_s)
        self._chunk = chunk
        self._max_buffered = max_buffered_bytes
        self._log = logger or logging.getLogger(__name__)
        self._ring: list[_Entry | None] = []  # pass order; None where a subscriber left
        self._index: dict[Subscriber, int] = {}
        self._events: deque[RoomEvent] = deque(maxlen=max_pending)
        self._head = 0  # sequence number of the newest event
        self._base = 0  # sequence number just before self._events[0]
        self._cursor = 0
        self._pass_head: int | None = None  # head when the running pass started
        self._pass_started = 0.0
        self._payloads: dict[tuple[_GroupKey, int, str | None], bytes | None] = {}
        self._ranges: dict[int, tuple[list[RoomEvent], frozenset[str]]] = {}
        self._cached_head = -1
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None
        self._closed = False
        self.stats = FanoutStats()

    # -- membership -------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, sub: object) -> bool:
        return sub in self._index

    def add(self, sub: Subscriber) -> None:
        """Add `sub`; it receives events delivered from now on."""
        if self._closed:
            raise RuntimeError(f"room {self.name!r} is closed")
        if sub in self._index:
            self.refresh(sub)
            return
        entry = _Entry(sub, self._key(sub), sub.user_id, self._head)
        if self._pass_head is None and len(self._ring) > 64 + 2 * len(self._index):
            self._compact()
        self._index[sub] = len(self._ring)
        self._ring.append(entry)
        self._budget.subscribers += 1

    def remove(self, sub: Subscriber) -> None:
        """Forget `sub`; a subscriber that is not in the room is ignored."""
        pos = self._index.pop(sub, None)
        if pos is None:
            return
        self._ring[pos] = None
        self._budget.subscribers -= 1

    def refresh(self, sub: Subscriber) -> None:
        """Re-read `sub`'s transport kind, caps and user id (after a CAP REQ or login)."""
        pos = self._index.get(sub)
        if pos is not None:
            entry = self._ring[pos]
            assert entry is not None
            entry.key = self._key(sub)
            entry.user_id = sub.user_id

    @staticmethod
    def _key(sub: Subscriber) -> _GroupKey:
        kind = sub.transport_kind
        if kind not in TRANSPORT_KINDS:
            raise ValueError(f"unknown transport kind {kind!r}")
        return kind, sub.caps & KNOWN_CAPS

    # -- delivery -----------------------------------------------------------------------

    def deliver(self, event: RoomEvent) -> None:
        """Queue `event` for every subscriber it is for; never blocks, never writes inline."""
        if self._closed:
            self._log.debug("room %s: event after close dropped", self.name)
            return
        self.stats.events += 1
        if len(self._events) == self._events.maxlen:
            self.stats.dropped_events += 1
            self._base += 1
        self._events.append(event)
        self._head += 1
        if self._pass_head is None and self._timer is None:
            self._schedule_pass()

    async def close(self) -> None:
        """Write what is pending to everyone at once, then stop; subscribers are left open
        (the gateway owns them)."""
        if self._closed:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._cursor = 0
        self._write_chunk(len(self._ring), len(self._ring))
        self._closed = True
        self._budget.subscribers -= len(self._index)
        self._ring.clear()
        self._index.clear()
        self._events.clear()

    # -- internals -----------------------------------------------------------------------

    def _now(self) -> float:
        if self._loop_time is not None:
            return self._loop_time()
        return asyncio.get_running_loop().time()

    def _schedule_pass(self) -> None:
        loop = asyncio.get_running_loop()
        now = self._now()
        slot = self._throttle.slot(now, self._base_interval)
        if slot <= now:  # quiet: on the next loop iteration (with this one's events)
            self._timer = loop.call_soon(self._start_pass, slot)
        else:  # busy: coalesce until the slot
            self._timer = loop.call_later(slot - now, self._start_pass, slot)

    def _start_pass(self, slot: float) -> None:
        self._timer = None
        now = self._now()
        self._throttle.book(slot, now, self._base_interval)
        self._compact()
        self._cursor = 0
        self._pass_head = self._head
        self._pass_started = now
        self._step()

    def _step(self) -> None:
        """Write the next chunk of the pass; then continue, wait for tokens, or end it."""
        self._timer = None
        loop = asyncio.get_running_loop()
        now = self._now()
        granted = self._budget.take(self._chunk, now)
        if granted == 0:
            self._timer = loop.call_later(self._budget.delay(self._chunk, now), self._step)
            return
        written = self._write_chunk(granted, len(self._ring))
        self._budget.give_back(granted - written)
        if self._cursor < len(self._ring):
            self._timer = loop.call_soon(self._step)
            return
        # The pass is over: every subscriber has seen at least the pass's head.
        assert self._pass_head is not None
        elapsed = self._now() - self._pass_started
        self.stats.passes += 1
        self.stats.last_pass_s = elapsed
        self.stats.max_pass_s = max(self.stats.max_pass_s, elapsed)
        while self._base < self._pass_head and self._events:
            self._events.popleft()
            self._base += 1
        self._ranges.clear()
        self._payloads.clear()
        newer = self._head > self._pass_head
        self._pass_head = None
        if newer:
            self._schedule_pass()

    def _write_chunk(self, max_writes: int, end: int) -> int:
        """Visit subscribers from the cursor until `max_writes` writes or `end`; returns
        the writes made."""
        head = self._head
        if head != self._cached_head:
            self._ranges.clear()
            self._payloads.clear()
            self._cached_head = head
        ring = self._ring
        limit = self._max_buffered
        slow: list[Subscriber] = []
        failed: list[tuple[Subscriber, Exception]] = []
        written = 0
        i = self._cursor
        while i < end and written < max_writes:
            entry = ring[i]
            i += 1
            if entry is None or entry.seen >= head:
                continue
            payload = self._payload(entry)
            entry.seen = head
            if payload is None:
                continue
            written += 1
            sub = entry.sub
            try:
                sub.write_encoded(payload)
                if sub.buffered_bytes() > limit:
                    slow.append(sub)
            except Exception as exc:
                failed.append((sub, exc))
        self._cursor = i
        self.stats.writes += written
        for sub in slow:
            self.stats.slow_disconnects += 1
            self._drop(sub, "slow client")
        for sub, error in failed:
            self.stats.write_failures += 1
            self._log.warning("room %s: write failed (%r), dropping subscriber", self.name, error)
            self._drop(sub, "write failed")
        return written

    def _payload(self, entry: _Entry) -> bytes | None:
        seen = max(entry.seen, self._base)
        span = self._ranges.get(seen)
        if span is None:
            events = list(itertools.islice(self._events, seen - self._base, None))
            excluders = frozenset(e.exclude_user_id for e in events if e.exclude_user_id)
            span = self._ranges[seen] = (events, excluders)
        events, excluders = span
        skip = entry.user_id if entry.user_id in excluders else None
        cache_key = (entry.key, seen, skip)
        if cache_key in self._payloads:
            return self._payloads[cache_key]
        payload = self._payloads[cache_key] = _encode(entry.key, events, skip)
        return payload

    def _compact(self) -> None:
        """Drop the holes departed subscribers left (between passes: keeps the order)."""
        if len(self._ring) == len(self._index):
            return
        entries = [e for e in self._ring if e is not None]
        self._ring = list(entries)
        self._index = {e.sub: i for i, e in enumerate(entries)}

    def _drop(self, sub: Subscriber, reason: str) -> None:
        self.remove(sub)
        try:
            sub.close(reason)
        except Exception:
            self._log.exception("room %s: closing a dropped subscriber failed", self.name)
