"""RTMP message types and the typed bodies of control, user-control, command and data messages."""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field

from streamhub.protocols.rtmp import amf0
from streamhub.protocols.rtmp.errors import ProtocolError


class MessageType(enum.IntEnum):
    SET_CHUNK_SIZE = 1
    ABORT = 2
    ACKNOWLEDGEMENT = 3
    USER_CONTROL = 4
    WINDOW_ACK_SIZE = 5
    SET_PEER_BANDWIDTH = 6
    AUDIO = 8
    VIDEO = 9
    DATA_AMF3 = 15
    SHARED_OBJECT_AMF3 = 16
    COMMAND_AMF3 = 17
    DATA_AMF0 = 18
    SHARED_OBJECT_AMF0 = 19
    COMMAND_AMF0 = 20
    AGGREGATE = 22


class UserControlEvent(enum.IntEnum):
    STREAM_BEGIN = 0
    STREAM_EOF = 1
    STREAM_DRY = 2
    SET_BUFFER_LENGTH = 3
    STREAM_IS_RECORDED = 4
    PING_REQUEST = 6
    PING_RESPONSE = 7


class PeerBandwidthLimit(enum.IntEnum):
    HARD = 0
    SOFT = 1
    DYNAMIC = 2


def _u32(payload: bytes, what: str) -> int:
    if len(payload) < 4:
        raise ProtocolError(f"{what} message has {len(payload)} bytes, expected 4")
    return int(struct.unpack(">I", payload[:4])[0])


@dataclass(frozen=True)
class SetChunkSize:
    size: int

    @classmethod
    def parse(cls, payload: bytes) -> SetChunkSize:
        size = _u32(payload, "Set Chunk Size")
        if size & 0x80000000 or size == 0:
            raise ProtocolError(f"Set Chunk Size {size} outside 1..{0x7FFFFFFF}")
        return cls(size)

    def __bytes__(self) -> bytes:
        return struct.pack(">I", self.size)


@dataclass(frozen=True)
class Abort:
    csid: int

    @classmethod
    def parse(cls, payload: bytes) -> Abort:
        return cls(_u32(payload, "Abort"))

    def __bytes__(self) -> bytes:
        return struct.pack(">I", self.csid)


@dataclass(frozen=True)
class Acknowledgement:
    sequence_number: int

    @classmethod
    def parse(cls, payload: bytes) -> Acknowledgement:
        return cls(_u32(payload, "Acknowledgement"))

    def __bytes__(self) -> bytes:
        return struct.pack(">I", self.sequence_number & 0xFFFFFFFF)


@dataclass(frozen=True)
class WindowAckSize:
    size: int

    @classmethod
    def parse(cls, payload: bytes) -> WindowAckSize:
        return cls(_u32(payload, "Window Acknowledgement Size"))

    def __bytes__(self) -> bytes:
        return struct.pack(">I", self.size)


@dataclass(frozen=True)
class SetPeerBandwidth:
    size: int
    limit_type: int = PeerBandwidthLimit.DYNAMIC

    @classmethod
    def parse(cls, payload: bytes) -> SetPeerBandwidth:
        if len(payload) < 5:
            raise ProtocolError(f"Set Peer Bandwidth message has {len(payload)} bytes, expected 5")
        return cls(_u32(payload, "Set Peer Bandwidth"), payload[4])

    def __bytes__(self) -> bytes:
        return struct.pack(">IB", self.size, self.limit_type)


@dataclass(frozen=True)
class UserControl:
    """A user control event: value is a stream id or (for pings) a timestamp."""

    event: int
    value: int
    buffer_length: int | None = None  # only for SetBufferLength

    @classmethod
    def parse(cls, payload: bytes) -> UserControl:
        if len(payload) < 6:
            raise ProtocolError(f"User Control message has {len(payload)} bytes, need at least 6")
        event, value = struct.unpack(">HI", payload[:6])
        if event == UserControlEvent.SET_BUFFER_LENGTH:
            if len(payload) < 10:
                raise ProtocolError(
                    f"User Control SetBufferLength has {len(payload)} bytes, expected 10"
                )
            return cls(event, value, int(struct.unpack(">I", payload[6:10])[0]))
        return cls(event, value)

    def __bytes__(self) -> bytes:
        out = struct.pack(">HI", self.event, self.value)
        if self.buffer_length is not None:
            out += struct.pack(">I", self.buffer_length)
        return out


def _amf0_body(payload: bytes, amf3: bool) -> bytes:
    # AMF3-typed messages (15, 17) carry a format selector byte 0x00 before AMF0 values.
    if amf3 and payload[:1] == b"\x00":
        return payload[1:]
    return payload


@dataclass(frozen=True)
class Command:
    """An AMF0 command: name, transaction id, command object, then optional arguments."""

    name: str
    transaction_id: float
    command_object: amf0.Value = None
    arguments: tuple[amf0.Value, ...] = field(default=())

    @classmethod
    def parse(cls, payload: bytes, *, amf3: bool = False) -> Command:
        values = amf0.decode(_amf0_body(payload, amf3))
        if len(values) < 2:
            raise ProtocolError(f"command message has {len(values)} AMF0 values, need at least 2")
        name, tid = values[0], values[1]
        if not isinstance(name, str):
            raise ProtocolError(f"command name is {type(name).__name__}, expected a string")
        if isinstance(tid, bool) or not isinstance(tid, float):
            raise ProtocolError(f"command {name!r} transaction id is not a number")
        obj = values[2] if len(values) > 2 else None
        return cls(name, tid, obj, tuple(values[3:]))

    def __bytes__(self) -> bytes:
        return amf0.encode(self.name, self.transaction_id, self.command_object, *self.arguments)


@dataclass(frozen=True)
class DataMessage:
    """An AMF0 data message (e.g. @setDataFrame / onMetaData); body keeps the raw AMF0 bytes."""

    values: tuple[amf0.Value, ...]
    body: bytes

    @classmethod
    def parse(cls, payload: bytes, *, amf3: bool = False) -> DataMessage:
        body = _amf0_body(payload, amf3)
        return cls(tuple(amf0.decode(body)), body)

    @classmethod
    def build(cls, *values: amf0.Value) -> DataMessage:
        body = amf0.encode(*values)
        return cls(tuple(values), body)

    def __bytes__(self) -> bytes:
        return self.body
