"""Server side of the simple RTMP handshake (C0+C1 -> S0+S1+S2, then C2)."""

from __future__ import annotations

import enum
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass

from streamhub.protocols.rtmp.errors import ProtocolError

RTMP_VERSION = 3
PACKET_SIZE = 1536


@dataclass(frozen=True)
class HandshakePacket:
    """C1/S1/C2/S2: 4-byte time, 4-byte second field (zero/version/time2), 1528 random bytes."""

    time: int
    field2: int
    random: bytes

    @classmethod
    def parse(cls, data: bytes) -> HandshakePacket:
        if len(data) != PACKET_SIZE:
            raise ProtocolError(f"handshake packet is {len(data)} bytes, expected {PACKET_SIZE}")
        time, field2 = struct.unpack(">II", data[:8])
        return cls(time, field2, bytes(data[8:]))

    def __bytes__(self) -> bytes:
        if len(self.random) != PACKET_SIZE - 8:
            raise ValueError(f"handshake random is {len(self.random)} bytes, expected 1528")
        return struct.pack(">II", self.time, self.field2) + self.random


class HandshakeState(enum.Enum):
    WAIT_C0C1 = "waiting for C0+C1"
    WAIT_C2 = "waiting for C2"
    DONE = "done"


class ServerHandshake:
    """Simple handshake: S1 has a zero version field so digest clients skip validation.

    Clients that send a Flash-style digest C1 (FFmpeg, librtmp, OBS) see a zero second field
    in S1 and fall back to the simple scheme; S2 echoes C1 byte for byte.
    """

    def __init__(
        self, *, random_bytes: Callable[[int], bytes] = os.urandom, server_time: int = 0
    ) -> None:
        self.state = HandshakeState.WAIT_C0C1
        self._random_bytes = random_bytes
        self._server_time = server_time
        self._buffer = bytearray()
        self._out = bytearray()
        self.c1: HandshakePacket | None = None
        self.s1: HandshakePacket | None = None

    @property
    def complete(self) -> bool:
        return self.state is HandshakeState.DONE

    def receive_data(self, data: bytes) -> bytes:
        """Consume handshake bytes; return whatever follows C2 (the first chunks)."""
        if self.state is HandshakeState.DONE:
            return data
        self._buffer += data
        if self.state is HandshakeState.WAIT_C0C1:
            if self._buffer and self._buffer[0] != RTMP_VERSION:
                raise ProtocolError(
                    f"RTMP handshake version byte is {self._buffer[0]}, expected {RTMP_VERSION}"
                )
            if len(self._buffer) < 1 + PACKET_SIZE:
                return b""
            self.c1 = HandshakePacket.parse(bytes(self._buffer[1 : 1 + PACKET_SIZE]))
            del self._buffer[: 1 + PACKET_SIZE]
            random = self._random_bytes(PACKET_SIZE - 8)
            self.s1 = HandshakePacket(self._server_time & 0xFFFFFFFF, 0, random)
            self._out.append(RTMP_VERSION)
            self._out += bytes(self.s1)
            self._out += bytes(self.c1)  # S2 echoes C1
            self.state = HandshakeState.WAIT_C2
        if len(self._buffer) < PACKET_SIZE:
            return b""
        # C2 should echo S1; clients differ (digest echoes), so it is not checked.
        rest = bytes(self._buffer[PACKET_SIZE:])
        self._buffer.clear()
        self.state = HandshakeState.DONE
        return rest

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out
