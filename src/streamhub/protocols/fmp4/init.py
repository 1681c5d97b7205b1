"""Init segment (ftyp+moov) parsing: tracks, timescales, dimensions, RFC 6381 codec strings."""

from __future__ import annotations

from dataclasses import dataclass

from streamhub.protocols.fmp4.boxes import Box, Fmp4Error, Reader, iter_boxes

VIDEO = "vide"
AUDIO = "soun"

_VISUAL_ENTRY_HEADER = 78  # payload bytes: SampleEntry(8) + VisualSampleEntry fields(70)
_AUDIO_ENTRY_HEADER = 28  # payload bytes: SampleEntry(8) + AudioSampleEntry v0 fields(20)
_VIDEO_ENTRIES = {"avc1", "avc3", "hvc1", "hev1", "av01", "vp09", "encv"}
_AUDIO_ENTRIES = {"mp4a", "Opus", "ac-3", "ec-3", "fLaC", "enca"}
_SIMPLE_AUDIO_CODECS = {"Opus": "opus", "ac-3": "ac-3", "ec-3": "ec-3", "fLaC": "flac"}


@dataclass(frozen=True, slots=True)
class TrackDefaults:
    """Per-track fragment defaults from ``trex`` (used when tfhd/trun omit a field)."""

    sample_description_index: int = 1
    sample_duration: int = 0
    sample_size: int = 0
    sample_flags: int = 0


@dataclass(frozen=True, slots=True)
class TrackInfo:
    """One track of the movie: identity, timing and codec."""

    track_id: int
    handler: str  # "vide", "soun", ...
    timescale: int
    codec: str | None = None  # RFC 6381 string, e.g. "avc1.64001f" / "mp4a.40.2"
    sample_entry: str | None = None  # four-character code, e.g. "avc1"
    width: int | None = None
    height: int | None = None
    sample_rate: int | None = None
    channels: int | None = None
    defaults: TrackDefaults = TrackDefaults()


@dataclass(frozen=True, slots=True)
class InitInfo:
    """What a packager needs to know from an init segment."""

    tracks: tuple[TrackInfo, ...]

    def track(self, track_id: int) -> TrackInfo | None:
        for t in self.tracks:
            if t.track_id == track_id:
                return t
        return None

    @property
    def video(self) -> TrackInfo | None:
        return next((t for t in self.tracks if t.handler == VIDEO), None)

    @property
    def audio(self) -> TrackInfo | None:
        return next((t for t in self.tracks if t.handler == AUDIO), None)

    @property
    def primary(self) -> TrackInfo:
        """The track whose timeline defines fragment timing: video if any, else the first."""
        return self.video or self.audio or self.tracks[0]

    @property
    def codecs(self) -> str:
        """Comma-joined RFC 6381 codecs, video first (the HLS CODECS attribute value)."""
        ordered = [t for t in (self.video, self.audio) if t is not None]
        ordered += [t for t in self.tracks if t not in ordered]
        return ",".join(t.codec for t in ordered if t.codec)

    @property
    def width(self) -> int | None:
        return self.video.width if self.video else None

    @property
    def height(self) -> int | None:
        return self.video.height if self.video else None


def parse_init(data: bytes) -> InitInfo:
    """Parse an init segment (``ftyp`` optional, ``moov`` required) into InitInfo."""
    moov: Box | None = None
    for box in iter_boxes(data):
        if box.type == "moov":
            moov = box
    if moov is None:
        raise Fmp4Error("init segment has no moov box")
    return parse_moov(moov)


def parse_moov(moov: Box) -> InitInfo:
    tracks: list[TrackInfo] = []
    defaults: dict[int, TrackDefaults] = {}
    for box in moov.children():
        if box.type == "trak":
            tracks.append(_parse_trak(box))
        elif box.type == "mvex":
            for sub in box.children():
                if sub.type == "trex":
                    tid, trex = _parse_trex(sub)
                    defaults[tid] = trex
    if not tracks:
        raise Fmp4Error("moov has no tracks")
    seen: set[int] = set()
    out: list[TrackInfo] = []
    for t in tracks:
        if t.track_id in seen:
            raise Fmp4Error(f"duplicate track id {t.track_id} in moov")
        seen.add(t.track_id)
        d = defaults.get(t.track_id)
        out.append(t if d is None else _replace_defaults(t, d))
    return InitInfo(tuple(out))


