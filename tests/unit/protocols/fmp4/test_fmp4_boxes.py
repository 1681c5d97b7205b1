"""Box framing and the BoxSplitter."""

from __future__ import annotations

import struct

import pytest

from streamhub.protocols.fmp4 import Box, BoxSplitter, Fmp4Error


def test_box_round_trip_32_and_64_bit() -> None:
    small = Box("free", b"abc")
    assert bytes(small) == struct.pack(">I", 11) + b"free" + b"abc"
    assert Box.parse(bytes(small)) == small
    large = Box("mdat", b"xyz", large=True)
    raw = bytes(large)
    assert raw == struct.pack(">I", 1) + b"mdat" + struct.pack(">Q", 19) + b"xyz"
    assert Box.parse(raw) == large


def test_splitter_yields_complete_boxes_across_any_split() -> None:
    stream = bytes(Box("ftyp", b"isom")) + bytes(Box("mdat", b"\x00" * 50, large=True))
    for cut in range(len(stream) + 1):
        s = BoxSplitter()
        got = s.feed(stream[:cut]) + s.feed(stream[cut:])
        assert [b.type for b in got] == ["ftyp", "mdat"]
        assert got[1].payload == b"\x00" * 50
        assert s.buffered == 0


def test_splitter_byte_by_byte() -> None:
    stream = bytes(Box("moof", b"1234")) * 3
    s = BoxSplitter()
    got = [b for byte in stream for b in s.feed(bytes([byte]))]
    assert len(got) == 3


def test_size_zero_is_rejected() -> None:
    with pytest.raises(Fmp4Error, match="size 0"):
        BoxSplitter().feed(struct.pack(">I", 0) + b"mdat")


def test_size_smaller_than_header_is_rejected() -> None:
    with pytest.raises(Fmp4Error, match="smaller than"):
        BoxSplitter().feed(struct.pack(">I", 7) + b"free")
    with pytest.raises(Fmp4Error, match="smaller than"):
        BoxSplitter().feed(struct.pack(">I", 1) + b"mdat" + struct.pack(">Q", 12))


def test_max_box_size_enforced_from_the_header_alone() -> None:
    s = BoxSplitter(max_box_size=1024)
    with pytest.raises(Fmp4Error, match="exceeds"):
        s.feed(struct.pack(">I", 2048) + b"mdat")
    with pytest.raises(Fmp4Error, match="already failed"):
        s.feed(b"")


def test_parse_rejects_truncation_and_trailing_bytes() -> None:
    raw = bytes(Box("free", b"abcd"))
    with pytest.raises(Fmp4Error):
        Box.parse(raw[:-1])
    with pytest.raises(Fmp4Error):
        Box.parse(raw + b"\x00")


def test_children_and_child() -> None:
    parent = Box("moov", bytes(Box("mvhd", b"")) + bytes(Box("trak", b"x")))
    assert [c.type for c in parent.children()] == ["mvhd", "trak"]
    assert parent.child("trak") == Box("trak", b"x")
    assert parent.child("mvex") is None
