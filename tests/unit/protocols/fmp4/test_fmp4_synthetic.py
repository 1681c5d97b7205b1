"""Hand-built boxes for the paths ffmpeg's default output does not exercise."""

from __future__ import annotations

import struct

import pytest

from streamhub.protocols.fmp4 import (
    Box,
    Fmp4Error,
    FragmentAssembler,
    InitInfo,
    InitSegment,
    MediaFragment,
    TrackDefaults,
    TrackInfo,
    is_sync_sample,
    parse_fragment,
    parse_init,
)

SYNC = 0x02000000  # depends_on = 2
NON_SYNC = 0x01010000  # depends_on = 1, non-sync bit


def box(kind: str, payload: bytes = b"") -> bytes:
    return bytes(Box(kind, payload))


def full(kind: str, version: int, flags: int, payload: bytes) -> bytes:
    return box(kind, bytes([version]) + flags.to_bytes(3, "big") + payload)


def u32(*values: int) -> bytes:
    return b"".join(struct.pack(">I", v) for v in values)


def init_info(default_duration: int = 0, default_flags: int = 0) -> InitInfo:
    return InitInfo(
        (
            TrackInfo(
                1, "vide", 90000, defaults=TrackDefaults(1, default_duration, 0, default_flags)
            ),
            TrackInfo(2, "soun", 48000),
        )
    )


def moof(*trafs: bytes, seq: int = 7) -> bytes:
    return box("moof", full("mfhd", 0, 0, u32(seq)) + b"".join(trafs))


def traf(
    track: int,
    decode_time: int,
    trun: bytes,
    *,
    tfhd_flags: int = 0x020000,
    tfhd_fields: bytes = b"",
    tfdt_v1: bool = True,
) -> bytes:
    tfdt = (
        full("tfdt", 1, 0, struct.pack(">Q", decode_time))
        if tfdt_v1
        else full("tfdt", 0, 0, u32(decode_time))
    )
    return box("traf", full("tfhd", 0, tfhd_flags, u32(track) + tfhd_fields) + tfdt + trun)


def test_sample_flag_decoding() -> None:
    assert is_sync_sample(0)
    assert is_sync_sample(SYNC)
    assert is_sync_sample(SYNC | 0x00010000)  # depends_on=2 wins over a stray non-sync bit
    assert not is_sync_sample(NON_SYNC)
    assert not is_sync_sample(0x00010000)


def test_trex_defaults_when_tfhd_and_trun_are_silent() -> None:
    info = init_info(default_duration=3000, default_flags=NON_SYNC)
    trun = full("trun", 0, 0x000001 | 0x000004, u32(30, 0, SYNC))  # count, offset, first flags
    frag = parse_fragment(moof(traf(1, 90000, trun)), info)
    assert frag.sequence_number == 7
    assert frag.duration == pytest.approx(1.0)
    assert frag.start == pytest.approx(1.0)
    assert frag.independent
    # no first_sample_flags: trex default (non-sync) applies
    trun2 = full("trun", 0, 0, u32(30))
    assert not parse_fragment(moof(traf(1, 0, trun2)), info).independent


def test_tfhd_defaults_override_trex_and_tfdt_v0() -> None:
    info = init_info(default_duration=1, default_flags=NON_SYNC)
    trun = full("trun", 0, 0, u32(10))
    fields = u32(9000, 0)  # default duration, default flags
    frag = parse_fragment(
        moof(traf(1, 45000, trun, tfhd_flags=0x020028, tfhd_fields=fields, tfdt_v1=False)), info
    )
    assert frag.duration == pytest.approx(1.0)
    assert frag.start == pytest.approx(0.5)
    assert frag.independent


def test_per_sample_fields_and_multiple_truns() -> None:
    info = init_info()
    flags = 0x000100 | 0x000200 | 0x000400 | 0x000800
    run1 = full("trun", 1, flags, u32(2, 3000, 100, NON_SYNC, 0, 3000, 100, NON_SYNC, 0))
    run2 = full("trun", 0, 0x000100, u32(1, 3000))
    frag = parse_fragment(moof(traf(1, 0, run1 + run2)), info)
    v = frag.track(1)
    assert v is not None and v.sample_count == 3 and v.duration == 9000
    assert not frag.independent