def _replace_defaults(t: TrackInfo, d: TrackDefaults) -> TrackInfo:
    return TrackInfo(
        track_id=t.track_id,
        handler=t.handler,
        timescale=t.timescale,
        codec=t.codec,
        sample_entry=t.sample_entry,
        width=t.width,
        height=t.height,
        sample_rate=t.sample_rate,
        channels=t.channels,
        defaults=d,
    )


def _parse_trex(box: Box) -> tuple[int, TrackDefaults]:
    r = Reader(box.payload, "trex")
    r.full_header()
    tid = r.u32()
    return tid, TrackDefaults(r.u32(), r.u32(), r.u32(), r.u32())


def _required(parent: Box, kind: str) -> Box:
    box = parent.child(kind)
    if box is None:
        raise Fmp4Error(f"{parent.type} has no {kind} box")
    return box


def _parse_trak(trak: Box) -> TrackInfo:
    tkhd = _required(trak, "tkhd")
    r = Reader(tkhd.payload, "tkhd")
    version, _ = r.full_header()
    r.skip(16 if version == 1 else 8)  # creation + modification time
    track_id = r.u32()
    r.skip(4)  # reserved
    r.skip(8 if version == 1 else 4)  # duration
    r.skip(8 + 2 + 2 + 2 + 2 + 36)  # reserved, layer, alternate_group, volume, reserved, matrix
    tk_width = r.u32() >> 16
    tk_height = r.u32() >> 16
    if track_id == 0:
        raise Fmp4Error("tkhd track_ID 0 is not allowed")

    mdia = _required(trak, "mdia")
    mdhd = Reader(_required(mdia, "mdhd").payload, "mdhd")
    version, _ = mdhd.full_header()
    mdhd.skip(16 if version == 1 else 8)
    timescale = mdhd.u32()
    if timescale == 0:
        raise Fmp4Error(f"track {track_id}: mdhd timescale is 0")
    hdlr = Reader(_required(mdia, "hdlr").payload, "hdlr")
    hdlr.full_header()
    hdlr.skip(4)  # pre_defined
    handler = hdlr.bytes(4).decode("latin-1")

    entry: Box | None = None
    minf = mdia.child("minf")
    stbl = minf.child("stbl") if minf else None
    stsd = stbl.child("stsd") if stbl else None
    if stsd is not None:
        sr = Reader(stsd.payload, "stsd")
        sr.full_header()
        if sr.u32() > 0:
            entries = list(iter_boxes(stsd.payload[8:]))
            entry = entries[0] if entries else None

    info = TrackInfo(track_id=track_id, handler=handler, timescale=timescale)
    if entry is None:
        return info
    if entry.type in _VIDEO_ENTRIES or handler == VIDEO:
        er = Reader(entry.payload, entry.type)
        er.skip(6 + 2 + 16)  # reserved, data_reference_index, pre_defined/reserved
        se_width, se_height = er.u16(), er.u16()
        children = _children_after(entry, _VISUAL_ENTRY_HEADER)
        return TrackInfo(
            track_id=track_id,
            handler=handler,
            timescale=timescale,
            codec=_video_codec(entry.type, children),
            sample_entry=entry.type,
            width=tk_width or se_width or None,
            height=tk_height or se_height or None,
        )
    if entry.type in _AUDIO_ENTRIES or handler == AUDIO:
        ar = Reader(entry.payload, entry.type)
        ar.skip(6 + 2 + 8)  # reserved, data_reference_index, reserved
        channels = ar.u16()
        ar.skip(2 + 4)  # samplesize, pre_defined + reserved
        sample_rate = ar.u32() >> 16
        children = _children_after(entry, _AUDIO_ENTRY_HEADER)
        return TrackInfo(
            track_id=track_id,
            handler=handler,
            timescale=timescale,
            codec=_audio_codec(entry.type, children),
            sample_entry=entry.type,
            sample_rate=sample_rate or None,
            channels=channels or None,
        )
    return TrackInfo(
        track_id=track_id, handler=handler, timescale=timescale, sample_entry=entry.type
    )


