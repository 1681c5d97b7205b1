"""Movie fragment (moof) parsing: per-track decode time, duration, sample count and sync flags."""

from __future__ import annotations

from dataclasses import dataclass

from streamhub.protocols.fmp4.boxes import Box, Fmp4Error, Reader, iter_boxes
from streamhub.protocols.fmp4.init import InitInfo

# tfhd flags
_TFHD_BASE_DATA_OFFSET = 0x000001
_TFHD_SAMPLE_DESCRIPTION_INDEX = 0x000002
_TFHD_DEFAULT_DURATION = 0x000008
_TFHD_DEFAULT_SIZE = 0x000010
_TFHD_DEFAULT_FLAGS = 0x000020
# trun flags
_TRUN_DATA_OFFSET = 0x000001
_TRUN_FIRST_SAMPLE_FLAGS = 0x000004
_TRUN_DURATION = 0x000100
_TRUN_SIZE = 0x000200
_TRUN_FLAGS = 0x000400
_TRUN_CTO = 0x000800

_NON_SYNC_BIT = 0x00010000


def is_sync_sample(flags: int) -> bool:
    """Decode ISO BMFF sample flags: a sample is sync when it depends on no other sample.

    ``sample_depends_on == 2`` (does not depend on others, i.e. an I picture) is sync even if a
    muxer also set ``sample_is_non_sync_sample``; ``depends_on == 1`` is never sync; otherwise the
    ``sample_is_non_sync_sample`` bit decides.
    """
    depends_on = (flags >> 24) & 0x3
    if depends_on == 2:
        return True
    if depends_on == 1:
        return False
    return not flags & _NON_SYNC_BIT


@dataclass(frozen=True, slots=True)
class TrackFragment:
    """One track's run inside a movie fragment."""

    track_id: int
    timescale: int
    base_media_decode_time: int  # ticks, from tfdt
    duration: int  # ticks, sum of sample durations
    sample_count: int
    first_sample_sync: bool

    @property
    def start(self) -> float:
        return self.base_media_decode_time / self.timescale

    @property
    def seconds(self) -> float:
        return self.duration / self.timescale


@dataclass(frozen=True, slots=True)
class FragmentInfo:
    """Timing summary of one moof, in the primary (video, else audio) track's timeline."""

    sequence_number: int
    tracks: tuple[TrackFragment, ...]
    primary_track_id: int

    @property
    def primary(self) -> TrackFragment:
        for t in self.tracks:
            if t.track_id == self.primary_track_id:
                return t
        raise Fmp4Error(f"fragment has no run for primary track {self.primary_track_id}")

    def track(self, track_id: int) -> TrackFragment | None:
        return next((t for t in self.tracks if t.track_id == track_id), None)

    @property
    def start(self) -> float:
        """Decode time of the first primary sample, seconds."""
        return self.primary.start

    @property
    def duration(self) -> float:
        """Primary-track duration, seconds."""
        return self.primary.seconds

    @property
    def independent(self) -> bool:
        """True when the primary track starts with a sync sample (an IDR for video)."""
        return self.primary.first_sample_sync


def parse_fragment(moof: bytes | Box, init: InitInfo) -> FragmentInfo:
    """Parse a ``moof`` box (bytes of the whole box, or a Box) against its init segment."""
    box = moof if isinstance(moof, Box) else Box.parse(moof)
    if box.type != "moof":
        raise Fmp4Error(f"expected a moof box, got {box.type!r}")
    sequence = 0
    runs: dict[int, TrackFragment] = {}
    for child in iter_boxes(box.payload):
        if child.type == "mfhd":
            r = Reader(child.payload, "mfhd")
            r.full_header()
            sequence = r.u32()
        elif child.type == "traf":
            frag = _parse_traf(child, init)
            if frag.track_id in runs:
                raise Fmp4Error(f"moof has two traf boxes for track {frag.track_id}")
            runs[frag.track_id] = frag
    if not runs:
        raise Fmp4Error("moof has no traf")
    wanted = [init.primary.track_id, *(t.track_id for t in init.tracks)]
    primary = next(tid for tid in [*wanted, *runs] if tid in runs)
    return FragmentInfo(sequence, tuple(runs.values()), primary)


