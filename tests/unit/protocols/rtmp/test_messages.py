"""Message bodies: control messages, user control, commands and data (AMF0 and AMF3 framing)."""

from __future__ import annotations

import pytest

from streamhub.protocols.rtmp import amf0
from streamhub.protocols.rtmp.errors import ProtocolError
from streamhub.protocols.rtmp.messages import (
    Abort,
    Acknowledgement,
    Command,
    DataMessage,
    SetChunkSize,
    SetPeerBandwidth,
    UserControl,
    UserControlEvent,
    WindowAckSize,
)


@pytest.mark.parametrize(
    "message",
    [
        SetChunkSize(4096),
        Abort(6),
        Acknowledgement(123456),
        WindowAckSize(2_500_000),
        SetPeerBandwidth(2_500_000, 2),
        UserControl(UserControlEvent.STREAM_BEGIN, 1),
        UserControl(UserControlEvent.PING_REQUEST, 99),
        UserControl(UserControlEvent.SET_BUFFER_LENGTH, 1, 3000),
    ],
)
def test_control_round_trip(
    message: SetChunkSize
    | Abort
    | Acknowledgement
    | WindowAckSize
    | SetPeerBandwidth
    | UserControl,
) -> None:
    assert type(message).parse(bytes(message)) == message


def test_fixed_layouts() -> None:
    assert bytes(SetPeerBandwidth(5_000_000, 2)) == b"\x00\x4c\x4b\x40\x02"
    assert bytes(UserControl(UserControlEvent.STREAM_BEGIN, 1)) == b"\x00\x00\x00\x00\x00\x01"


@pytest.mark.parametrize(
    ("cls", "payload"),
    [
        (SetChunkSize, b"\x00\x00\x00"),
        (SetChunkSize, b"\x00\x00\x00\x00"),
        (SetChunkSize, b"\x80\x00\x00\x01"),
        (Abort, b""),
        (Acknowledgement, b"\x01"),
        (WindowAckSize, b"\x01\x02"),
        (SetPeerBandwidth, b"\x00\x00\x00\x01"),
        (UserControl, b"\x00\x06\x00"),
        (UserControl, b"\x00\x03\x00\x00\x00\x01"),
    ],
)
def test_short_or_invalid_bodies(cls: type[SetChunkSize], payload: bytes) -> None:
    with pytest.raises(ProtocolError):
        cls.parse(payload)


def test_command_round_trip() -> None:
    cmd = Command("publish", 5.0, None, ("key", "live"))
    assert Command.parse(bytes(cmd)) == cmd
    assert bytes(cmd) == amf0.encode("publish", 5.0, None, "key", "live")


def test_amf3_command_has_leading_zero() -> None:
    cmd = Command("connect", 1.0, {"app": "live"})
    assert Command.parse(b"\x00" + bytes(cmd), amf3=True) == cmd


def test_command_errors() -> None:
    with pytest.raises(ProtocolError, match="need at least 2"):
        Command.parse(amf0.encode("connect"))
    with pytest.raises(ProtocolError, match="command name"):
        Command.parse(amf0.encode(1.0, 1.0))
    with pytest.raises(ProtocolError, match="transaction id"):
        Command.parse(amf0.encode("connect", "one"))


def test_data_message_amf0_and_amf3() -> None:
    body = amf0.encode("@setDataFrame", "onMetaData", amf0.EcmaArray(width=320.0))
    data = DataMessage.parse(body)
    assert data.values == ("@setDataFrame", "onMetaData", {"width": 320.0})
    assert bytes(data) == body
    assert DataMessage.parse(b"\x00" + body, amf3=True) == data
    assert DataMessage.build("onMetaData", {"a": 1.0}).body == amf0.encode("onMetaData", {"a": 1.0})