def _children_after(entry: Box, header: int) -> dict[str, Box]:
    if len(entry.payload) < header:
        raise Fmp4Error(f"sample entry {entry.type!r} is truncated")
    out: dict[str, Box] = {}
    for box in iter_boxes(entry.payload[header:]):
        out.setdefault(box.type, box)
    return out


def _video_codec(kind: str, children: dict[str, Box]) -> str:
    if kind in ("avc1", "avc3") and "avcC" in children:
        r = Reader(children["avcC"].payload, "avcC")
        r.u8()  # configurationVersion
        profile, compat, level = r.u8(), r.u8(), r.u8()
        return f"{kind}.{profile:02x}{compat:02x}{level:02x}"
    if kind in ("hvc1", "hev1") and "hvcC" in children:
        return f"{kind}.{_hevc_suffix(children['hvcC'].payload)}"
    return kind


def _hevc_suffix(payload: bytes) -> str:
    """ISO/IEC 14496-15 Annex E codec parameters from an HEVCDecoderConfigurationRecord."""
    r = Reader(payload, "hvcC")
    r.u8()  # configurationVersion
    b = r.u8()
    space = ("", "A", "B", "C")[b >> 6]
    tier = "H" if b & 0x20 else "L"
    profile_idc = b & 0x1F
    compat = r.u32()
    constraints = r.bytes(6)
    level = r.u8()
    reversed_compat = int(f"{compat:032b}"[::-1], 2)
    parts = [f"{space}{profile_idc}", f"{reversed_compat:x}", f"{tier}{level}"]
    trimmed = constraints.rstrip(b"\x00")
    parts += [f"{c:02X}" for c in trimmed]
    return ".".join(parts)


def _audio_codec(kind: str, children: dict[str, Box]) -> str:
    if kind in _SIMPLE_AUDIO_CODECS:
        return _SIMPLE_AUDIO_CODECS[kind]
    if kind == "mp4a":
        esds = children.get("esds")
        if esds is not None:
            parsed = _esds_codec(esds.payload)
            if parsed is not None:
                return parsed
        return "mp4a.40.2"
    return kind


def _descriptor(r: Reader) -> tuple[int, int]:
    """Read an MPEG-4 descriptor tag and its expandable size."""
    tag = r.u8()
    size = 0
    for _ in range(4):
        b = r.u8()
        size = (size << 7) | (b & 0x7F)
        if not b & 0x80:
            break
    return tag, size


def _esds_codec(payload: bytes) -> str | None:
    r = Reader(payload, "esds")
    r.full_header()
    tag, _ = _descriptor(r)
    if tag != 0x03:
        return None
    r.skip(2)  # ES_ID
    flags = r.u8()
    if flags & 0x80:
        r.skip(2)  # dependsOn_ES_ID
    if flags & 0x40:
        r.skip(r.u8())  # URL
    if flags & 0x20:
        r.skip(2)  # OCR_ES_Id
    tag, _ = _descriptor(r)
    if tag != 0x04:
        return None
    oti = r.u8()
    r.skip(1 + 3 + 4 + 4)  # streamType/upStream, bufferSizeDB, maxBitrate, avgBitrate
    if oti != 0x40:
        return f"mp4a.{oti:02x}"
    if r.remaining < 2:
        return "mp4a.40.2"
    tag, size = _descriptor(r)
    if tag != 0x05 or size < 1:
        return "mp4a.40.2"
    first = r.u8()
    aot = first >> 3
    if aot == 31:
        if size < 2:
            return "mp4a.40.2"
        aot = 32 + (((first & 0x07) << 3) | (r.u8() >> 5))
    if aot == 0:
        return "mp4a.40.2"
    return f"mp4a.40.{aot}"