def _parse_traf(traf: Box, init: InitInfo) -> TrackFragment:
    tfhd: Box | None = None
    tfdt: Box | None = None
    truns: list[Box] = []
    for child in iter_boxes(traf.payload):
        if child.type == "tfhd":
            tfhd = child
        elif child.type == "tfdt":
            tfdt = child
        elif child.type == "trun":
            truns.append(child)
    if tfhd is None:
        raise Fmp4Error("traf has no tfhd")
    r = Reader(tfhd.payload, "tfhd")
    _, flags = r.full_header()
    track_id = r.u32()
    track = init.track(track_id)
    if track is None:
        raise Fmp4Error(f"traf for track {track_id}, which the init segment does not declare")
    if flags & _TFHD_BASE_DATA_OFFSET:
        r.skip(8)
    if flags & _TFHD_SAMPLE_DESCRIPTION_INDEX:
        r.skip(4)
    default_duration = r.u32() if flags & _TFHD_DEFAULT_DURATION else track.defaults.sample_duration
    if flags & _TFHD_DEFAULT_SIZE:
        r.skip(4)
    default_flags = r.u32() if flags & _TFHD_DEFAULT_FLAGS else track.defaults.sample_flags

    if tfdt is None:
        raise Fmp4Error(f"traf for track {track_id} has no tfdt (required for CMAF/LL-HLS)")
    tr = Reader(tfdt.payload, "tfdt")
    version, _ = tr.full_header()
    decode_time = tr.u64() if version == 1 else tr.u32()

    duration = 0
    count = 0
    first_flags: int | None = None
    for trun in truns:
        d, n, ff = _parse_trun(trun, default_duration, default_flags)
        duration += d
        count += n
        if first_flags is None and n:
            first_flags = ff
    return TrackFragment(
        track_id=track_id,
        timescale=track.timescale,
        base_media_decode_time=decode_time,
        duration=duration,
        sample_count=count,
        first_sample_sync=is_sync_sample(default_flags if first_flags is None else first_flags),
    )


def _parse_trun(trun: Box, default_duration: int, default_flags: int) -> tuple[int, int, int]:
    """Return (total duration ticks, sample count, first sample flags)."""
    r = Reader(trun.payload, "trun")
    _, flags = r.full_header()
    count = r.u32()
    if flags & _TRUN_DATA_OFFSET:
        r.skip(4)
    first_flags = r.u32() if flags & _TRUN_FIRST_SAMPLE_FLAGS else None
    per_sample = 4 * sum(
        1 for bit in (_TRUN_DURATION, _TRUN_SIZE, _TRUN_FLAGS, _TRUN_CTO) if flags & bit
    )
    if per_sample and count * per_sample > r.remaining:
        raise Fmp4Error(f"trun declares {count} samples but holds {r.remaining} bytes of entries")
    if count and not flags & _TRUN_DURATION and default_duration == 0:
        raise Fmp4Error("trun has no sample durations and no tfhd/trex default")
    total = 0 if flags & _TRUN_DURATION else count * default_duration
    sample0_flags: int | None = None
    if per_sample:
        for i in range(count):
            if flags & _TRUN_DURATION:
                total += r.u32()
            if flags & _TRUN_SIZE:
                r.skip(4)
            if flags & _TRUN_FLAGS:
                f = r.u32()
                if i == 0:
                    sample0_flags = f
            if flags & _TRUN_CTO:
                r.skip(4)
    if first_flags is None:
        first_flags = default_flags if sample0_flags is None else sample0_flags
    return total, count, first_flags
