"""Server handshake: S0/S1/S2 layout, C2 handling, version check, split input."""

from __future__ import annotations

import pytest

from streamhub.protocols.rtmp.errors import ProtocolError
from streamhub.protocols.rtmp.handshake import HandshakePacket, ServerHandshake

C1 = bytes(range(256)) * 6


def fixed_random(n: int) -> bytes:
    return b"\xab" * n


def test_simple_handshake_layout() -> None:
    hs = ServerHandshake(random_bytes=fixed_random)
    assert hs.receive_data(b"\x03" + C1) == b""
    out = hs.data_to_send()
    assert len(out) == 1 + 1536 * 2
    assert out[0] == 3
    s1 = HandshakePacket.parse(out[1:1537])
    assert (s1.time, s1.field2, s1.random) == (0, 0, b"\xab" * 1528)
    assert out[1537:] == C1  # S2 echoes C1
    assert not hs.complete
    rest = hs.receive_data(out[1:1537] + b"chunks")
    assert hs.complete
    assert rest == b"chunks"
    assert hs.receive_data(b"more") == b"more"


def test_digest_style_c1_is_echoed() -> None:
    # FFmpeg/librtmp put a Flash Player version in C1 bytes 4..7 and a digest in the random.
    c1 = bytes(HandshakePacket(12345, 0x80000702, bytes(range(8, 256)) * 6 + bytes(40)))
    hs = ServerHandshake()
    hs.receive_data(b"\x03" + c1)
    out = hs.data_to_send()
    assert out[1537:] == c1
    assert out[5:9] == bytes(4)  # zero S1 version: clients skip digest validation


def test_byte_at_a_time() -> None:
    hs = ServerHandshake(random_bytes=fixed_random)
    data = b"\x03" + C1 + bytes(1536) + b"X"
    rest = b""
    for i in range(len(data)):
        rest += hs.receive_data(data[i : i + 1])
    assert hs.complete
    assert rest == b"X"
    assert len(hs.data_to_send()) == 3073


@pytest.mark.parametrize("version", [0, 6, 0x16, 0xFF])
def test_bad_version_rejected(version: int) -> None:
    with pytest.raises(ProtocolError, match="version byte is"):
        ServerHandshake().receive_data(bytes([version]))


def test_packet_round_trip_and_size_check() -> None:
    packet = HandshakePacket(1, 2, bytes(1528))
    assert HandshakePacket.parse(bytes(packet)) == packet
    with pytest.raises(ProtocolError, match="1535 bytes"):
        HandshakePacket.parse(bytes(1535))
