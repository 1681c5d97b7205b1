"""Stream-health history: one bounded ring of samples per live session (ingest, transcoder,
renditions, viewers, chat rate), taken every few seconds for the creator dashboard."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

SESSION_SPAN = 12 * 3600.0  # seconds of samples kept per live session
CHAT_WINDOW = 60.0  # chat rate = messages over (up to) the last minute


class LiveSource(Protocol):
    """A live stream as the ingest hub holds it."""

    @property
    def login(self) -> str: ...

    @property
    def session_id(self) -> str: ...

    def snapshot(self) -> dict[str, Any]: ...


ViewerCount = Callable[[str], Awaitable[int]]
ChatCount = Callable[[str], int]  # chat messages seen in the channel's room (may restart at 0)


@dataclass(frozen=True, slots=True)
class RenditionSample:
    """One rendition's figures at one time."""

    name: str
    kbps: float | None
    width: int | None
    height: int | None
    fps: float | None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kbps": self.kbps, "width": self.width,
                "height": self.height, "fps": self.fps}


@dataclass(frozen=True, slots=True)
class HealthSample:
    """The health of one live stream at time `t` (Unix seconds); None = not known."""

    seq: int
    t: float
    state: str
    bitrate_kbps: float | None
    fps: float | None
    keyframe_interval_s: float | None
    speed: float | None
    transcoder_fps: float | None
    transcoder_state: str | None
    drop_frames: int | None
    dup_frames: int | None
    dropped_input_tags: int | None
    restarts: int | None
    reconnects: int
    viewers: int | None
    chat_per_min: float
    renditions: tuple[RenditionSample, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq, "t": self.t, "state": self.state,
            "bitrate_kbps": self.bitrate_kbps, "fps": self.fps,
            "keyframe_interval_s": self.keyframe_interval_s, "speed": self.speed,
            "transcoder_fps": self.transcoder_fps, "transcoder_state": self.transcoder_state,
            "drop_frames": self.drop_frames, "dup_frames": self.dup_frames,
            "dropped_input_tags": self.dropped_input_tags, "restarts": self.restarts,
            "reconnects": self.reconnects, "viewers": self.viewers,
            "chat_per_min": self.chat_per_min,
            "renditions": [r.to_json() for r in self.renditions],
        }


def _float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _int(value: object) -> int | None:
    number = _float(value)
    return None if number is None else int(number)


def make_sample(snapshot: dict[str, Any], *, seq: int, at: float, viewers: int | None,
                chat_per_min: float) -> HealthSample:
    """A sample from a stream's snapshot (see `ingest.hub.LiveStream.snapshot`); missing or
    malformed figures become None."""
    health = snapshot.get("health") or {}
    given = health.get("input") or {}
    trans = health.get("transcoder") or {}
    renditions = []
    for r in snapshot.get("renditions") or ():
        bps = _float(r.get("average_bandwidth")) or _float(r.get("bandwidth"))
        renditions.append(RenditionSample(
            name=str(r.get("name", "")), kbps=None if bps is None else round(bps / 1000, 1),
            width=_int(r.get("width")), height=_int(r.get("height")),
            fps=_float(r.get("frame_rate"))))
    state = trans.get("state")
    return HealthSample(
        seq=seq, t=round(at, 3), state=str(snapshot.get("state", "")),
        bitrate_kbps=_float(given.get("bitrate_kbps")), fps=_float(given.get("fps")),
        keyframe_interval_s=_float(given.get("keyframe_interval_s")),
        speed=_float(trans.get("speed")), transcoder_fps=_float(trans.get("fps")),
        transcoder_state=state if isinstance(state, str) else None,
        drop_frames=_int(trans.get("drop_frames")), dup_frames=_int(trans.get("dup_frames")),
        dropped_input_tags=_int(trans.get("dropped_input_tags")),
        restarts=_int(trans.get("restarts")), reconnects=_int(snapshot.get("reconnects")) or 0,
        viewers=viewers, chat_per_min=round(chat_per_min, 2), renditions=tuple(renditions))


