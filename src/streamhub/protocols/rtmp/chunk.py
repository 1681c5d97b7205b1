"""RTMP chunk stream: splits messages into chunks and reassembles them (sans-I/O)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from streamhub.protocols.rtmp.errors import ProtocolError

DEFAULT_CHUNK_SIZE = 128
MAX_CHUNK_SIZE = 0x7FFFFFFF
MAX_CSID = 65599
EXTENDED_TIMESTAMP = 0xFFFFFF
DEFAULT_MAX_MESSAGE_SIZE = 8 * 1024 * 1024

# Protocol control message types the chunk layer itself must act on.
TYPE_SET_CHUNK_SIZE = 1
TYPE_ABORT = 2
TYPE_ACKNOWLEDGEMENT = 3
TYPE_WINDOW_ACK_SIZE = 5

_MESSAGE_HEADER_SIZE = (11, 7, 3, 0)


@dataclass(frozen=True)
class Message:
    """One reassembled RTMP message; timestamp is the 32-bit absolute message timestamp."""

    csid: int
    type_id: int
    stream_id: int
    timestamp: int
    payload: bytes


def encode_basic_header(fmt: int, csid: int) -> bytes:
    """The 1-, 2- or 3-byte basic header for a chunk stream id (2..65599)."""
    if not 2 <= csid <= MAX_CSID:
        raise ValueError(f"chunk stream id {csid} outside 2..{MAX_CSID}")
    if csid < 64:
        return bytes([(fmt << 6) | csid])
    if csid < 320:
        return bytes([fmt << 6, csid - 64])
    rest = csid - 64
    return bytes([(fmt << 6) | 1, rest & 0xFF, rest >> 8])


def _check_chunk_size(size: int) -> None:
    if not 1 <= size <= MAX_CHUNK_SIZE:
        raise ProtocolError(f"chunk size {size} outside 1..{MAX_CHUNK_SIZE}")


@dataclass
class _InState:
    timestamp: int = 0
    delta: int = 0  # the last timestamp field (absolute after fmt 0, per the spec)
    length: int = 0
    type_id: int = 0
    stream_id: int = 0
    extended: bool = False
    partial: bytearray | None = None


class ChunkReader:
    """Reassembles messages from incoming chunks and tracks the acknowledgement window.

    Set Chunk Size and Abort are applied as soon as they are decoded, so later chunks in
    the same buffer are read with the new settings; they are still returned to the caller.
    """

    def __init__(self, *, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        self.chunk_size = DEFAULT_CHUNK_SIZE
        self.max_message_size = max_message_size
        self.bytes_received = 0
        self.ack_window: int | None = None
        self._last_ack = 0
        self._buffer = bytearray()
        self._streams: dict[int, _InState] = {}
        self._pending_bytes = 0

    def receive_data(self, data: bytes) -> list[Message]:
        """Consume bytes and return every message completed by them."""
        self.bytes_received += len(data)
        self._buffer += data
        messages: list[Message] = []
        pos = 0
        try:
            while True:
                used = self._read_chunk(pos, messages)
                if used == 0:
                    break
                pos += used
        finally:
            del self._buffer[:pos]
        return messages

    def pending_acknowledgement(self) -> int | None:
        """The sequence number to acknowledge if a full window arrived since the last ack."""
        if self.ack_window is None or self.bytes_received - self._last_ack < self.ack_window:
            return None
        self._last_ack = self.bytes_received
        return self.bytes_received & 0xFFFFFFFF

    def _read_chunk(self, pos: int, messages: list[Message]) -> int:
        """Parse one chunk at pos; return bytes used, or 0 if more data is needed."""
        buf = self._buffer
        avail = len(buf) - pos
        if avail < 1:
            return 0
        first = buf[pos]
        fmt = first >> 6
        csid = first & 0x3F
        hlen = 1
        if csid == 0:
            if avail < 2:
                return 0
            csid = 64 + buf[pos + 1]
            hlen = 2
        elif csid == 1:
            if avail < 3:
                return 0
            csid = 64 + buf[pos + 1] + (buf[pos + 2] << 8)
            hlen = 3
        mlen = _MESSAGE_HEADER_SIZE[fmt]
        if avail < hlen + mlen:
            return 0
        h = pos + hlen
        state = self._streams.get(csid)
        if state is None:
            if fmt != 0:
                raise ProtocolError(
                    f"chunk stream {csid}: type {fmt} chunk header with no prior type 0 header"
                )
            state = _InState()
        in_progress = state.partial is not None
        if in_progress and fmt != 3:
            raise ProtocolError(
                f"chunk stream {csid}: type {fmt} header while a message is still incomplete"
            )
        field_value = state.delta
        length, type_id, stream_id = state.length, state.type_id, state.stream_id
        if fmt <= 2:
            field_value = int.from_bytes(buf[h : h + 3], "big")
        if fmt <= 1:
            length = int.from_bytes(buf[h + 3 : h + 6], "big")
            type_id = buf[h + 6]
        if fmt == 0:
            stream_id = int.from_bytes(buf[h + 7 : h + 11], "little")
        extended = field_value >= EXTENDED_TIMESTAMP if fmt <= 2 else state.extended
        ext_len = 4 if extended else 0
        header_len = hlen + mlen + ext_len
        if avail < header_len:
            return 0
        if extended:
            ext_value = int.from_bytes(buf[pos + hlen + mlen : pos + header_len], "big")
            if fmt <= 2 or not in_progress:
                field_value = ext_value
        if not in_progress:
            if length > self.max_message_size:
                raise ProtocolError(
                    f"chunk stream {csid}: message length {length} exceeds the "
                    f"{self.max_message_size}-byte limit"
                )
            partial_len = 0
        else:
            assert state.partial is not None
            partial_len = len(state.partial)
        take = min(self.chunk_size, length - partial_len)
        if avail < header_len + take:
            if not in_progress and self._pending_bytes + length > 2 * self.max_message_size:
                raise ProtocolError("too many bytes buffered in incomplete messages")
            return 0
        # The whole chunk is here: commit header state.
        if not in_progress:
            state.timestamp = (
                field_value if fmt == 0 else (state.timestamp + field_value) & 0xFFFFFFFF
            )
            state.delta = field_value
            state.length, state.type_id, state.stream_id = length, type_id, stream_id
            state.extended = extended
            state.partial = bytearray()
            self._streams[csid] = state
            self._pending_bytes += length
        assert state.partial is not None
        start = pos + header_len
        state.partial += buf[start : start + take]
        if len(state.partial) >= state.length:
            payload = bytes(state.partial)
            state.partial = None
            self._pending_bytes -= state.length
            message = Message(csid, state.type_id, state.stream_id, state.timestamp, payload)
            self._apply_control(message)
            messages.append(message)
        return header_len + take

    def _apply_control(self, message: Message) -> None:
        if message.type_id == TYPE_SET_CHUNK_SIZE:
            size = _read_u32(message, "Set Chunk Size")
            if size & 0x80000000:
                raise ProtocolError(f"Set Chunk Size 0x{size:08x} has the reserved high bit set")
            _check_chunk_size(size)
            self.chunk_size = size
        elif message.type_id == TYPE_ABORT:
            csid = _read_u32(message, "Abort Message")
            state = self._streams.get(csid)
            if state is not None and state.partial is not None:
                self._pending_bytes -= state.length
                state.partial = None
        elif message.type_id == TYPE_WINDOW_ACK_SIZE:
            size = _read_u32(message, "Window Acknowledgement Size")
            if size == 0:
                raise ProtocolError("Window Acknowledgement Size of 0")
            self.ack_window = size
            self._last_ack = self.bytes_received


def _read_u32(message: Message, what: str) -> int:
    if len(message.payload) < 4:
        raise ProtocolError(f"{what} message has {len(message.payload)} bytes, expected 4")
    return int(struct.unpack(">I", message.payload[:4])[0])


@dataclass
class _OutState:
    timestamp: int = 0
    delta: int = 0
    length: int = -1
    type_id: int = -1
    stream_id: int = -1


@dataclass
class ChunkWriter:
    """Splits messages into chunks, compressing headers against the previous message."""

    chunk_size: int = DEFAULT_CHUNK_SIZE
    _streams: dict[int, _OutState] = field(default_factory=dict)

    def set_chunk_size(self, size: int) -> bytes:
        """Encode a Set Chunk Size message (csid 2) and use the new size from then on."""
        _check_chunk_size(size)
        data = self.write(Message(2, TYPE_SET_CHUNK_SIZE, 0, 0, struct.pack(">I", size)))
        self.chunk_size = size
        return data

    def write(self, message: Message) -> bytes:
        """Encode one message as chunks (fmt 0-3 chosen per the previous one on its csid)."""
        if not 0 <= message.timestamp <= 0xFFFFFFFF:
            raise ValueError(f"timestamp {message.timestamp} outside 32 bits")
        if len(message.payload) > 0xFFFFFF:
            raise ValueError(f"message of {len(message.payload)} bytes exceeds 24-bit length")
        prev = self._streams.get(message.csid)
        length = len(message.payload)
        delta = (message.timestamp - prev.timestamp) & 0xFFFFFFFF if prev else 0
        if (
            prev is None
            or prev.stream_id != message.stream_id
            or message.timestamp < (prev.timestamp)
        ):
            fmt, field_value = 0, message.timestamp
        elif prev.length != length or prev.type_id != message.type_id:
            fmt, field_value = 1, delta
        elif prev.delta != delta:
            fmt, field_value = 2, delta
        else:
            fmt, field_value = 3, delta
        extended = field_value >= EXTENDED_TIMESTAMP
        ext = struct.pack(">I", field_value) if extended else b""
        out = bytearray(encode_basic_header(fmt, message.csid))
        ts_field = (EXTENDED_TIMESTAMP if extended else field_value).to_bytes(3, "big")
        if fmt <= 2:
            out += ts_field
        if fmt <= 1:
            out += length.to_bytes(3, "big")
            out.append(message.type_id)
        if fmt == 0:
            out += struct.pack("<I", message.stream_id)
        out += ext
        continuation = encode_basic_header(3, message.csid) + ext
        payload = message.payload
        size = self.chunk_size
        out += payload[:size]
        for offset in range(size, length, size):
            out += continuation
            out += payload[offset : offset + size]
        self._streams[message.csid] = _OutState(
            message.timestamp, field_value, length, message.type_id, message.stream_id
        )
        return bytes(out)
