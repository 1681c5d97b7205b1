"""HLS VOD playlists of a recorded session, built from its renditions' segment indexes (pure)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from streamhub.packaging import SegmentRecord, playlist_uri
from streamhub.protocols.fmp4.boxes import Fmp4Error, iter_boxes
from streamhub.protocols.fmp4.fragment import parse_fragment
from streamhub.protocols.fmp4.init import InitInfo, parse_init
from streamhub.protocols.hls.model import MediaPlaylist, MultivariantPlaylist, Segment, Variant
from streamhub.protocols.hls.render import render_media_playlist, render_multivariant_playlist

VOD_VERSION = 7  # EXT-X-MAP in a playlist without I-FRAMES-ONLY needs 6+; nothing LL-HLS here


@dataclass(frozen=True, slots=True)
class RenditionSummary:
    """One recorded rendition as the multivariant playlist describes it."""

    name: str
    peak_bandwidth: int  # bits/s, the most demanding segment
    average_bandwidth: int  # bits/s over the whole recording
    duration: float  # seconds
    codecs: str | None = None
    resolution: tuple[int, int] | None = None
    frame_rate: float | None = None


def ordered(records: Sequence[SegmentRecord]) -> list[SegmentRecord]:
    """Records by MSN, one per MSN (the last written wins), zero-length ones dropped."""
    by_msn = {r.msn: r for r in records if r.duration > 0}
    return [by_msn[msn] for msn in sorted(by_msn)]


def total_duration(records: Sequence[SegmentRecord]) -> float:
    return sum(r.duration for r in ordered(records))


def media_playlist(records: Sequence[SegmentRecord]) -> str:
    """The VOD media playlist of one rendition: every recorded segment, in MSN order, with the
    init section each needs (a new EXT-X-MAP when it changes), DISCONTINUITY where the encoder
    restarted, PROGRAM-DATE-TIME when recorded, and ENDLIST. Raises ValueError when empty."""
    segs = ordered(records)
    if not segs:
        raise ValueError("a VOD playlist needs at least one segment")
    target = max(1, math.ceil(max(r.duration for r in segs)))
    model = MediaPlaylist(
        target_duration=target,
        media_sequence=segs[0].msn,
        segments=tuple(
            Segment(
                uri=r.uri,
                duration=r.duration,
                init_uri=r.init_uri,
                program_date_time=r.program_date_time,
                discontinuity=r.discontinuity and i > 0,
            )
            for i, r in enumerate(segs)
        ),
        endlist=True,
        version=VOD_VERSION,
        playlist_type="VOD",
    )
    return render_media_playlist(model)


def bandwidth(records: Sequence[SegmentRecord]) -> tuple[int, int]:
    """(peak, average) bits/s measured from segment sizes and durations."""
    segs = ordered(records)
    if not segs:
        return 0, 0
    peak = max(r.size * 8 / r.duration for r in segs)
    average = sum(r.size for r in segs) * 8 / sum(r.duration for r in segs)
    return max(1, math.ceil(peak)), max(1, math.ceil(average))


def frame_rate(segment: bytes, init: InitInfo) -> float | None:
    """The highest video sample rate over the fragments of one media segment (HLS FRAME-RATE
    is a maximum; per fragment, as the live packager measures it), None without video."""
    video = init.video
    if video is None:
        return None
    rates: list[float] = []
    for box in iter_boxes(segment):
        if box.type != "moof":
            continue
        run = parse_fragment(box, init).track(video.track_id)
        if run is not None and run.seconds > 0 and run.sample_count > 1:
            rates.append(run.sample_count / run.seconds)
    return round(max(rates), 3) if rates else None


def describe(name: str, records: Sequence[SegmentRecord], init: bytes | None = None,
             sample: bytes | None = None) -> RenditionSummary | None:
    """Summarize a rendition from its index, its (first) init segment and one media segment
    (both optional: unreadable media only leaves CODECS/RESOLUTION/FRAME-RATE out)."""
    segs = ordered(records)
    if not segs:
        return None
    peak, average = bandwidth(segs)
    codecs: str | None = None
    resolution: tuple[int, int] | None = None
    rate: float | None = None
    if init is not None:
        try:
            info = parse_init(init)
            codecs = info.codecs or None
            if info.width and info.height:
                resolution = (info.width, info.height)
            rate = frame_rate(sample, info) if sample is not None else None
        except Fmp4Error:
            pass
    return RenditionSummary(name, peak, average, sum(r.duration for r in segs), codecs,
                            resolution, rate)


def multivariant_playlist(renditions: Sequence[RenditionSummary]) -> str:
    """One EXT-X-STREAM-INF per rendition, highest bandwidth first. Raises ValueError when
    there is none."""
    if not renditions:
        raise ValueError("a VOD needs at least one rendition")
    variants = tuple(
        Variant(uri=playlist_uri(r.name), bandwidth=r.peak_bandwidth,
                average_bandwidth=r.average_bandwidth, codecs=r.codecs,
                resolution=r.resolution, frame_rate=r.frame_rate)
        for r in sorted(renditions, key=lambda r: -r.peak_bandwidth)
    )
    return render_multivariant_playlist(MultivariantPlaylist(variants))