def test_audio_only_moof_uses_audio_timeline() -> None:
    info = InitInfo((TrackInfo(2, "soun", 48000, defaults=TrackDefaults(1, 1024, 0, 0)),))
    frag = parse_fragment(moof(traf(2, 48000, full("trun", 0, 0, u32(47)))), info)
    assert frag.primary_track_id == 2
    assert frag.start == pytest.approx(1.0)
    assert frag.duration == pytest.approx(47 * 1024 / 48000)
    assert frag.independent


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (moof(traf(3, 0, full("trun", 0, 0x100, u32(1, 10)))), "does not declare"),
        (moof(traf(1, 0, full("trun", 0, 0, u32(5)))), "no sample durations"),
        (moof(traf(1, 0, full("trun", 0, 0x100, u32(1000, 1)))), "declares 1000 samples"),
        (moof(), "no traf"),
        (box("moof", full("mfhd", 0, 0, b"")), "truncated"),
        (box("moov"), "expected a moof"),
    ],
)
def test_bad_fragments(payload: bytes, message: str) -> None:
    with pytest.raises(Fmp4Error, match=message):
        parse_fragment(payload, init_info())


def test_missing_tfdt_is_an_error() -> None:
    t = box("traf", full("tfhd", 0, 0x020000, u32(1)) + full("trun", 0, 0x100, u32(1, 10)))
    with pytest.raises(Fmp4Error, match="tfdt"):
        parse_fragment(moof(t), init_info())


# ---------------------------------------------------------------- init segments


def sample_entry_audio(kind: str, children: bytes) -> bytes:
    fixed = (
        bytes(6) + struct.pack(">H", 1) + bytes(8) + struct.pack(">HHHHI", 2, 16, 0, 0, 44100 << 16)
    )
    return box(kind, fixed + children)


def sample_entry_video(kind: str, children: bytes, w: int = 1280, h: int = 720) -> bytes:
    fixed = (
        bytes(6)
        + struct.pack(">H", 1)
        + bytes(16)
        + struct.pack(">HH", w, h)
        + bytes(4 + 4 + 4 + 2 + 32 + 2 + 2)
    )
    return box(kind, fixed + children)


def trak(
    track_id: int, handler: str, timescale: int, entry: bytes, tk_w: int = 0, tk_h: int = 0
) -> bytes:
    tkhd = full(
        "tkhd",
        0,
        3,
        bytes(8) + u32(track_id) + bytes(4 + 4 + 8 + 8 + 36) + u32(tk_w << 16, tk_h << 16),
    )
    mdhd = full("mdhd", 0, 0, bytes(8) + u32(timescale, 0) + bytes(4))
    hdlr = full("hdlr", 0, 0, bytes(4) + handler.encode() + bytes(12) + b"\x00")
    stsd = full("stsd", 0, 0, u32(1) + entry)
    return box("trak", tkhd + box("mdia", mdhd + hdlr + box("minf", box("stbl", stsd))))


def esds(dsi: bytes, oti: int = 0x40) -> bytes:
    dec_specific = bytes([0x05, len(dsi)]) + dsi
    dec_config = bytes([0x04, 13 + len(dec_specific), oti, 0x15]) + bytes(11) + dec_specific
    es = bytes([0x03, 3 + len(dec_config)]) + b"\x00\x01\x00" + dec_config
    return full("esds", 0, 0, es)


def make_init(*traks: bytes, trex: bytes = b"") -> bytes:
    return box("ftyp", b"iso5" + u32(512)) + box("moov", b"".join(traks) + box("mvex", trex))


@pytest.mark.parametrize(
    ("dsi", "oti", "codec"),
    [
        (bytes([0x12, 0x10]), 0x40, "mp4a.40.2"),  # AAC-LC
        (bytes([0x2B, 0x92, 0x08]), 0x40, "mp4a.40.5"),  # HE-AAC (SBR)
        (bytes([0xF8, 0x00]), 0x40, "mp4a.40.32"),  # escape: 31 -> 32 + 6 bits
        (b"", 0x40, "mp4a.40.2"),  # no DecoderSpecificInfo -> fallback
        (bytes([0x12, 0x10]), 0x6B, "mp4a.6b"),  # MP3
    ],
)
def test_esds_codec_strings(dsi: bytes, oti: int, codec: str) -> None:
    data = make_init(trak(1, "soun", 44100, sample_entry_audio("mp4a", esds(dsi, oti))))
    info = parse_init(data)
    assert info.audio is not None and info.audio.codec == codec
    assert info.audio.channels == 2 and info.audio.sample_rate == 44100


