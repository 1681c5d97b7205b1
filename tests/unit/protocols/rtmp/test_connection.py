"""ServerConnection: scripted publisher sessions, ordering errors, pings, acks, fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamhub.protocols.rtmp import amf0
from streamhub.protocols.rtmp.chunk import Message
from streamhub.protocols.rtmp.connection import (
    AudioData,
    Connected,
    Event,
    Metadata,
    PublishEnded,
    PublishRequested,
    ServerConnection,
    StreamState,
    VideoData,
)
from streamhub.protocols.rtmp.errors import ProtocolError
from streamhub.protocols.rtmp.messages import Command, UserControl, UserControlEvent

from .client import ScriptedClient, commands

AVC_SEQ = b"\x17\x00\x00\x00\x00\x01\x64\x00\x1f"
AVC_KEY = b"\x17\x01\x00\x00\x00" + b"\x00" * 50
AAC_SEQ = b"\xaf\x00\x12\x10"
META = amf0.EcmaArray(width=320.0, height=240.0, encoder="Lavf")


def fixed_random(n: int) -> bytes:
    return bytes(n)


class Session:
    """A ServerConnection plus a scripted client talking to it."""

    def __init__(self) -> None:
        self.conn = ServerConnection(random_bytes=fixed_random)
        self.client = ScriptedClient()
        self.replies: list[Message] = []

    def send(self, data: bytes) -> list[Event]:
        events = self.conn.receive_data(data)
        self.replies += self.client.receive(self.conn.data_to_send())
        return events

    def handshake(self) -> None:
        assert self.send(self.client.c0c1()) == []
        assert self.send(self.client.c2()) == []
        assert self.conn.handshake_complete

    def take_replies(self) -> list[Message]:
        replies, self.replies = self.replies, []
        return replies

    def up_to_publish(self, name: str = "key") -> PublishRequested:
        self.handshake()
        self.send(self.client.connect())
        self.send(self.client.command("releaseStream", 2.0, None, name))
        self.send(self.client.command("FCPublish", 3.0, None, name))
        self.send(self.client.command("createStream", 4.0, None))
        (event,) = self.send(self.client.command("publish", 5.0, None, name, "live", stream_id=1))
        assert isinstance(event, PublishRequested)
        self.take_replies()
        return event

    def publishing(self) -> None:
        self.up_to_publish()
        self.conn.accept_publish(1)
        self.send(b"")
        self.take_replies()


def test_full_publish_flow() -> None:
    s = Session()
    s.handshake()
    (connected,) = s.send(s.client.connect())
    assert connected == Connected(
        "live",
        "rtmp://127.0.0.1/live",
        {"app": "live", "type": "nonprivate", "tcUrl": "rtmp://127.0.0.1/live"},
    )
    replies = s.take_replies()
    assert [m.type_id for m in replies] == [5, 6, 1, 20]
    assert replies[0].payload == (5_000_000).to_bytes(4, "big")
    assert replies[1].payload == (5_000_000).to_bytes(4, "big") + b"\x02"
    assert replies[2].payload == (4096).to_bytes(4, "big")
    result = Command.parse(replies[3].payload)
    assert (result.name, result.transaction_id) == ("_result", 1.0)
    assert isinstance(result.command_object, dict)
    assert result.command_object["fmsVer"] == "FMS/3,0,1,123"
    info = result.arguments[0]
    assert isinstance(info, dict)
    assert info["code"] == "NetConnection.Connect.Success"
    assert info["level"] == "status"
    assert info["objectEncoding"] == 0.0

    for tid, name in ((2.0, "releaseStream"), (3.0, "FCPublish"), (4.0, "_checkbw")):
        assert s.send(s.client.command(name, tid, None, "key")) == []
        (reply,) = commands(s.take_replies())
        assert (reply.name, reply.transaction_id) == ("_result", tid)

    s.send(s.client.command("createStream", 5.0, None))
    (reply,) = commands(s.take_replies())
    assert (reply.name, reply.transaction_id, reply.arguments) == ("_result", 5.0, (1.0,))

    events = s.send(s.client.command("publish", 6.0, None, "key", "live", stream_id=1))
    assert events == [PublishRequested(1, "key", "live")]
    assert s.take_replies() == []
    assert s.conn.stream_state(1) is StreamState.REQUESTED

    s.conn.accept_publish(1)
    s.send(b"")
    begin, status = s.take_replies()
    assert UserControl.parse(begin.payload) == UserControl(UserControlEvent.STREAM_BEGIN, 1)
    onstatus = Command.parse(status.payload)
    assert status.stream_id == 1
    assert onstatus.name == "onStatus"
    assert isinstance(onstatus.arguments[0], dict)
    assert onstatus.arguments[0]["code"] == "NetStream.Publish.Start"

    c = s.client
    events = s.send(
        c.message(
            18,
            amf0.encode("@setDataFrame", "onMetaData", META),
            stream_id=1,
            csid=8,
        )
        + c.video(1, 0, AVC_SEQ)
        + c.audio(1, 0, AAC_SEQ)
        + c.video(1, 0, AVC_KEY)
        + c.audio(1, 23, b"\xaf\x01" + bytes(100))
        + c.video(1, 33, b"\x27\x01" + bytes(5000))
    )
    assert events == [
        Metadata(1, 0, dict(META), amf0.encode("onMetaData", META)),
        VideoData(1, 0, AVC_SEQ),
        AudioData(1, 0, AAC_SEQ),
        VideoData(1, 0, AVC_KEY),
        AudioData(1, 23, b"\xaf\x01" + bytes(100)),
        VideoData(1, 33, b"\x27\x01" + bytes(5000)),
    ]
    assert s.send(c.command("FCUnpublish", 7.0, None, "key")) == [PublishEnded(1, "FCUnpublish")]
    assert s.send(c.command("deleteStream", 8.0, None, 1.0)) == []
    assert s.conn.stream_state(1) is None


def test_second_create_stream_gets_next_id() -> None:
    s = Session()
    s.handshake()
    s.send(s.client.connect())
    s.send(s.client.command("createStream", 2.0, None))
    s.send(s.client.command("createStream", 3.0, None))
    ids = [c.arguments[0] for c in commands(s.take_replies()) if c.transaction_id > 1]
    assert ids == [1.0, 2.0]


def test_reject_publish() -> None:
    s = Session()
    s.up_to_publish()
    s.conn.reject_publish(1, "NetStream.Publish.BadName", "Unknown stream key.")
    s.send(b"")
    (status,) = commands(s.take_replies())
    info = status.arguments[0]
    assert isinstance(info, dict)
    assert (info["level"], info["code"]) == ("error", "NetStream.Publish.BadName")
    with pytest.raises(ProtocolError, match="not an accepted publish"):
        s.send(s.client.video(1, 0, AVC_KEY))


def test_delete_stream_ends_publish_once() -> None:
    s = Session()
    s.publishing()
    assert s.send(s.client.command("closeStream", 0.0, None, stream_id=1)) == [
        PublishEnded(1, "closeStream")
    ]
    assert s.send(s.client.command("deleteStream", 0.0, None, 1.0)) == []
    assert s.send(s.client.command("FCUnpublish", 0.0, None, "key")) == []


def test_input_pauses_until_publish_is_decided() -> None:
    s = Session()
    s.up_to_publish()
    assert s.conn.awaiting_decision == 1
    queued = s.client.video(1, 0, AVC_SEQ) + s.client.command("deleteStream", 0.0, None, 1.0)
    assert s.send(queued) == []
    assert s.send(b"") == []
    s.conn.accept_publish(1)
    assert s.conn.awaiting_decision is None
    assert s.send(b"") == [VideoData(1, 0, AVC_SEQ), PublishEnded(1, "deleteStream")]


def test_media_queued_before_rejection_is_an_error() -> None:
    s = Session()
    s.up_to_publish()
    assert s.send(s.client.audio(1, 0, AAC_SEQ)) == []
    s.conn.reject_publish(1)
    with pytest.raises(ProtocolError, match="audio message on stream 1 \\(publish rejected\\)"):
        s.send(b"")


def test_second_publish_on_same_stream() -> None:
    s = Session()
    s.up_to_publish()
    s.send(s.client.command("publish", 9.0, None, "key", stream_id=1))
    s.conn.accept_publish(1)
    with pytest.raises(ProtocolError, match="publish on stream 1, which is publishing"):
        s.send(b"")


def test_flood_while_awaiting_decision() -> None:
    s = Session()
    s.conn = ServerConnection(random_bytes=fixed_random, max_message_size=10_000)
    s.up_to_publish()
    with pytest.raises(ProtocolError, match="awaited a decision"):
        for _ in range(10):
            s.send(s.client.video(1, 0, bytes(5000)))


def test_media_after_unpublish_is_dropped() -> None:
    s = Session()
    s.publishing()
    s.send(s.client.command("FCUnpublish", 0.0, None, "key"))
    assert s.send(s.client.video(1, 40, AVC_KEY)) == []


def test_accept_twice_is_a_driver_bug() -> None:
    s = Session()
    s.publishing()
    with pytest.raises(ValueError, match="not awaiting a decision"):
        s.conn.accept_publish(1)


@pytest.mark.parametrize(
    ("script", "message"),
    [
        (lambda c: c.command("createStream", 2.0, None), "'createStream' before connect"),
        (lambda c: c.command("publish", 2.0, None, "k", stream_id=1), "'publish' before connect"),
        (lambda c: c.video(1, 0, AVC_KEY), "video message before connect"),
        (lambda c: c.connect() + c.connect(), "second connect"),
        (lambda c: c.connect() + c.video(1, 0, AVC_KEY), "stream 1 \\(unknown\\)"),
        (
            lambda c: c.connect() + c.command("publish", 2.0, None, "k", stream_id=1),
            "never created",
        ),
        (
            lambda c: (
                c.connect()
                + c.command("createStream", 2.0, None)
                + c.command("publish", 3.0, None, stream_id=1)
            ),
            "without a stream name",
        ),
        (
            lambda c: c.connect() + c.command("createStream", 2.0, None) + c.audio(1, 0, AAC_SEQ),
            "audio message on stream 1 \\(created\\)",
        ),
        (lambda c: c.connect() + c.command("play", 2.0, None, "k"), "only accepts publishers"),
        (lambda c: c.command("connect", 1.0, None), "command object"),
        (lambda c: c.command("connect", 1.0, {"tcUrl": "x"}), "no 'app' string"),
    ],
)
def test_wrong_order_is_a_protocol_error(script: object, message: str) -> None:
    s = Session()
    s.handshake()
    assert callable(script)
    with pytest.raises(ProtocolError, match=message):
        s.send(script(s.client))
    with pytest.raises(ProtocolError, match="already failed"):
        s.send(b"")


def test_bad_handshake_version() -> None:
    with pytest.raises(ProtocolError, match="version byte"):
        ServerConnection().receive_data(b"\x06" + bytes(1536))


def test_stream_key_never_appears_in_errors() -> None:
    s = Session()
    s.up_to_publish("sk_secret_key")
    s.conn.reject_publish(1)
    with pytest.raises(ProtocolError) as info:
        s.send(s.client.video(1, 0, AVC_KEY))
    assert "sk_secret_key" not in str(info.value)


def test_ping_request_gets_response() -> None:
    s = Session()
    s.handshake()
    s.send(s.client.message(4, bytes(UserControl(UserControlEvent.PING_REQUEST, 777)), csid=2))
    (reply,) = s.take_replies()
    assert reply.type_id == 4
    assert UserControl.parse(reply.payload) == UserControl(UserControlEvent.PING_RESPONSE, 777)


def test_acknowledgement_sent_after_window() -> None:
    s = Session()
    s.publishing()
    s.send(s.client.message(5, (10_000).to_bytes(4, "big"), csid=2))
    s.send(s.client.video(1, 0, bytes(4000)))
    assert [m for m in s.take_replies() if m.type_id == 3] == []
    s.send(s.client.video(1, 40, bytes(7000)))
    (ack,) = [m for m in s.take_replies() if m.type_id == 3]
    assert int.from_bytes(ack.payload, "big") == s.conn._reader.bytes_received


def test_timestamps_are_unwrapped_past_32_bits() -> None:
    s = Session()
    s.publishing()
    events = s.send(
        s.client.video(1, 0xFFFFFF00, AVC_KEY)
        + s.client.video(1, 0x00000100, AVC_KEY)
        + s.client.video(1, 0x00000200, AVC_KEY)
    )
    assert [e.timestamp for e in events if isinstance(e, VideoData)] == [
        0xFFFFFF00,
        0x100000100,
        0x100000200,
    ]


def test_amf3_command_and_data_messages() -> None:
    s = Session()
    s.handshake()
    body = bytes(Command("connect", 1.0, {"app": "live"}))
    (event,) = s.send(s.client.message(17, b"\x00" + body))
    assert isinstance(event, Connected)
    s.send(s.client.command("createStream", 2.0, None))
    s.send(
        s.client.message(17, b"\x00" + bytes(Command("publish", 3.0, None, ("k",))), stream_id=1)
    )
    s.conn.accept_publish(1)
    (meta,) = s.send(
        s.client.message(15, b"\x00" + amf0.encode("onMetaData", {"a": 1.0}), stream_id=1)
    )
    assert meta == Metadata(1, 0, {"a": 1.0}, amf0.encode("onMetaData", {"a": 1.0}))


def test_other_data_messages_are_ignored() -> None:
    s = Session()
    s.publishing()
    assert s.send(s.client.message(18, amf0.encode("onTextData", {"t": "x"}), stream_id=1)) == []


def test_client_chunk_size_and_byte_at_a_time() -> None:
    s = Session()
    data = s.client.c0c1()
    s.send(data)
    script = s.client.c2() + s.client.writer.set_chunk_size(1) + s.client.connect()
    events: list[Event] = []
    for i in range(len(script)):
        events += s.send(script[i : i + 1])
    assert [type(e) for e in events] == [Connected]


def valid_session_bytes() -> bytes:
    c = ScriptedClient()
    conn = ServerConnection(random_bytes=fixed_random)
    conn.receive_data(c.c0c1())
    c.receive(conn.data_to_send())
    return (
        c.c0c1()
        + c.c2()
        + c.connect()
        + c.command("createStream", 2.0, None)
        + c.command("publish", 3.0, None, "key", "live", stream_id=1)
        + c.message(18, amf0.encode("@setDataFrame", "onMetaData", META), stream_id=1, csid=8)
        + c.video(1, 0, AVC_SEQ)
        + c.audio(1, 0, AAC_SEQ)
        + c.video(1, 40, AVC_KEY)
    )


VALID = valid_session_bytes()


def feed(data: bytes, cuts: list[int], accept: bool = True) -> None:
    conn = ServerConnection(random_bytes=fixed_random)
    pos = 0
    try:
        for cut in [*sorted(cuts), len(data)]:
            batch = conn.receive_data(data[pos:cut])
            while batch:
                for event in batch:
                    if accept and isinstance(event, PublishRequested):
                        conn.accept_publish(event.stream_id)
                batch = conn.receive_data(b"")
            conn.data_to_send()
            pos = max(pos, cut)
    except ProtocolError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=6))
def test_fuzz_random_bytes(data: bytes, cuts: list[int]) -> None:
    feed(data, cuts)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.lists(st.integers(0, 400), max_size=6))
def test_fuzz_after_handshake(tail: bytes, cuts: list[int]) -> None:
    prefix = VALID[: 1 + 2 * 1536]
    feed(prefix + tail, [len(prefix) + c for c in cuts])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.integers(3073, len(VALID) - 1), st.integers(0, 255)), max_size=4),
    st.lists(st.integers(0, len(VALID)), max_size=6),
    st.booleans(),
)
def test_fuzz_mutated_session(
    mutations: list[tuple[int, int]], cuts: list[int], accept: bool
) -> None:
    data = bytearray(VALID)
    for pos, value in mutations:
        data[pos] = value
    feed(bytes(data), cuts, accept)


def test_valid_session_in_every_split_gives_same_events() -> None:
    def run(step: int) -> list[Event]:
        conn = ServerConnection(random_bytes=fixed_random)
        events: list[Event] = []
        for i in range(0, len(VALID), step):
            batch = conn.receive_data(VALID[i : i + step])
            while batch:
                events += batch
                for event in batch:
                    if isinstance(event, PublishRequested):
                        conn.accept_publish(event.stream_id)
                batch = conn.receive_data(b"")
        return events

    reference = run(len(VALID))
    assert [type(e) for e in reference] == [
        Connected,
        PublishRequested,
        Metadata,
        VideoData,
        AudioData,
        VideoData,
    ]
    for step in (1, 7, 100, 1537):
        assert run(step) == reference
