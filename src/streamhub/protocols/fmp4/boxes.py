"""ISO BMFF box framing: the Box struct, a sans-I/O top-level box splitter and a byte reader."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

DEFAULT_MAX_BOX_SIZE = 64 * 1024 * 1024

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


class Fmp4Error(ValueError):
    """Malformed, truncated, oversized or out-of-order fragmented MP4 input."""


@dataclass(frozen=True, slots=True)
class Box:
    """One ISO BMFF box: four-character type and payload (everything after the header)."""

    type: str
    payload: bytes
    large: bool = False  # header used the 64-bit largesize form

    @property
    def size(self) -> int:
        return len(self.payload) + (16 if self.large else 8)

    def __bytes__(self) -> bytes:
        kind = _fourcc_bytes(self.type)
        size = len(self.payload) + 8
        if self.large or size > 0xFFFFFFFF:
            return _U32.pack(1) + kind + _U64.pack(len(self.payload) + 16) + self.payload
        return _U32.pack(size) + kind + self.payload

    @classmethod
    def parse(cls, data: bytes) -> Box:
        """Parse exactly one box spanning all of ``data``."""
        boxes = list(iter_boxes(data))
        if len(boxes) != 1:
            raise Fmp4Error(f"expected exactly one box, found {len(boxes)}")
        return boxes[0]

    def children(self) -> list[Box]:
        """Parse the payload as a sequence of child boxes (for container boxes)."""
        return list(iter_boxes(self.payload))

    def child(self, kind: str) -> Box | None:
        """First child box of type ``kind``, or None."""
        for box in iter_boxes(self.payload):
            if box.type == kind:
                return box
        return None


def _fourcc_bytes(kind: str) -> bytes:
    raw = kind.encode("latin-1")
    if len(raw) != 4:
        raise Fmp4Error(f"box type must be four characters, got {kind!r}")
    return raw


def _read_header(buf: bytes | bytearray, pos: int) -> tuple[int, int, str]:
    """Return (box size, header length, type) at ``pos``; sizes are validated by the caller.

    Raises Fmp4Error on size 0 and sizes smaller than the header. Requires the header bytes.
    """
    size = _U32.unpack_from(buf, pos)[0]
    kind = bytes(buf[pos + 4 : pos + 8]).decode("latin-1")
    header = 8
    if size == 1:
        size = _U64.unpack_from(buf, pos + 8)[0]
        header = 16
    elif size == 0:
        raise Fmp4Error(f"box {kind!r} has size 0 (extends to end of file), not valid here")
    if size < header:
        raise Fmp4Error(f"box {kind!r} has size {size}, smaller than its {header}-byte header")
    return size, header, kind


def iter_boxes(data: bytes) -> Iterator[Box]:
    """Iterate the boxes that exactly tile ``data``; raise Fmp4Error on truncation."""
    pos = 0
    end = len(data)
    while pos < end:
        if end - pos < 8:
            raise Fmp4Error(f"truncated box header: {end - pos} trailing bytes")
        if _U32.unpack_from(data, pos)[0] == 1 and end - pos < 16:
            raise Fmp4Error("truncated 64-bit box header")
        size, header, kind = _read_header(data, pos)
        if size > end - pos:
            raise Fmp4Error(f"box {kind!r} of size {size} overruns its parent ({end - pos} left)")
        yield Box(kind, bytes(data[pos + header : pos + size]), large=header == 16)
        pos += size


class BoxSplitter:
    """Sans-I/O splitter: feed arbitrary chunks, get complete top-level boxes back."""

    def __init__(self, max_box_size: int = DEFAULT_MAX_BOX_SIZE) -> None:
        self._buf = bytearray()
        self._max = max_box_size
        self._failed: Fmp4Error | None = None

    @property
    def buffered(self) -> int:
        """Bytes held waiting for the rest of a box."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Box]:
        if self._failed is not None:
            raise Fmp4Error(f"splitter already failed: {self._failed}")
        self._buf += data
        out: list[Box] = []
        try:
            pos = 0
            buf = self._buf
            while True:
                avail = len(buf) - pos
                if avail < 8:
                    break
                if _U32.unpack_from(buf, pos)[0] == 1 and avail < 16:
                    break
                size, header, kind = _read_header(buf, pos)
                if size > self._max:
                    raise Fmp4Error(
                        f"box {kind!r} of size {size} exceeds the {self._max}-byte limit"
                    )
                if avail < size:
                    break
                with memoryview(buf) as view:
                    payload = bytes(view[pos + header : pos + size])
                out.append(Box(kind, payload, large=header == 16))
                pos += size
            if pos:
                del buf[:pos]
        except Fmp4Error as exc:
            self._failed = exc
            raise
        return out


class Reader:
    """Bounds-checked big-endian reader over a box payload; raises Fmp4Error on overrun."""

    __slots__ = ("_data", "_what", "pos")

    def __init__(self, data: bytes, what: str, pos: int = 0) -> None:
        self._data = data
        self._what = what
        self.pos = pos

    @property
    def remaining(self) -> int:
        return len(self._data) - self.pos

    def _take(self, n: int) -> int:
        start = self.pos
        if n < 0 or start + n > len(self._data):
            raise Fmp4Error(f"{self._what}: truncated (need {n} bytes at offset {start})")
        self.pos = start + n
        return start

    def skip(self, n: int) -> None:
        self._take(n)

    def bytes(self, n: int) -> bytes:
        start = self._take(n)
        return self._data[start : start + n]

    def u8(self) -> int:
        return self._data[self._take(1)]

    def u16(self) -> int:
        return int.from_bytes(self._data[self._take(2) : self.pos], "big")

    def u24(self) -> int:
        return int.from_bytes(self._data[self._take(3) : self.pos], "big")

    def u32(self) -> int:
        return int.from_bytes(self._data[self._take(4) : self.pos], "big")

    def u64(self) -> int:
        return int.from_bytes(self._data[self._take(8) : self.pos], "big")

    def full_header(self) -> tuple[int, int]:
        """Read a FullBox (version, flags) header."""
        return self.u8(), self.u24()
