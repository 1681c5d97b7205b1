"""Chunk stream: header types, basic header sizes, extended timestamps, control, fuzz."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamhub.protocols.rtmp.chunk import (
    ChunkReader,
    ChunkWriter,
    Message,
    encode_basic_header,
)
from streamhub.protocols.rtmp.errors import ProtocolError


def fmt_of(first_byte: int) -> int:
    return first_byte >> 6


@pytest.mark.parametrize(
    ("csid", "wire"),
    [
        (2, b"\x02"),
        (63, b"\x3f"),
        (64, b"\x00\x00"),
        (319, b"\x00\xff"),
        (320, b"\x01\x00\x01"),
        (65599, b"\x01\xff\xff"),
    ],
)
def test_basic_header_sizes(csid: int, wire: bytes) -> None:
    assert encode_basic_header(0, csid) == wire
    reader = ChunkReader()
    (msg,) = reader.receive_data(wire + bytes(3) + b"\x00\x00\x01\x09" + bytes(4) + b"Z")
    assert (msg.csid, msg.payload) == (csid, b"Z")


@pytest.mark.parametrize("csid", [0, 1, 65600])
def test_basic_header_range(csid: int) -> None:
    with pytest.raises(ValueError):
        encode_basic_header(0, csid)


def test_hand_built_type0_message_split_in_chunks() -> None:
    payload = bytes(range(200))
    wire = (
        b"\x03"  # fmt 0, csid 3
        + (1000).to_bytes(3, "big")
        + (200).to_bytes(3, "big")
        + b"\x14"
        + struct.pack("<I", 1)
        + payload[:128]
        + b"\xc3"  # fmt 3 continuation
        + payload[128:]
    )
    (msg,) = ChunkReader().receive_data(wire)
    assert msg == Message(3, 20, 1, 1000, payload)


def test_every_header_type_and_deltas() -> None:
    writer = ChunkWriter()
    msgs = [
        Message(6, 9, 1, 1000, b"a" * 10),  # fmt 0: first on csid
        Message(6, 9, 1, 1040, b"b" * 20),  # fmt 1: new length
        Message(6, 9, 1, 1070, b"c" * 20),  # fmt 2: new delta
        Message(6, 9, 1, 1100, b"d" * 20),  # fmt 3: same delta, length, type
        Message(6, 9, 1, 500, b"e" * 20),  # fmt 0: timestamp went backwards
        Message(6, 8, 1, 600, b"f" * 20),  # fmt 1: new type
        Message(6, 8, 2, 600, b"g" * 20),  # fmt 0: new stream id
    ]
    expected_fmt = [0, 1, 2, 3, 0, 1, 0]
    reader = ChunkReader()
    for msg, fmt in zip(msgs, expected_fmt, strict=True):
        wire = writer.write(msg)
        assert fmt_of(wire[0]) == fmt
        assert reader.receive_data(wire) == [msg]


def test_type3_after_type0_uses_type0_timestamp_as_delta() -> None:
    # Per the spec a type 3 chunk after type 0 repeats the type-0 timestamp as delta.
    first = b"\x04" + (40).to_bytes(3, "big") + b"\x00\x00\x01\x08" + struct.pack("<I", 1) + b"A"
    reader = ChunkReader()
    assert reader.receive_data(first)[0].timestamp == 40
    assert reader.receive_data(b"\xc4B")[0].timestamp == 80
    assert reader.receive_data(b"\xc4C")[0].timestamp == 120


def test_extended_timestamp_on_type3_continuations() -> None:
    payload = bytes(300)
    ts = 0x01234567
    ext = struct.pack(">I", ts)
    wire = (
        b"\x06\xff\xff\xff"
        + (300).to_bytes(3, "big")
        + b"\x09"
        + struct.pack("<I", 1)
        + ext
        + payload[:128]
        + b"\xc6"
        + ext
        + payload[128:256]
        + b"\xc6"
        + ext
        + payload[256:]
    )
    assert ChunkWriter().write(Message(6, 9, 1, ts, payload)) == wire
    reader = ChunkReader()
    for i in range(0, len(wire), 7):  # arbitrary split points
        msgs = reader.receive_data(wire[i : i + 7])
    assert msgs == [Message(6, 9, 1, ts, payload)]


def test_extended_delta_on_type3_new_message() -> None:
    writer = ChunkWriter()
    reader = ChunkReader()
    msgs = [
        Message(5, 9, 1, 0, b"x"),
        Message(5, 9, 1, 0x2000000, b"y"),  # fmt 2 with extended delta
        Message(5, 9, 1, 0x4000000, b"z"),  # fmt 3 carrying the extended delta again
    ]
    wires = [writer.write(m) for m in msgs]
    assert [fmt_of(w[0]) for w in wires] == [0, 2, 3]
    assert wires[2] == b"\xc5" + struct.pack(">I", 0x2000000) + b"z"
    assert reader.receive_data(b"".join(wires)) == msgs


def test_timestamp_deltas_wrap_at_32_bits() -> None:
    writer = ChunkWriter()
    reader = ChunkReader()
    wire = writer.write(Message(4, 8, 1, 0xFFFFFFF0, b"a"))
    wire += b"\x84" + (0x20).to_bytes(3, "big") + b"b"  # fmt 2, delta 0x20
    msgs = reader.receive_data(wire)
    assert [m.timestamp for m in msgs] == [0xFFFFFFF0, 0x10]


def test_interleaved_chunk_streams() -> None:
    video = bytes(range(200))
    audio = bytes(range(150, 0, -1))
    v0 = b"\x06" + bytes(3) + (200).to_bytes(3, "big") + b"\x09" + struct.pack("<I", 1)
    a0 = b"\x04" + bytes(3) + (150).to_bytes(3, "big") + b"\x08" + struct.pack("<I", 1)
    wire = v0 + video[:128] + a0 + audio[:128] + b"\xc6" + video[128:] + b"\xc4" + audio[128:]
    msgs = ChunkReader().receive_data(wire)
    assert [(m.csid, m.payload) for m in msgs] == [(6, video), (4, audio)]


def test_set_chunk_size_applies_to_following_chunks() -> None:
    writer = ChunkWriter()
    reader = ChunkReader()
    wire = writer.set_chunk_size(4096) + writer.write(Message(3, 20, 0, 0, bytes(3000)))
    assert wire.count(b"\xc3") == 0  # one chunk
    msgs = reader.receive_data(wire)
    assert reader.chunk_size == 4096
    assert [m.type_id for m in msgs] == [1, 20]
    assert len(msgs[1].payload) == 3000


@pytest.mark.parametrize("size", [0, 0x80000000, 0xFFFFFFFF])
def test_set_chunk_size_rejects_invalid(size: int) -> None:
    wire = b"\x02" + bytes(3) + b"\x00\x00\x04\x01" + bytes(4) + struct.pack(">I", size)
    with pytest.raises(ProtocolError, match=r"(Set Chunk Size|chunk size)"):
        ChunkReader().receive_data(wire)


def test_set_chunk_size_max_is_accepted() -> None:
    wire = b"\x02" + bytes(3) + b"\x00\x00\x04\x01" + bytes(4) + struct.pack(">I", 0x7FFFFFFF)
    reader = ChunkReader()
    reader.receive_data(wire)
    assert reader.chunk_size == 0x7FFFFFFF


def test_abort_drops_partial_message() -> None:
    partial = b"\x06" + bytes(3) + (300).to_bytes(3, "big") + b"\x09" + bytes(4) + bytes(128)
    abort = b"\x02" + bytes(3) + b"\x00\x00\x04\x02" + bytes(4) + struct.pack(">I", 6)
    fresh = b"\x06" + bytes(3) + b"\x00\x00\x02\x09" + bytes(4) + b"ok"
    msgs = ChunkReader().receive_data(partial + abort + fresh)
    assert [(m.type_id, m.payload) for m in msgs] == [(2, struct.pack(">I", 6)), (9, b"ok")]


def test_acknowledgement_window() -> None:
    reader = ChunkReader()
    assert reader.pending_acknowledgement() is None
    window = b"\x02" + bytes(3) + b"\x00\x00\x04\x05" + bytes(4) + struct.pack(">I", 1000)
    reader.receive_data(window)
    assert reader.ack_window == 1000
    filler = ChunkWriter(chunk_size=4096).write(Message(3, 20, 0, 0, bytes(600)))
    reader.receive_data(filler)
    assert reader.pending_acknowledgement() is None
    reader.receive_data(b"\xc3" + bytes(600))  # 601 more bytes: window reached
    ack = reader.pending_acknowledgement()
    assert ack == reader.bytes_received
    assert reader.pending_acknowledgement() is None


@pytest.mark.parametrize("first", [0x43, 0x83, 0xC3])
def test_compressed_header_without_prior_type0(first: int) -> None:
    with pytest.raises(ProtocolError, match="no prior type 0 header"):
        ChunkReader().receive_data(bytes([first]) + bytes(20))


def test_new_header_while_message_incomplete() -> None:
    partial = b"\x03" + bytes(3) + (300).to_bytes(3, "big") + b"\x14" + bytes(4) + bytes(128)
    with pytest.raises(ProtocolError, match="still incomplete"):
        ChunkReader().receive_data(partial + b"\x43" + bytes(10))


def test_message_length_limit() -> None:
    header = b"\x03" + bytes(3) + (0xFFFFFF).to_bytes(3, "big") + b"\x14" + bytes(4)
    with pytest.raises(ProtocolError, match="exceeds"):
        ChunkReader().receive_data(header + bytes(10))
    with pytest.raises(ProtocolError, match="exceeds the 100-byte limit"):
        ChunkReader(max_message_size=100).receive_data(
            b"\x03" + bytes(3) + (101).to_bytes(3, "big") + b"\x14" + bytes(4)
        )


def test_zero_length_message() -> None:
    msg = Message(3, 20, 0, 7, b"")
    assert ChunkReader().receive_data(ChunkWriter().write(msg)) == [msg]


csids = st.sampled_from([2, 3, 4, 63, 64, 65, 319, 320, 321, 65599])
messages = st.lists(
    st.builds(
        Message,
        csids,
        st.sampled_from([8, 9, 18, 20]),
        st.sampled_from([0, 1, 2, 0xFFFFFFFF]),
        st.integers(0, 0xFFFFFFFF) | st.integers(0, 0x1000) | st.integers(0xFFFF00, 0x1000100),
        st.binary(max_size=700),
    ),
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(messages, st.integers(1, 400), st.lists(st.integers(1, 300), max_size=20))
def test_round_trip_random(msgs: list[Message], chunk_size: int, splits: list[int]) -> None:
    writer = ChunkWriter()
    wire = writer.set_chunk_size(chunk_size) + b"".join(writer.write(m) for m in msgs)
    reader = ChunkReader()
    got: list[Message] = []
    pos = 0
    for size in splits:
        got += reader.receive_data(wire[pos : pos + size])
        pos += size
    got += reader.receive_data(wire[pos:])
    assert got[1:] == msgs


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.integers(1, 64))
def test_fuzz_only_protocol_errors(data: bytes, step: int) -> None:
    reader = ChunkReader(max_message_size=1 << 16)
    try:
        for i in range(0, len(data), step):
            reader.receive_data(data[i : i + step])
    except ProtocolError:
        pass
