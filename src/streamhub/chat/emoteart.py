"""Images for the built-in global emotes: small PNGs drawn in code (pure, no imaging library)."""

from __future__ import annotations

import struct
import zlib


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(width: int, height: int, rgba: bytes) -> bytes:
    """An 8-bit RGBA PNG from raw pixel rows."""
    if len(rgba) != width * height * 4:
        raise ValueError("pixel data does not match the size")
    rows = b"".join(b"\0" + rgba[y * width * 4:(y + 1) * width * 4] for y in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
            + _chunk(b"IDAT", zlib.compress(rows, 9)) + _chunk(b"IEND", b""))


def badge_png(seed: str, size: int = 56) -> bytes:
    """A round face in a color derived from `seed`, with two eyes: recognisably an emote."""
    h = zlib.crc32(seed.encode())
    r, g, b = 80 + (h & 0x7F), 80 + ((h >> 8) & 0x7F), 80 + ((h >> 16) & 0x7F)
    c = (size - 1) / 2
    out = bytearray()
    for y in range(size):
        for x in range(size):
            d2 = (x - c) ** 2 + (y - c) ** 2
            eye = any((x - ex) ** 2 + (y - size * 0.38) ** 2 < (size * 0.07) ** 2
                      for ex in (size * 0.33, size * 0.67))
            mouth = abs(d2 ** 0.5 - size * 0.25) < size * 0.04 and y > c + size * 0.05
            if d2 > (size / 2 - 1) ** 2:
                out += b"\0\0\0\0"
            elif eye or mouth:
                out += b"\x20\x20\x20\xff"
            else:
                out += bytes((r, g, b, 255))
    return encode_png(size, size, bytes(out))