class ChatRate:
    """Messages per minute over the last `window` seconds, from a message counter that may
    start again at 0 (the room was closed and reopened)."""

    def __init__(self, window: float = CHAT_WINDOW) -> None:
        self.window = window
        self._last: int | None = None
        self._total = 0
        self._points: deque[tuple[float, int]] = deque()

    def update(self, now: float, counter: int) -> float:
        if self._last is not None:
            self._total += counter - self._last if counter >= self._last else counter
        self._last = counter
        self._points.append((now, self._total))
        while len(self._points) > 1 and self._points[1][0] <= now - self.window:
            self._points.popleft()
        return self.rate()

    def rate(self) -> float:
        if len(self._points) < 2:
            return 0.0
        (t0, n0), (t1, n1) = self._points[0], self._points[-1]
        return (n1 - n0) * 60.0 / (t1 - t0) if t1 > t0 else 0.0


class SessionHistory:
    """The samples of one live session, oldest dropped beyond `capacity`; each sample has a
    sequence number (1, 2, ...) so a client can ask for the ones it has not seen."""

    def __init__(self, login: str, session_id: str, started_at: str | None,
                 capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.login = login
        self.session_id = session_id
        self.started_at = started_at
        self.samples: deque[HealthSample] = deque(maxlen=capacity)
        self.ended_at: float | None = None
        self.chat = ChatRate()
        self._seq = itertools.count(1)

    def next_seq(self) -> int:
        return next(self._seq)

    def add(self, sample: HealthSample) -> None:
        self.samples.append(sample)

    @property
    def last_seq(self) -> int:
        return self.samples[-1].seq if self.samples else 0

    def since(self, after: int) -> list[HealthSample]:
        """Samples with seq > `after` (all kept ones for 0), oldest first."""
        if not self.samples or after >= self.samples[-1].seq:
            return []
        skip = max(0, after - self.samples[0].seq + 1)
        return list(itertools.islice(self.samples, skip, None))


class HealthHistory:
    """Samples every live stream of this node every `interval` seconds into its session's
    ring; a new session starts a new ring, an ended one is kept `keep_ended` seconds."""

    def __init__(
        self, streams: Callable[[], Iterable[LiveSource]], *, viewers: ViewerCount,
        chat_messages: ChatCount, interval: float, span: float = SESSION_SPAN,
        keep_ended: float = 3600.0, clock: Callable[[], float] = time.time,
        logger: logging.Logger | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.interval = interval
        self.capacity = max(1, math.ceil(span / interval))
        self.keep_ended = keep_ended
        self._streams = streams
        self._viewers = viewers
        self._chat_messages = chat_messages
        self._clock = clock
        self._log = logger or logging.getLogger("streamhub.health")
        self._sessions: dict[str, SessionHistory] = {}
        self._task: asyncio.Task[None] | None = None

    def get(self, login: str) -> SessionHistory | None:
        """The channel's current (or latest, if recently ended) session history."""
        return self._sessions.get(login)

    async def _viewer_count(self, login: str) -> int | None:
        try:
            return await self._viewers(login)
        except Exception as exc:  # presence away: the sample has no viewer figure
            self._log.warning("%s: viewer count failed: %s", login, exc)
            return None

    async def sample(self) -> None:
        """One sampling pass over every live stream."""
        now = self._clock()
        live = {s.login: s for s in self._streams()}
        for login, stream in live.items():
            snap = stream.snapshot()
            history = self._sessions.get(login)
            if history is None or history.session_id != stream.session_id:
                history = SessionHistory(login, stream.session_id, snap.get("started_at"),
                                         self.capacity)
                self._sessions[login] = history
            history.ended_at = None
            rate = history.chat.update(now, self._chat_messages(login))
            viewers = await self._viewer_count(login)
            history.add(make_sample(snap, seq=history.next_seq(), at=now, viewers=viewers,
                                    chat_per_min=rate))
        for login, history in list(self._sessions.items()):
            if login in live:
                continue
            if history.ended_at is None:
                history.ended_at = now
            elif now - history.ended_at >= self.keep_ended:
                del self._sessions[login]

    async def probe(self, stream: LiveSource) -> HealthSample:
        """The stream's figures right now (not stored; chat rate as last sampled)."""
        history = self._sessions.get(stream.login)
        rate = (history.chat.rate() if history is not None
                and history.session_id == stream.session_id else 0.0)
        return make_sample(stream.snapshot(), seq=0, at=self._clock(),
                           viewers=await self._viewer_count(stream.login), chat_per_min=rate)

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.sample()
            except Exception:  # one bad pass must not end the history
                self._log.exception("stream health sampling failed")
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
