"""AMF0: byte fixtures, round trips, truncation, unknown markers, nesting limits, fuzz."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamhub.protocols.rtmp import amf0
from streamhub.protocols.rtmp.amf0 import Date, EcmaArray, Undefined
from streamhub.protocols.rtmp.errors import ProtocolError


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (1.0, b"\x00" + struct.pack(">d", 1.0)),
        (True, b"\x01\x01"),
        (False, b"\x01\x00"),
        ("connect", b"\x02\x00\x07connect"),
        ({"app": "live"}, b"\x03\x00\x03app\x02\x00\x04live\x00\x00\x09"),
        (None, b"\x05"),
        (Undefined(), b"\x06"),
        (EcmaArray(width=2.0), b"\x08\x00\x00\x00\x01\x00\x05width\x00" + struct.pack(">d", 2)),
        ([1.0, None], b"\x0a\x00\x00\x00\x02\x00" + struct.pack(">d", 1.0) + b"\x05"),
        (Date(1.5, 0), b"\x0b" + struct.pack(">d", 1.5) + b"\x00\x00"),
        ("é", b"\x02\x00\x02\xc3\xa9"),
    ],
)
def test_fixtures(value: amf0.Value, wire: bytes) -> None:
    if isinstance(value, EcmaArray):
        wire += b"\x00\x00\x09"
    assert amf0.encode(value) == wire
    decoded, end = amf0.decode_value(wire)
    assert end == len(wire)
    assert amf0.values_equal(decoded, value)


def test_long_string() -> None:
    text = "x" * 70000
    wire = amf0.encode(text)
    assert wire[0] == amf0.LONG_STRING
    assert amf0.decode(wire) == [text]


def test_decode_several_and_ints_become_numbers() -> None:
    assert amf0.decode(amf0.encode("_result", 1, None)) == ["_result", 1.0, None]


def test_ecma_array_count_is_advisory() -> None:
    wire = b"\x08\x00\x00\x00\x00\x00\x01a\x05\x00\x00\x09"
    assert amf0.decode(wire) == [EcmaArray(a=None)]


keys = st.text(max_size=8)
scalars = (
    st.floats()
    | st.booleans()
    | st.text(max_size=20)
    | st.none()
    | st.just(Undefined())
    | st.builds(Date, st.floats(), st.integers(-32768, 32767))
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(keys, inner, max_size=4)
        | st.dictionaries(keys, inner, max_size=4).map(EcmaArray)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(values, max_size=4))
def test_round_trip(items: list[amf0.Value]) -> None:
    decoded = amf0.decode(amf0.encode(*items))
    assert len(decoded) == len(items)
    assert all(amf0.values_equal(a, b) for a, b in zip(decoded, items, strict=True))


@settings(max_examples=100, deadline=None)
@given(values)
def test_every_truncation_is_a_protocol_error(value: amf0.Value) -> None:
    wire = amf0.encode(value)
    for cut in range(len(wire)):
        with pytest.raises(ProtocolError):
            amf0.decode_value(wire[:cut])


@pytest.mark.parametrize("marker", [0x04, 0x07, 0x09, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x12, 0xFF])
def test_unsupported_markers(marker: int) -> None:
    with pytest.raises(ProtocolError, match=f"0x{marker:02x}"):
        amf0.decode(bytes([marker]) + bytes(16))


def test_nesting_bomb_is_refused() -> None:
    bomb = b"\x0a\x00\x00\x00\x01" * 10_000 + b"\x05"
    with pytest.raises(ProtocolError, match="nested deeper"):
        amf0.decode(bomb)
    nested_objects = b"\x03\x00\x01a" * 100 + b"\x05"
    with pytest.raises(ProtocolError, match="nested deeper"):
        amf0.decode(nested_objects)


def test_huge_strict_array_count() -> None:
    with pytest.raises(ProtocolError, match="strict array claims"):
        amf0.decode(b"\x0a\xff\xff\xff\xff\x05")


def test_invalid_utf8() -> None:
    with pytest.raises(ProtocolError, match="UTF-8"):
        amf0.decode(b"\x02\x00\x02\xff\xfe")


def test_object_missing_end() -> None:
    with pytest.raises(ProtocolError):
        amf0.decode(b"\x03\x00\x01a\x05")


def test_encode_rejects_unknown_types() -> None:
    with pytest.raises(TypeError):
        amf0.encode(object())  # type: ignore[arg-type]


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_only_protocol_errors(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        amf0.decode(data)
