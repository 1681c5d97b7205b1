"""FLV file header and tags: serialize, parse, stream-read, and codec helpers."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from streamhub.protocols.rtmp.errors import ProtocolError

TAG_AUDIO = 8
TAG_VIDEO = 9
TAG_SCRIPT = 18

TAG_HEADER_SIZE = 11
FILE_HEADER_SIZE = 9

VIDEO_CODEC_AVC = 7
VIDEO_FRAME_KEY = 1
AUDIO_FORMAT_AAC = 10
AUDIO_FORMAT_EX_HEADER = 9


class FlvError(ProtocolError):
    """Malformed FLV data."""


@dataclass(frozen=True)
class FlvHeader:
    """The 9-byte FLV file header; bytes() includes the PreviousTagSize0 that follows it."""

    has_audio: bool
    has_video: bool

    @classmethod
    def parse(cls, data: bytes) -> FlvHeader:
        if len(data) < FILE_HEADER_SIZE + 4:
            raise FlvError(f"FLV header needs {FILE_HEADER_SIZE + 4} bytes, got {len(data)}")
        if data[:3] != b"FLV":
            raise FlvError(f"FLV signature is {bytes(data[:3])!r}, expected b'FLV'")
        if data[3] != 1:
            raise FlvError(f"FLV version {data[3]} is not 1")
        (offset,) = struct.unpack(">I", data[5:9])
        if offset != FILE_HEADER_SIZE:
            raise FlvError(f"FLV data offset {offset} is not {FILE_HEADER_SIZE}")
        return cls(bool(data[4] & 0x04), bool(data[4] & 0x01))

    def __bytes__(self) -> bytes:
        flags = (0x04 if self.has_audio else 0) | (0x01 if self.has_video else 0)
        return b"FLV\x01" + bytes([flags]) + struct.pack(">II", FILE_HEADER_SIZE, 0)


def flv_header(has_audio: bool, has_video: bool) -> bytes:
    """FLV file header plus PreviousTagSize0 (13 bytes)."""
    return bytes(FlvHeader(has_audio, has_video))


@dataclass(frozen=True)
class FlvTag:
    """One FLV tag; bytes() gives the 11-byte header, the payload and its PreviousTagSize."""

    tag_type: int
    timestamp_ms: int
    payload: bytes

    def __bytes__(self) -> bytes:
        if not 0 <= self.timestamp_ms <= 0xFFFFFFFF:
            raise ValueError(f"FLV timestamp {self.timestamp_ms} outside 0..2^32-1")
        size = len(self.payload)
        if size > 0xFFFFFF:
            raise ValueError(f"FLV tag payload of {size} bytes exceeds 24 bits")
        ts = self.timestamp_ms
        header = (
            bytes([self.tag_type & 0x1F])
            + size.to_bytes(3, "big")
            + (ts & 0xFFFFFF).to_bytes(3, "big")
            + bytes([(ts >> 24) & 0xFF])
            + b"\x00\x00\x00"
        )
        return header + self.payload + struct.pack(">I", TAG_HEADER_SIZE + size)

    @classmethod
    def parse(cls, data: bytes) -> FlvTag:
        """Parse exactly one tag followed by its PreviousTagSize."""
        tag, used = cls.parse_prefix(data)
        if tag is None:
            raise FlvError(f"FLV tag truncated: {len(data)} bytes")
        if used != len(data):
            raise FlvError(f"{len(data) - used} trailing bytes after FLV tag")
        return tag

    @classmethod
    def parse_prefix(cls, data: bytes | bytearray, offset: int = 0) -> tuple[FlvTag | None, int]:
        """Parse a tag at offset; return (tag, end offset) or (None, offset) if incomplete."""
        if len(data) - offset < TAG_HEADER_SIZE:
            return None, offset
        first = data[offset]
        if first & 0x20:
            raise FlvError("FLV tag has the filter (encryption) bit set")
        tag_type = first & 0x1F
        if tag_type not in (TAG_AUDIO, TAG_VIDEO, TAG_SCRIPT):
            raise FlvError(f"FLV tag type {tag_type} is not audio, video or script data")
        size = int.from_bytes(data[offset + 1 : offset + 4], "big")
        ts = int.from_bytes(data[offset + 4 : offset + 7], "big") | (data[offset + 7] << 24)
        end = offset + TAG_HEADER_SIZE + size + 4
        if len(data) < end:
            return None, offset
        (previous,) = struct.unpack(">I", data[end - 4 : end])
        if previous != TAG_HEADER_SIZE + size:
            raise FlvError(f"PreviousTagSize {previous} does not match tag size {11 + size}")
        payload = bytes(data[offset + TAG_HEADER_SIZE : end - 4])
        return cls(tag_type, ts, payload), end


class FlvReader:
    """Incremental FLV parser: feed bytes, get complete tags; header is read first."""

    def __init__(self) -> None:
        self.header: FlvHeader | None = None
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[FlvTag]:
        self._buffer += data
        tags: list[FlvTag] = []
        pos = 0
        if self.header is None:
            if len(self._buffer) < FILE_HEADER_SIZE + 4:
                return tags
            self.header = FlvHeader.parse(bytes(self._buffer[: FILE_HEADER_SIZE + 4]))
            pos = FILE_HEADER_SIZE + 4
        while True:
            tag, pos2 = FlvTag.parse_prefix(self._buffer, pos)
            if tag is None:
                break
            tags.append(tag)
            pos = pos2
        del self._buffer[:pos]
        return tags


def _is_ex_header(payload: bytes) -> bool:
    return bool(payload) and bool(payload[0] & 0x80)


def video_codec_id(payload: bytes) -> int | None:
    """Legacy FLV CodecID (7 = AVC); None for empty or Enhanced RTMP (ex-header) payloads."""
    if not payload or _is_ex_header(payload):
        return None
    return payload[0] & 0x0F


def video_fourcc(payload: bytes) -> bytes | None:
    """The Enhanced RTMP FourCC (b'hvc1', b'av01', ...) of an ex-header video tag, else None."""
    if len(payload) < 5 or not _is_ex_header(payload):
        return None
    return bytes(payload[1:5])


def is_video_keyframe(payload: bytes) -> bool:
    """Frame type 1 (keyframe), legacy or Enhanced RTMP; sequence headers count too."""
    return bool(payload) and (payload[0] >> 4) & 0x07 == VIDEO_FRAME_KEY


def is_avc_sequence_header(payload: bytes) -> bool:
    """AVC keyframe with AVCPacketType 0 (the AVCDecoderConfigurationRecord)."""
    return (
        len(payload) >= 2
        and video_codec_id(payload) == VIDEO_CODEC_AVC
        and is_video_keyframe(payload)
        and payload[1] == 0
    )


def is_video_sequence_header(payload: bytes) -> bool:
    """AVC sequence header, or an Enhanced RTMP SequenceStart (PacketType 0) of any codec."""
    if _is_ex_header(payload):
        return payload[0] & 0x0F == 0
    return is_avc_sequence_header(payload)


def audio_format(payload: bytes) -> int | None:
    """SoundFormat (10 = AAC, 9 = Enhanced RTMP ex-header); None for an empty payload."""
    return payload[0] >> 4 if payload else None


def is_aac_sequence_header(payload: bytes) -> bool:
    """AAC with AACPacketType 0 (the AudioSpecificConfig)."""
    return len(payload) >= 2 and audio_format(payload) == AUDIO_FORMAT_AAC and payload[1] == 0