def test_hevc_codec_string_and_sample_entry_dimensions() -> None:
    # Main 10, level 4.1 (123), progressive-source constraint flag byte 0xB0
    hvcc = box(
        "hvcC", bytes([1, 0x02]) + u32(0x20000000) + bytes([0xB0, 0, 0, 0, 0, 0]) + bytes([123])
    )
    data = make_init(trak(1, "vide", 90000, sample_entry_video("hvc1", hvcc)))
    info = parse_init(data)
    assert info.codecs == "hvc1.2.4.L123.B0"
    assert (info.width, info.height) == (1280, 720)  # tkhd is 0x0 here


def test_tkhd_dimensions_preferred_and_trex_read() -> None:
    avcc = box("avcC", bytes([1, 0x64, 0x00, 0x1F, 0xFF]))
    trex = full("trex", 0, 0, u32(1, 1, 512, 0, NON_SYNC))
    data = make_init(
        trak(1, "vide", 15360, sample_entry_video("avc1", avcc), tk_w=1024, tk_h=576), trex=trex
    )
    info = parse_init(data)
    assert info.codecs == "avc1.64001f"
    assert (info.width, info.height) == (1024, 576)
    assert info.tracks[0].defaults == TrackDefaults(1, 512, 0, NON_SYNC)


def test_init_errors() -> None:
    with pytest.raises(Fmp4Error, match="no moov"):
        parse_init(box("ftyp", b"iso5"))
    with pytest.raises(Fmp4Error, match="no tracks"):
        parse_init(box("moov", box("mvhd")))
    avcc = box("avcC", bytes([1, 0x64, 0x00, 0x1F]))
    dup = trak(1, "vide", 1000, sample_entry_video("avc1", avcc))
    with pytest.raises(Fmp4Error, match="duplicate"):
        parse_init(make_init(dup, dup))
    with pytest.raises(Fmp4Error, match="timescale"):
        parse_init(make_init(trak(1, "vide", 0, sample_entry_video("avc1", avcc))))


# ---------------------------------------------------------------- assembler ordering

AUDIO_INIT = make_init(
    trak(2, "soun", 48000, sample_entry_audio("mp4a", esds(bytes([0x11, 0x90])))),
    trex=full("trex", 0, 0, u32(2, 1, 1024, 0, 0)),
)
AUDIO_MOOF = moof(traf(2, 0, full("trun", 0, 0, u32(10))))


def test_assembler_orders_prefix_boxes_and_fragments() -> None:
    asm = FragmentAssembler()
    events = asm.feed(
        AUDIO_INIT + box("styp", b"msdh") + box("prft", bytes(20)) + AUDIO_MOOF + box("mdat", b"x")
    )
    assert isinstance(events[0], InitSegment)
    frag = events[1]
    assert isinstance(frag, MediaFragment)
    assert [b.type for b in frag.prefix] == ["styp", "prft"]
    assert frag.data == AUDIO_MOOF + box("mdat", b"x")
    assert asm.init is events[0]


@pytest.mark.parametrize(
    ("stream", "message"),
    [
        (box("mdat", b"x"), "mdat without"),
        (AUDIO_MOOF, "before the init"),
        (AUDIO_INIT + box("mdat", b"x"), "mdat without"),
        (AUDIO_INIT + AUDIO_MOOF + AUDIO_MOOF, "another moof"),
        (AUDIO_INIT + AUDIO_MOOF + box("styp"), "between moof and mdat"),
        (AUDIO_INIT + box("sidx") + box("moov"), "without a moof"),
        (AUDIO_INIT + box("wxyz"), "unexpected top-level"),
    ],
)
def test_assembler_rejects_bad_order(stream: bytes, message: str) -> None:
    asm = FragmentAssembler()
    with pytest.raises(Fmp4Error, match=message):
        asm.feed(stream)
    with pytest.raises(Fmp4Error, match="already failed"):
        asm.feed(b"")


def test_assembler_accepts_a_new_init_after_media_and_ignores_free() -> None:
    asm = FragmentAssembler()
    stream = (
        AUDIO_INIT
        + AUDIO_MOOF
        + box("mdat")
        + box("free", b"pad")
        + AUDIO_INIT
        + AUDIO_MOOF
        + box("mdat")
    )
    kinds = [type(e).__name__ for e in asm.feed(stream)]
    assert kinds == ["InitSegment", "MediaFragment", "InitSegment", "MediaFragment"]
