"""AMF0 value encoding and decoding (the subset RTMP commands and FLV metadata use)."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import TypeAlias

from streamhub.protocols.rtmp.errors import ProtocolError

NUMBER = 0x00
BOOLEAN = 0x01
STRING = 0x02
OBJECT = 0x03
NULL = 0x05
UNDEFINED = 0x06
REFERENCE = 0x07
ECMA_ARRAY = 0x08
OBJECT_END = 0x09
STRICT_ARRAY = 0x0A
DATE = 0x0B
LONG_STRING = 0x0C
AVMPLUS = 0x11

DEFAULT_MAX_DEPTH = 32

_MARKER_NAMES = {
    0x04: "MovieClip",
    REFERENCE: "Reference",
    OBJECT_END: "Object End (outside an object)",
    0x0D: "Unsupported",
    0x0E: "RecordSet",
    0x0F: "XML Document",
    0x10: "Typed Object",
    AVMPLUS: "AVM+ (AMF3)",
}


@dataclass(frozen=True)
class Undefined:
    """The AMF0 undefined value (distinct from null, which decodes to None)."""


@dataclass(frozen=True)
class Date:
    """An AMF0 date: milliseconds since the Unix epoch plus a (reserved) timezone offset."""

    milliseconds: float
    timezone: int = 0


class EcmaArray(dict[str, "Value"]):
    """An AMF0 ECMA (associative) array; a dict that re-encodes with the 0x08 marker."""


Value: TypeAlias = (
    "float | bool | str | Undefined | Date | EcmaArray | dict[str, Value] | list[Value] | None"
)


def encode(*values: Value) -> bytes:
    """Encode values back to back, as in a command or data message body."""
    out = bytearray()
    for value in values:
        _encode_into(out, value, 0)
    return bytes(out)


def _encode_key(out: bytearray, key: str) -> None:
    raw = key.encode("utf-8")
    if len(raw) > 0xFFFF:
        raise ValueError(f"AMF0 object key of {len(raw)} bytes exceeds 65535")
    out += struct.pack(">H", len(raw))
    out += raw


def _encode_into(out: bytearray, value: Value, depth: int) -> None:
    if depth > DEFAULT_MAX_DEPTH:
        raise ValueError(f"AMF0 value nested deeper than {DEFAULT_MAX_DEPTH}")
    if value is None:
        out.append(NULL)
    elif isinstance(value, bool):
        out.append(BOOLEAN)
        out.append(1 if value else 0)
    elif isinstance(value, int | float):
        out.append(NUMBER)
        out += struct.pack(">d", float(value))
    elif isinstance(value, str):
        raw = value.encode("utf-8")
        if len(raw) <= 0xFFFF:
            out.append(STRING)
            out += struct.pack(">H", len(raw))
        else:
            out.append(LONG_STRING)
            out += struct.pack(">I", len(raw))
        out += raw
    elif isinstance(value, Undefined):
        out.append(UNDEFINED)
    elif isinstance(value, Date):
        out.append(DATE)
        out += struct.pack(">dh", value.milliseconds, value.timezone)
    elif isinstance(value, EcmaArray):
        out.append(ECMA_ARRAY)
        out += struct.pack(">I", len(value))
        for key, item in value.items():
            _encode_key(out, key)
            _encode_into(out, item, depth + 1)
        out += b"\x00\x00\x09"
    elif isinstance(value, dict):
        out.append(OBJECT)
        for key, item in value.items():
            _encode_key(out, key)
            _encode_into(out, item, depth + 1)
        out += b"\x00\x00\x09"
    elif isinstance(value, list):
        out.append(STRICT_ARRAY)
        out += struct.pack(">I", len(value))
        for item in value:
            _encode_into(out, item, depth + 1)
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as AMF0")


class _Reader:
    __slots__ = ("data", "max_depth", "pos")

    def __init__(self, data: bytes, pos: int, max_depth: int) -> None:
        self.data = data
        self.pos = pos
        self.max_depth = max_depth

    def take(self, n: int, what: str) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise ProtocolError(
                f"AMF0 {what} truncated at offset {self.pos}: need {n} bytes, "
                f"have {len(self.data) - self.pos}"
            )
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def utf8(self, n: int, what: str) -> str:
        raw = self.take(n, what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"AMF0 {what} is not valid UTF-8: {exc.reason}") from None

    def key(self) -> str:
        (length,) = struct.unpack(">H", self.take(2, "object key length"))
        return self.utf8(length, "object key")

    def properties(self, target: dict[str, Value], depth: int, what: str) -> None:
        while True:
            key = self.key()
            if key == "" and self.pos < len(self.data) and self.data[self.pos] == OBJECT_END:
                self.pos += 1
                return
            if self.pos >= len(self.data):
                raise ProtocolError(f"AMF0 {what} truncated: missing object end marker")
            target[key] = self.value(depth + 1)

    def value(self, depth: int) -> Value:
        if depth > self.max_depth:
            raise ProtocolError(f"AMF0 value nested deeper than {self.max_depth} levels")
        marker = self.take(1, "type marker")[0]
        if marker == NUMBER:
            return float(struct.unpack(">d", self.take(8, "number"))[0])
        if marker == BOOLEAN:
            return self.take(1, "boolean")[0] != 0
        if marker == STRING:
            (length,) = struct.unpack(">H", self.take(2, "string length"))
            return self.utf8(length, "string")
        if marker == LONG_STRING:
            (length,) = struct.unpack(">I", self.take(4, "long string length"))
            return self.utf8(length, "long string")
        if marker == NULL:
            return None
        if marker == UNDEFINED:
            return Undefined()
        if marker == OBJECT:
            obj: dict[str, Value] = {}
            self.properties(obj, depth, "object")
            return obj
        if marker == ECMA_ARRAY:
            self.take(4, "ECMA array count")  # advisory only; encoders disagree on it
            arr = EcmaArray()
            self.properties(arr, depth, "ECMA array")
            return arr
        if marker == STRICT_ARRAY:
            (count,) = struct.unpack(">I", self.take(4, "strict array count"))
            if count > len(self.data) - self.pos:
                raise ProtocolError(
                    f"AMF0 strict array claims {count} items but only "
                    f"{len(self.data) - self.pos} bytes remain"
                )
            return [self.value(depth + 1) for _ in range(count)]
        if marker == DATE:
            millis, tz = struct.unpack(">dh", self.take(10, "date"))
            return Date(float(millis), int(tz))
        name = _MARKER_NAMES.get(marker, "unknown")
        raise ProtocolError(f"AMF0 type marker 0x{marker:02x} ({name}) is not supported")


def decode_value(
    data: bytes, offset: int = 0, *, max_depth: int = DEFAULT_MAX_DEPTH
) -> tuple[Value, int]:
    """Decode one value starting at offset; return it and the offset just past it."""
    reader = _Reader(data, offset, max_depth)
    value = reader.value(0)
    return value, reader.pos


def decode(data: bytes, *, max_depth: int = DEFAULT_MAX_DEPTH) -> list[Value]:
    """Decode every value in data (a whole command or data message body)."""
    reader = _Reader(data, 0, max_depth)
    values: list[Value] = []
    while reader.pos < len(data):
        values.append(reader.value(0))
    return values


def values_equal(a: Value, b: Value) -> bool:
    """Structural equality that treats NaN as equal to NaN (for round-trip checks)."""
    if isinstance(a, float) and isinstance(b, float) and not isinstance(a, bool):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return (
            type(a) is type(b) and list(a) == list(b) and all(values_equal(a[k], b[k]) for k in a)
        )
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Date) and isinstance(b, Date):
        return a.timezone == b.timezone and values_equal(a.milliseconds, b.milliseconds)
    return type(a) is type(b) and a == b
