"""FLV header/tag layout, round trips, streaming reader, codec helpers and fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamhub.protocols.flv import (
    TAG_AUDIO,
    TAG_SCRIPT,
    TAG_VIDEO,
    FlvError,
    FlvHeader,
    FlvReader,
    FlvTag,
    audio_format,
    flv_header,
    is_aac_sequence_header,
    is_avc_sequence_header,
    is_video_keyframe,
    is_video_sequence_header,
    video_codec_id,
    video_fourcc,
)


def test_header_bytes() -> None:
    assert flv_header(True, True) == b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00"
    assert flv_header(False, True)[4] == 0x01
    assert flv_header(True, False)[4] == 0x04
    for audio in (False, True):
        for video in (False, True):
            assert FlvHeader.parse(flv_header(audio, video)) == FlvHeader(audio, video)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"FLV\x01\x05", "needs 13 bytes"),
        (b"FLX\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00", "signature"),
        (b"FLV\x02\x05\x00\x00\x00\x09\x00\x00\x00\x00", "version"),
        (b"FLV\x01\x05\x00\x00\x00\x08\x00\x00\x00\x00", "data offset"),
    ],
)
def test_header_errors(data: bytes, match: str) -> None:
    with pytest.raises(FlvError, match=match):
        FlvHeader.parse(data)


def test_tag_layout_with_extended_timestamp() -> None:
    tag = FlvTag(TAG_VIDEO, 0x12345678, b"\x17\x01abc")
    wire = bytes(tag)
    assert wire[:11] == b"\x09\x00\x00\x05\x34\x56\x78\x12\x00\x00\x00"
    assert wire[11:16] == b"\x17\x01abc"
    assert wire[16:] == (16).to_bytes(4, "big")
    assert FlvTag.parse(wire) == tag


def test_tag_serialize_limits() -> None:
    with pytest.raises(ValueError):
        bytes(FlvTag(TAG_AUDIO, -1, b""))
    with pytest.raises(ValueError):
        bytes(FlvTag(TAG_AUDIO, 1 << 32, b""))


def test_tag_parse_errors() -> None:
    wire = bytes(FlvTag(TAG_AUDIO, 5, b"\xaf\x01x"))
    with pytest.raises(FlvError, match="truncated"):
        FlvTag.parse(wire[:-1])
    with pytest.raises(FlvError, match="trailing"):
        FlvTag.parse(wire + b"\x00")
    with pytest.raises(FlvError, match="PreviousTagSize"):
        FlvTag.parse(wire[:-1] + b"\x00")
    with pytest.raises(FlvError, match="filter"):
        FlvTag.parse(bytes([0x28]) + wire[1:])
    with pytest.raises(FlvError, match="tag type 7"):
        FlvTag.parse(bytes([7]) + wire[1:])


tags = st.builds(
    FlvTag,
    st.sampled_from([TAG_AUDIO, TAG_VIDEO, TAG_SCRIPT]),
    st.integers(0, 0xFFFFFFFF),
    st.binary(max_size=300),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(tags, max_size=8), st.lists(st.integers(1, 200), max_size=10))
def test_reader_round_trip_any_split(items: list[FlvTag], splits: list[int]) -> None:
    data = flv_header(True, True) + b"".join(bytes(t) for t in items)
    reader = FlvReader()
    got: list[FlvTag] = []
    pos = 0
    for size in splits:
        got += reader.feed(data[pos : pos + size])
        pos += size
    got += reader.feed(data[pos:])
    assert got == items
    assert reader.header == FlvHeader(True, True)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_reader_fuzz_only_flv_errors(data: bytes) -> None:
    try:
        FlvReader().feed(flv_header(True, True) + data)
        FlvReader().feed(data)
    except FlvError:
        pass


def test_codec_helpers_legacy() -> None:
    avc_seq = b"\x17\x00\x00\x00\x00\x01"
    avc_key = b"\x17\x01\x00\x00\x00"
    avc_inter = b"\x27\x01\x00\x00\x00"
    assert video_codec_id(avc_seq) == 7
    assert is_avc_sequence_header(avc_seq) and is_video_sequence_header(avc_seq)
    assert is_video_keyframe(avc_key) and not is_avc_sequence_header(avc_key)
    assert not is_video_keyframe(avc_inter)
    assert video_fourcc(avc_key) is None
    assert is_aac_sequence_header(b"\xaf\x00\x12\x10")
    assert not is_aac_sequence_header(b"\xaf\x01\x21")
    assert not is_aac_sequence_header(b"\x2f\x00")  # MP3
    assert audio_format(b"\xaf\x01") == 10


def test_codec_helpers_enhanced_rtmp_do_not_crash() -> None:
    hevc_seq = b"\x90hvc1\x01\x02"  # ex-header, keyframe, PacketType 0 (SequenceStart)
    hevc_frames = b"\xa1hvc1\x00\x00\x00"  # inter frame, CodedFrames
    assert video_codec_id(hevc_seq) is None
    assert video_fourcc(hevc_seq) == b"hvc1"
    assert is_video_keyframe(hevc_seq)
    assert is_video_sequence_header(hevc_seq)
    assert not is_avc_sequence_header(hevc_seq)
    assert not is_video_keyframe(hevc_frames)
    assert not is_video_sequence_header(hevc_frames)
    assert audio_format(b"\x90mp4a") == 9


@pytest.mark.parametrize("payload", [b"", b"\x17", b"\xaf", b"\x90hv"])
def test_helpers_on_short_payloads(payload: bytes) -> None:
    for helper in (
        is_video_keyframe,
        is_avc_sequence_header,
        is_aac_sequence_header,
        is_video_sequence_header,
    ):
        assert isinstance(helper(payload), bool)
    video_codec_id(payload)
    video_fourcc(payload)
    audio_format(payload)
