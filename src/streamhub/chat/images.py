"""Uploaded image checks: format and size read from the file header (PNG, GIF, WebP; pure)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAX_BYTES = 1 << 20
MAX_SIDE = 1024
CONTENT_TYPES = {"png": "image/png", "gif": "image/gif", "webp": "image/webp"}


class ImageError(ValueError):
    """Not an accepted image; the message says why."""


@dataclass(frozen=True, slots=True)
class ImageInfo:
    format: str
    width: int
    height: int

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]


def probe_image(data: bytes, *, max_bytes: int = MAX_BYTES, max_side: int = MAX_SIDE) -> ImageInfo:
    """Identify a PNG, GIF or WebP image and its size; anything else is an ImageError."""
    if len(data) > max_bytes:
        raise ImageError(f"image is {len(data)} bytes; the limit is {max_bytes}")
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        info = _png(data)
    elif data[:6] in (b"GIF87a", b"GIF89a"):
        info = _gif(data)
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        info = _webp(data)
    else:
        raise ImageError("not a PNG, GIF or WebP image")
    if not (1 <= info.width <= max_side and 1 <= info.height <= max_side):
        raise ImageError(f"image is {info.width}x{info.height}; each side must be 1..{max_side}")
    return info


def _png(data: bytes) -> ImageInfo:
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise ImageError("PNG without an IHDR chunk")
    width, height = struct.unpack(">II", data[16:24])
    return ImageInfo("png", width, height)


def _gif(data: bytes) -> ImageInfo:
    if len(data) < 13:
        raise ImageError("GIF is truncated")
    width, height = struct.unpack("<HH", data[6:10])
    return ImageInfo("gif", width, height)


def _webp(data: bytes) -> ImageInfo:
    if len(data) < 30:
        raise ImageError("WebP is truncated")
    chunk = data[12:16]
    if chunk == b"VP8 ":
        if data[23:26] != b"\x9d\x01\x2a":
            raise ImageError("WebP (lossy) has no frame start code")
        width, height = struct.unpack("<HH", data[26:30])
        return ImageInfo("webp", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L":
        if data[20] != 0x2F:
            raise ImageError("WebP (lossless) has a bad signature")
        bits = int.from_bytes(data[21:25], "little")
        return ImageInfo("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return ImageInfo("webp", width, height)
    raise ImageError("WebP with an unknown first chunk")
