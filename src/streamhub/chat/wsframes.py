"""Server-to-client WebSocket frames (RFC 6455 §5), built once and written to many sockets."""

from __future__ import annotations

import struct

__all__ = [
    "CLOSE_GOING_AWAY",
    "CLOSE_INTERNAL_ERROR",
    "CLOSE_INVALID_PAYLOAD",
    "CLOSE_MESSAGE_TOO_BIG",
    "CLOSE_NORMAL",
    "CLOSE_POLICY_VIOLATION",
    "CLOSE_PROTOCOL_ERROR",
    "CLOSE_UNSUPPORTED_DATA",
    "MAX_CONTROL_PAYLOAD",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "close_frame",
    "frame",
    "frame_header",
    "ping_frame",
    "pong_frame",
    "text_frame",
]

OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_INVALID_PAYLOAD = 1007
CLOSE_POLICY_VIOLATION = 1008
CLOSE_MESSAGE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011

MAX_CONTROL_PAYLOAD = 125
"""Control frames (close, ping, pong) carry at most 125 payload bytes (§5.5)."""

_FIN = 0x80
_SHORT = struct.Struct("!BB")
_MEDIUM = struct.Struct("!BBH")
_LONG = struct.Struct("!BBQ")


def frame_header(opcode: int, length: int, *, fin: bool = True) -> bytes:
    """The 2-, 4- or 10-byte header of an unmasked frame carrying `length` payload bytes."""
    if not 0 <= opcode <= 0xF:
        raise ValueError(f"opcode {opcode:#x} is not a 4-bit value")
    if length < 0:
        raise ValueError(f"negative payload length {length}")
    first = (_FIN if fin else 0) | opcode
    if length < 126:
        return _SHORT.pack(first, length)
    if length <= 0xFFFF:
        return _MEDIUM.pack(first, 126, length)
    if length <= 0x7FFF_FFFF_FFFF_FFFF:
        return _LONG.pack(first, 127, length)
    raise ValueError(f"payload length {length} exceeds 2**63 - 1")


def frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """One complete unmasked frame (servers never mask, §5.1)."""
    if opcode >= OP_CLOSE and (len(payload) > MAX_CONTROL_PAYLOAD or not fin):
        raise ValueError(
            f"control frame {opcode:#x} must be final and carry at most "
            f"{MAX_CONTROL_PAYLOAD} bytes, got {len(payload)}"
        )
    return frame_header(opcode, len(payload), fin=fin) + payload


def text_frame(payload: bytes) -> bytes:
    """A final text frame; `payload` must already be UTF-8 (e.g. CRLF-terminated IRC lines)."""
    return frame_header(OP_TEXT, len(payload)) + payload


def close_frame(code: int | None = CLOSE_NORMAL, reason: str = "") -> bytes:
    """A close frame; the reason is cut at a character boundary to fit in 123 bytes.

    `code=None` sends an empty close payload (no status), which then allows no reason.
    """
    if code is None:
        if reason:
            raise ValueError("a close reason needs a status code")
        return frame(OP_CLOSE, b"")
    if not (1000 <= code <= 4999) or code in (1004, 1005, 1006, 1015):
        raise ValueError(f"close code {code} may not be sent on the wire")
    encoded = reason.encode("utf-8")
    limit = MAX_CONTROL_PAYLOAD - 2
    if len(encoded) > limit:
        encoded = encoded[:limit].decode("utf-8", "ignore").encode("utf-8")
    return frame(OP_CLOSE, struct.pack("!H", code) + encoded)


def ping_frame(payload: bytes = b"") -> bytes:
    return frame(OP_PING, payload)


def pong_frame(payload: bytes = b"") -> bytes:
    """The answer to a ping; it must echo the ping's payload (§5.5.3)."""
    return frame(OP_PONG, payload)
