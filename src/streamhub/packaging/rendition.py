"""LL-HLS packager for one rendition: fMP4 fragments in, parts/segments/playlists out."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from streamhub.packaging.errors import NotFound, PlaylistError, Unavailable
from streamhub.packaging.store import SegmentRecord, SegmentSink, check_rendition_name
from streamhub.protocols.fmp4 import FragmentAssembler, InitSegment, MediaFragment
from streamhub.protocols.fmp4.init import InitInfo
from streamhub.protocols.hls import (
    MediaPlaylist,
    Part,
    PendingSegment,
    PreloadHint,
    RenditionReport,
    Segment,
    ServerControl,
    render_media_playlist,
)

#: PART-HOLD-BACK as a multiple of the part target. RFC 8216bis: MUST be >= 2x, SHOULD be >= 3x.
PART_HOLD_BACK_FACTOR = 3.0
#: CAN-SKIP-UNTIL as a multiple of the target duration (RFC minimum, as gohlslib).
SKIP_UNTIL_FACTOR = 6.0
#: EXT-X-PART lines are listed for this many complete segments before the one in progress.
PART_SEGMENTS = 2

ReportSource = Callable[[], Sequence[RenditionReport]]
_Key = tuple[int, int | None]


def init_uri(init_id: int) -> str:
    return f"init-{init_id}.mp4"


def segment_uri(msn: int) -> str:
    return f"seg-{msn}.m4s"


def part_uri(msn: int, index: int) -> str:
    return f"part-{msn}-{index}.m4s"


@dataclass(slots=True)
class _Part:
    data: bytes
    duration: float
    independent: bool
    video_samples: int
    video_seconds: float


@dataclass(slots=True)
class _Segment:
    msn: int
    init_id: int
    discontinuity: bool
    pdt: float | None = None
    parts: list[_Part] = field(default_factory=list)
    duration: float = 0.0
    size: int = 0
    complete: bool = False
    _data: bytes | None = None

    def data(self) -> bytes:
        if self._data is None:
            joined = b"".join(p.data for p in self.parts)
            if not self.complete:
                return joined
            self._data = joined
        return self._data


class RenditionPackager:
    """Cuts one rendition's fMP4 stream into LL-HLS parts (= ffmpeg fragments) and segments.

    Feed it bytes from the ffmpeg pipe (``feed``); serve playlists (``playlist``, blocking
    reload and delta updates), parts, segments and init segments to the origin. All state lives
    on the event loop thread that calls it; it performs no I/O itself (a ``store`` may).

    RFC 8216bis choices:

    * ``_HLS_msn=M`` alone waits until segment M is *complete* (6.2.5.2: "contains a Media
      Segment with MSN M or later"; parts of the segment in progress are not a Media Segment).
    * ``_HLS_msn=M&_HLS_part=N`` waits for part M.N; N past the last part of a complete
      segment means part 0 of M+1 (6.2.5.2).
    * A request for a segment older than the window is answered at once with the current
      playlist (6.2.5.2: "deliver the entire Playlist ... even if it is no longer in the
      Playlist"), not 400 as gohlslib does: a client that fell behind recovers instead of looping.
    * 400 for ``_HLS_part`` without ``_HLS_msn``, negative values, M > last complete + 2, or a
      part further ahead than the Advance Part Limit (3 / PART-TARGET parts, estimated across
      segment boundaries). 503 after blocking 3 x TARGETDURATION. Directives and ``_HLS_skip``
      are ignored once ENDLIST is present.
    * PART-HOLD-BACK = 3 x PART-TARGET (the RFC's SHOULD; 2.5 x would satisfy only the MUST).
      PART-TARGET is raised above the configured value to cover the longest listed part.
    * TARGETDURATION = max(ceil(segment_target), round(longest segment)) and never decreases
      (6.2.1: rounded EXTINF <= target; the target must not change).
    * Delta updates skip only whole segments ending at least CAN-SKIP-UNTIL (6 x target)
      before the playlist end, and never one that still lists parts.
    * PDT: media time is mapped to the ingest clock at the end of the first fragment after
      (re)start (that fragment was complete at ``wallclock``); every listed segment has PDT.
    """

    def __init__(
        self,
        name: str,
        *,
        part_target: float = 0.2,
        segment_target: float = 2.0,
        window_segments: int = 7,
        clock: Callable[[], float] = time.time,
        store: SegmentSink | None = None,
        block_timeout: float | None = None,
        bandwidth_hint: int | None = None,
        frame_rate: float | None = None,
    ) -> None:
        if part_target <= 0 or segment_target <= 0:
            raise ValueError("part_target and segment_target must be positive")
        if segment_target < part_target:
            raise ValueError("segment_target must be at least part_target")
        if window_segments < PART_SEGMENTS + 1:
            raise ValueError(f"window_segments must be at least {PART_SEGMENTS + 1}")
        self.name = check_rendition_name(name)
        self.part_target = part_target
        self.segment_target = segment_target
        self.window_segments = window_segments
        self.bandwidth_hint = bandwidth_hint
        self._frame_rate_override = frame_rate
        self._clock = clock
        self._store = store
        self._block_timeout = block_timeout
        self._assembler = FragmentAssembler()
        self._init_id = -1
        self._init_bytes: bytes | None = None
        self._init_info: InitInfo | None = None
        self._inits: dict[int, bytes] = {}
        self._need_new_init = False
        self._anchor: tuple[float, float] | None = None  # (media end seconds, wallclock)
        self._segments: deque[_Segment] = deque()
        self._current = _Segment(msn=0, init_id=0, discontinuity=False)
        self._discontinuity_sequence = 0
        self._target_duration = max(1, math.ceil(segment_target - 1e-9))
        # a segment may end at the first IDR once this long (small slack for timestamp jitter)
        self._cut_threshold = segment_target - 0.25 * part_target
        self._ended = False
        self._generation = 0  # bumps on every visible change; keys the render cache
        self._cache: dict[tuple[bool, tuple[RenditionReport, ...]], tuple[int, str]] = {}
        self._reload_waiters: dict[_Key, asyncio.Event] = {}
        self._part_waiters: dict[_Key, asyncio.Event] = {}
        self._reports: ReportSource | None = None

    # ------------------------------------------------------------------ ingest side
    def feed(self, data: bytes, wallclock: float | None = None) -> None:
        """Consume raw bytes of ffmpeg's fMP4 output; ``wallclock`` = ingest time (POSIX s).

        Raises Fmp4Error on malformed input; call :meth:`discontinuity` before feeding the
        output of a new producer.
        """
        if self._ended:
            raise RuntimeError(f"rendition {self.name!r} has ended")
        now = self._clock() if wallclock is None else wallclock
        for event in self._assembler.feed(data):
            if isinstance(event, InitSegment):
                self._on_init(event)
            else:
                self._on_fragment(event, now)

    def discontinuity(self) -> None:
        """The producer restarted: close the segment in progress; the next one gets
        EXT-X-DISCONTINUITY and a new init segment (``init-<n>.mp4``)."""
        if self._ended:
            return
        self._close_current(discontinuity_next=True)
        self._assembler = FragmentAssembler()
        self._need_new_init = True
        self._anchor = None
        self._changed()

    def set_media_epoch(self, wallclock: float) -> None:
        """Media time 0 of the current producer was ingested at ``wallclock`` (POSIX s).

        When the producer's timestamps start at the ingest's, this makes PROGRAM-DATE-TIME
        the ingest wall clock of each segment's first frame. Call after :meth:`discontinuity`;
        calling it again refines the mapping for segments that start afterwards (listed
        segments keep their PROGRAM-DATE-TIME).
        """
        self._anchor = (0.0, wallclock)

    def end(self) -> None:
        """The stream is over: close the last segment, add EXT-X-ENDLIST, wake every waiter."""
        if self._ended:
            return
        self._close_current(discontinuity_next=False)
        self._ended = True
        self._changed()

    def _on_init(self, init: InitSegment) -> None:
        if self._init_id >= 0 and not self._need_new_init:
            if init.data == self._init_bytes:
                return
            # A different init on the same pipe: the producer restarted without telling us.
            self._close_current(discontinuity_next=True)
            self._anchor = None
        self._init_id += 1
        self._need_new_init = False
        self._init_bytes = init.data
        self._init_info = init.info
        self._inits[self._init_id] = init.data
        self._current.init_id = self._init_id
        if self._store is not None:
            self._store.put_init(self.name, init_uri(self._init_id), init.data)

    def _on_fragment(self, frag: MediaFragment, wallclock: float) -> None:
        if self._need_new_init or self._init_info is None:
            # Cannot happen with a fresh assembler (it rejects moof before init); defensive.
            raise RuntimeError("media fragment before the init segment of this producer")
        info = frag.info
        if self._anchor is None:
            self._anchor = (info.start + info.duration, wallclock)
        cur = self._current
        if cur.parts and frag.independent and cur.duration >= self._cut_threshold:
            self._close_current(discontinuity_next=False)
            cur = self._current
        if not cur.parts:
            media_end, wall = self._anchor
            cur.pdt = wall + (info.start - media_end)
            cur.init_id = self._init_id
        video = self._init_info.video
        vrun = info.track(video.track_id) if video is not None else None
        cur.parts.append(
            _Part(
                data=frag.data,
                duration=info.duration,
                independent=frag.independent,
                video_samples=vrun.sample_count if vrun else 0,
                video_seconds=vrun.seconds if vrun else 0.0,
            )
        )
        cur.duration += info.duration
        cur.size += len(frag.data)
        self._changed()

    def _close_current(self, *, discontinuity_next: bool) -> None:
        cur = self._current
        if cur.parts:
            cur.complete = True
            self._segments.append(cur)
            rounded = math.floor(cur.duration + 0.5)
            self._target_duration = max(self._target_duration, rounded)
            if self._store is not None:
                self._store.put_segment(self.name, self._record(cur), cur.data())
            self._evict()
            self._current = _Segment(
                msn=cur.msn + 1, init_id=self._init_id, discontinuity=discontinuity_next
            )
        elif discontinuity_next and self._segments:
            cur.discontinuity = True

    def _evict(self) -> None:
        floor = 3 * self._target_duration  # RFC 8216bis 6.2.2: never shorter than 3 x target
        total = sum(s.duration for s in self._segments)
        while len(self._segments) > self.window_segments:
            first = self._segments[0]
            if total - first.duration < floor:
                break
            self._segments.popleft()
            total -= first.duration
            if first.discontinuity:
                self._discontinuity_sequence += 1
        live = {s.init_id for s in self._segments} | {self._current.init_id, self._init_id}
        for init_id in [i for i in self._inits if i not in live]:
            del self._inits[init_id]

    def _record(self, seg: _Segment) -> SegmentRecord:
        return SegmentRecord(
            msn=seg.msn,
            uri=segment_uri(seg.msn),
            duration=seg.duration,
            init_uri=init_uri(seg.init_id),
            program_date_time=seg.pdt,
            discontinuity=seg.discontinuity,
            size=seg.size,
        )

    # ------------------------------------------------------------------ state queries
    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def init_info(self) -> InitInfo | None:
        return self._init_info

    @property
    def codecs(self) -> str | None:
        return self._init_info.codecs if self._init_info else None

    @property
    def width(self) -> int | None:
        return self._init_info.width if self._init_info else None

    @property
    def height(self) -> int | None:
        return self._init_info.height if self._init_info else None

    @property
    def target_duration(self) -> int:
        return self._target_duration

    @property
    def effective_part_target(self) -> float:
        """PART-TARGET: the configured target, raised to cover every listed part (ms units)."""
        longest = max((p.duration for s in self._part_segments() for p in s.parts), default=0.0)
        return max(self.part_target, math.ceil(longest * 1000 - 1e-6) / 1000)

    @property
    def last_msn(self) -> int | None:
        """MSN of the last part (RENDITION-REPORT LAST-MSN), None before any media."""
        if self._current.parts:
            return self._current.msn
        return self._segments[-1].msn if self._segments else None

    @property
    def last_part(self) -> int | None:
        """Index of the last part within ``last_msn`` (RENDITION-REPORT LAST-PART)."""
        if self._current.parts:
            return len(self._current.parts) - 1
        return len(self._segments[-1].parts) - 1 if self._segments else None

    @property
    def frame_rate(self) -> float | None:
        """Caller-set frame rate, else the highest per-part video sample rate in the window
        (HLS FRAME-RATE is a maximum; per part avoids an odd first-frame duration skewing it)."""
        if self._frame_rate_override is not None:
            return self._frame_rate_override
        rates = [
            p.video_samples / p.video_seconds
            for s in self._all_segments()
            for p in s.parts
            if p.video_seconds > 0 and p.video_samples > 1
        ]
        return round(max(rates), 3) if rates else None

    @frame_rate.setter
    def frame_rate(self, value: float | None) -> None:
        self._frame_rate_override = value

    @property
    def bandwidth(self) -> tuple[int, int] | None:
        """(peak, average) bits/s over complete segments in the window (falls back to the
        parts so far, then to ``bandwidth_hint``); None when nothing is known."""
        segs = [s for s in self._segments if s.duration > 0]
        if segs:
            peak = max(s.size * 8 / s.duration for s in segs)
            avg = sum(s.size for s in segs) * 8 / sum(s.duration for s in segs)
            return math.ceil(peak), math.ceil(avg)
        cur = self._current
        if cur.parts and cur.duration > 0:
            rate = math.ceil(cur.size * 8 / cur.duration)
            return rate, rate
        if self.bandwidth_hint:
            return self.bandwidth_hint, self.bandwidth_hint
        return None

    def report(self, uri: str) -> RenditionReport | None:
        """This rendition as seen from a sibling's playlist."""
        msn, part = self.last_msn, self.last_part
        if msn is None:
            return None
        return RenditionReport(uri=uri, last_msn=msn, last_part=part)

    def set_report_source(self, source: ReportSource | None) -> None:
        """Install the callable supplying EXT-X-RENDITION-REPORTs (set by StreamPackager)."""
        self._reports = source

    def _all_segments(self) -> list[_Segment]:
        out = list(self._segments)
        if self._current.parts:
            out.append(self._current)
        return out

    def _part_segments(self) -> list[_Segment]:
        segs = list(self._segments)[-PART_SEGMENTS:]
        if self._current.parts and not self._ended:
            segs.append(self._current)
        return segs

    def _segment(self, msn: int) -> _Segment | None:
        if msn == self._current.msn:
            return self._current
        if not self._segments:
            return None
        index = msn - self._segments[0].msn
        if 0 <= index < len(self._segments):
            return self._segments[index]
        return None

    # ------------------------------------------------------------------ serving side
    def get_init(self, init_id: int) -> bytes:
        data = self._inits.get(init_id)
        if data is None:
            raise NotFound(f"{self.name}: no init-{init_id}.mp4")
        return data

    def get_segment(self, msn: int) -> bytes:
        seg = self._segment(msn)
        if seg is None or not seg.complete:
            raise NotFound(f"{self.name}: no complete segment {msn} in the live window")
        return seg.data()

    def latest_segment(self) -> tuple[int, bytes, bytes] | None:
        """(msn, init segment, media) of the newest complete segment (None before one)."""
        for seg in reversed(self._segments):
            init = self._inits.get(seg.init_id)
            if seg.complete and init is not None:
                return seg.msn, init, seg.data()
        return None

    def _find_part(self, msn: int, index: int) -> bytes | None:
        seg = self._segment(msn)
        if seg is None or not 0 <= index < len(seg.parts):
            return None
        return seg.parts[index].data

    def _next_part(self) -> tuple[int, int]:
        """Where the next fragment will most likely land (the EXT-X-PRELOAD-HINT).

        Once the segment in progress reached its target, the next fragment is expected to be
        the IDR that opens the next segment, so the hint names part 0 of it; hinting the
        current segment's next index there would make players fetch a part that never exists.
        """
        cur = self._current
        if cur.parts and cur.duration >= self._cut_threshold:
            return cur.msn + 1, 0
        return cur.msn, len(cur.parts)

    def _is_hinted(self, msn: int, index: int) -> bool:
        """Requests that may block: the hint, and the other place the next part can land."""
        if self._ended:
            return False
        cur = self._current
        return (msn, index) in ((cur.msn, len(cur.parts)), (cur.msn + 1, 0))

    async def get_part(self, msn: int, index: int) -> bytes:
        """A part's bytes; the hinted next part blocks until complete (RFC 8216bis 6.2.6)."""
        data = self._find_part(msn, index)
        if data is not None:
            return data
        if not self._is_hinted(msn, index):
            raise NotFound(f"{self.name}: no part {msn}.{index}")
        key = (msn, index)
        if not await self._wait(self._part_waiters, key, self._part_settled(key)):
            raise Unavailable(f"{self.name}: part {msn}.{index} not ready in time")
        data = self._find_part(msn, index)
        if data is None:
            raise NotFound(f"{self.name}: hinted part {msn}.{index} was not published")
        return data

    async def playlist(
        self, msn: int | None = None, part: int | None = None, skip: bool = False
    ) -> str:
        """The media playlist, honouring _HLS_msn/_HLS_part (blocking) and _HLS_skip."""
        if part is not None and msn is None:
            raise PlaylistError("_HLS_part without _HLS_msn", status=400)
        if (msn is not None and msn < 0) or (part is not None and part < 0):
            raise PlaylistError("_HLS_msn/_HLS_part must be non-negative", status=400)
        if self._ended:  # RFC 8216bis 6.2.5.2: directives are ignored once ENDLIST is present
            return self._render(skip=False)
        if msn is None:
            ok = await self._wait(self._reload_waiters, (-1, None), self._has_content)
        else:
            self._check_not_too_far(msn, part)
            ok = await self._wait(self._reload_waiters, (msn, part), self._reload_ready(msn, part))
        if not ok:
            raise PlaylistError(f"{self.name}: playlist not updated in time", status=503)
        return self._render(skip=skip and not self._ended)

    def _check_not_too_far(self, msn: int, part: int | None) -> None:
        cur = self._current
        last_complete = cur.msn - 1
        if msn > last_complete + 2:
            raise PlaylistError(
                f"_HLS_msn={msn} is more than two segments past the last ({last_complete})",
                status=400,
            )
        if part is None:
            return
        target = self.effective_part_target
        limit = math.floor(3 / target) if target < 1 else 3
        per_segment = max(1, round(self._target_duration / target))
        ahead = (msn - cur.msn) * per_segment + part - (len(cur.parts) - 1)
        if ahead > limit:
            raise PlaylistError(
                f"_HLS_part={part} of _HLS_msn={msn} exceeds the Advance Part Limit ({limit})",
                status=400,
            )

    def _has_content(self) -> bool:
        return bool(self._segments) or self._ended

    def _reload_ready(self, msn: int, part: int | None) -> Callable[[], bool]:
        def ready() -> bool:
            if self._ended:
                return True
            cur = self._current
            if part is None:
                return msn < cur.msn  # segment msn is complete (or evicted)
            if msn < cur.msn:
                seg = self._segment(msn)
                if seg is None or part < len(seg.parts):
                    return True
                # RFC 8216bis 6.2.5.2: past the last part means part 0 of the next segment.
                return msn + 1 < cur.msn or bool(cur.parts)
            return msn == cur.msn and part < len(cur.parts)

        return ready

    def _part_settled(self, key: _Key) -> Callable[[], bool]:
        msn, index = key
        assert index is not None

        def settled() -> bool:
            cur = self._current
            return self._ended or msn < cur.msn or (msn == cur.msn and index < len(cur.parts))

        return settled

    async def _wait(
        self, table: dict[_Key, asyncio.Event], key: _Key, ready: Callable[[], bool]
    ) -> bool:
        """Block until ``ready()``; waiters on the same key share one Event (one wake-up each).

        Returns False on timeout (3 x target duration unless ``block_timeout`` was given).
        """
        timeout = self._block_timeout or 3 * self._target_duration
        try:
            async with asyncio.timeout(timeout):
                while not ready():
                    await table.setdefault(key, asyncio.Event()).wait()
        except TimeoutError:
            return ready()
        return True

    def _changed(self) -> None:
        """Something visible changed: invalidate renders, wake exactly the satisfied waiters."""
        self._generation += 1
        for key in [k for k in self._reload_waiters if self._reload_key_ready(k)]:
            self._reload_waiters.pop(key).set()
        for pkey in [k for k in self._part_waiters if self._part_settled(k)()]:
            self._part_waiters.pop(pkey).set()

    def _reload_key_ready(self, key: tuple[int, int | None]) -> bool:
        msn, part = key
        if msn < 0:
            return self._has_content()
        return self._reload_ready(msn, part)()

    # ------------------------------------------------------------------ rendering
    def _render(self, *, skip: bool) -> str:
        reports = tuple(self._reports()) if self._reports is not None else ()
        cache_key = (skip, reports)
        hit = self._cache.get(cache_key)
        if hit is not None and hit[0] == self._generation:
            return hit[1]
        text = render_media_playlist(self.build_model(skip=skip, reports=reports))
        if len(self._cache) > 8:
            self._cache.clear()
        self._cache[cache_key] = (self._generation, text)
        return text

    def build_model(
        self, *, skip: bool = False, reports: Sequence[RenditionReport] = ()
    ) -> MediaPlaylist:
        """The playlist model as of now (parts only for the last segments near the edge)."""
        target = self._target_duration
        part_target = self.effective_part_target
        skip_until = SKIP_UNTIL_FACTOR * target
        segments = list(self._segments)
        with_parts = {s.msn for s in self._part_segments()}
        listed = [self._model_segment(s, s.msn in with_parts) for s in segments]
        skipped: int | None = None
        if skip and not self._ended:
            # 6.2.5.1: a _HLS_skip request MUST get a delta update; with nothing old enough
            # to skip that is EXT-X-SKIP:SKIPPED-SEGMENTS=0 (still valid, still a delta update).
            skipped = 0
            end = sum(s.duration for s in segments) + (
                self._current.duration if self._current.parts else 0.0
            )
            elapsed = 0.0
            for s in segments:
                elapsed += s.duration
                if end - elapsed >= skip_until and s.msn not in with_parts:
                    skipped += 1
                else:
                    break
        cur = self._current
        pending = None
        hint = None
        if not self._ended:
            hint = PreloadHint(part_uri(*self._next_part()))
            if cur.parts:
                pending = PendingSegment(
                    parts=tuple(self._model_parts(cur)),
                    init_uri=init_uri(cur.init_id),
                    program_date_time=cur.pdt,
                    discontinuity=cur.discontinuity,
                )
        return MediaPlaylist(
            target_duration=target,
            media_sequence=segments[0].msn if segments else cur.msn,
            segments=tuple(listed[skipped or 0 :]),
            pending=pending,
            part_target=part_target,
            server_control=ServerControl(
                can_block_reload=True,
                part_hold_back=PART_HOLD_BACK_FACTOR * part_target,
                can_skip_until=skip_until,
            ),
            discontinuity_sequence=self._discontinuity_sequence,
            skipped_segments=skipped,
            preload_hint=hint,
            rendition_reports=tuple(reports),
            endlist=self._ended,
        )

    def _model_parts(self, seg: _Segment) -> list[Part]:
        return [
            Part(part_uri(seg.msn, i), p.duration, p.independent) for i, p in enumerate(seg.parts)
        ]

    def _model_segment(self, seg: _Segment, parts: bool) -> Segment:
        return Segment(
            uri=segment_uri(seg.msn),
            duration=seg.duration,
            init_uri=init_uri(seg.init_id),
            program_date_time=seg.pdt,
            discontinuity=seg.discontinuity,
            parts=tuple(self._model_parts(seg)) if parts else (),
        )
