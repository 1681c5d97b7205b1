"""wsframes: header lengths, control-frame limits, round trip through wsproto's client parser."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wsproto import ConnectionType
from wsproto.connection import Connection
from wsproto.events import CloseConnection, Event, Ping, Pong, TextMessage

from streamhub.chat import wsframes


def client_events(data: bytes) -> list[Event]:
    """What a WebSocket client (wsproto, client side: expects unmasked frames) parses."""
    client = Connection(ConnectionType.CLIENT)
    client.receive_data(data)
    return list(client.events())


def text_of(events: list[Event]) -> str:
    assert all(isinstance(e, TextMessage) for e in events)
    assert events and events[-1].message_finished  # type: ignore[attr-defined]
    return "".join(e.data for e in events)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("length", "header_len", "marker"),
    [(0, 2, 0), (1, 2, 1), (125, 2, 125), (126, 4, 126), (65535, 4, 126),
     (65536, 10, 127), (1 << 20, 10, 127)],
)
def test_text_frame_lengths_round_trip(length: int, header_len: int, marker: int) -> None:
    payload = (b"PRIVMSG #c :hi\r\n" * (length // 16 + 1))[:length]
    frame = wsframes.text_frame(payload)
    assert len(frame) == header_len + length
    assert frame[0] == 0x81  # FIN + text
    assert frame[1] == marker  # never masked
    assert text_of(client_events(frame)) == payload.decode()


def test_frame_header_extended_lengths_are_big_endian() -> None:
    assert wsframes.frame_header(wsframes.OP_TEXT, 126) == b"\x81\x7e\x00\x7e"
    long_header = b"\x81\x7f" + (65536).to_bytes(8, "big")
    assert wsframes.frame_header(wsframes.OP_TEXT, 65536) == long_header
    assert wsframes.frame_header(wsframes.OP_TEXT, 5, fin=False) == b"\x01\x05"


def test_several_irc_lines_in_one_frame() -> None:
    lines = b":a!a@a.tmi.twitch.tv PRIVMSG #c :one\r\n:b!b@b.tmi.twitch.tv PRIVMSG #c :two\r\n"
    text = text_of(client_events(wsframes.text_frame(lines)))
    assert text.split("\r\n") == [
        ":a!a@a.tmi.twitch.tv PRIVMSG #c :one", ":b!b@b.tmi.twitch.tv PRIVMSG #c :two", ""]


def test_concatenated_frames_parse_in_order() -> None:
    data = wsframes.text_frame(b"a\r\n") + wsframes.ping_frame(b"p") + wsframes.text_frame(b"b\r\n")
    events = client_events(data)
    assert [type(e) for e in events] == [TextMessage, Ping, TextMessage]


def test_close_frame() -> None:
    (event,) = client_events(wsframes.close_frame(wsframes.CLOSE_GOING_AWAY, "bye"))
    assert isinstance(event, CloseConnection)
    assert (event.code, event.reason) == (1001, "bye")


def test_close_reason_is_truncated_on_a_character_boundary() -> None:
    frame = wsframes.close_frame(1000, "é" * 100)  # 200 bytes of UTF-8
    assert len(frame) == 2 + 125 - 1  # 2 + code + 61 whole two-byte characters = 124 payload
    (event,) = client_events(frame)
    assert isinstance(event, CloseConnection)
    assert event.reason == "é" * 61


def test_close_without_status() -> None:
    assert wsframes.close_frame(None) == b"\x88\x00"
    with pytest.raises(ValueError):
        wsframes.close_frame(None, "reason")


@pytest.mark.parametrize("code", [999, 1005, 1006, 1015, 5000])
def test_close_codes_that_may_not_be_sent(code: int) -> None:
    with pytest.raises(ValueError):
        wsframes.close_frame(code)


def test_ping_pong() -> None:
    (ping,) = client_events(wsframes.ping_frame(b"abc"))
    assert isinstance(ping, Ping) and ping.payload == b"abc"
    (pong,) = client_events(wsframes.pong_frame(b"abc"))
    assert isinstance(pong, Pong) and pong.payload == b"abc"


def test_control_frames_are_limited_to_125_bytes() -> None:
    assert len(wsframes.ping_frame(b"x" * 125)) == 127
    with pytest.raises(ValueError):
        wsframes.ping_frame(b"x" * 126)
    with pytest.raises(ValueError):
        wsframes.frame(wsframes.OP_CLOSE, b"", fin=False)


@pytest.mark.parametrize("bad", [(-1, 0), (16, 0), (1, -1), (1, 1 << 63)])
def test_frame_header_rejects(bad: tuple[int, int]) -> None:
    with pytest.raises(ValueError):
        wsframes.frame_header(*bad)


@given(st.text(max_size=3000))
def test_any_text_round_trips(text: str) -> None:
    payload = text.encode("utf-8", "surrogatepass")
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return  # lone surrogates are not text
    assert text_of(client_events(wsframes.text_frame(payload))) == text
