"""Server-side RTMP connection state machine: handshake, commands, publish, media events."""

from __future__ import annotations

import enum
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeAlias

from streamhub.protocols.rtmp import amf0
from streamhub.protocols.rtmp.chunk import (
    DEFAULT_MAX_MESSAGE_SIZE,
    ChunkReader,
    ChunkWriter,
    Message,
)
from streamhub.protocols.rtmp.errors import ProtocolError
from streamhub.protocols.rtmp.handshake import ServerHandshake
from streamhub.protocols.rtmp.messages import (
    Acknowledgement,
    Command,
    DataMessage,
    MessageType,
    PeerBandwidthLimit,
    SetPeerBandwidth,
    UserControl,
    UserControlEvent,
    WindowAckSize,
)

CSID_CONTROL = 2
CSID_COMMAND = 3
CSID_STREAM = 5

FMS_VERSION = "FMS/3,0,1,123"


@dataclass(frozen=True)
class Connected:
    """The client sent connect and was answered with NetConnection.Connect.Success."""

    app: str
    tc_url: str | None
    properties: dict[str, amf0.Value] = field(default_factory=dict)


@dataclass(frozen=True)
class PublishRequested:
    """The client wants to publish; answer with accept_publish or reject_publish."""

    stream_id: int
    stream_name: str
    publish_type: str


@dataclass(frozen=True)
class AudioData:
    stream_id: int
    timestamp: int
    payload: bytes


@dataclass(frozen=True)
class VideoData:
    stream_id: int
    timestamp: int
    payload: bytes


@dataclass(frozen=True)
class Metadata:
    """onMetaData; script_payload is the AMF0 'onMetaData' + value bytes of an FLV script tag."""

    stream_id: int
    timestamp: int
    values: dict[str, amf0.Value]
    script_payload: bytes


@dataclass(frozen=True)
class PublishEnded:
    """A requested or accepted publish stopped (FCUnpublish, closeStream or deleteStream)."""

    stream_id: int
    reason: str


Event: TypeAlias = Connected | PublishRequested | AudioData | VideoData | Metadata | PublishEnded


class ConnectionState(enum.Enum):
    HANDSHAKE = "handshake"
    AWAIT_CONNECT = "awaiting connect"
    CONNECTED = "connected"
    FAILED = "failed"


class StreamState(enum.Enum):
    CREATED = "created"
    REQUESTED = "publish requested"
    PUBLISHING = "publishing"
    REJECTED = "publish rejected"
    ENDED = "ended"


@dataclass
class _Stream:
    state: StreamState = StreamState.CREATED
    name: str | None = None
    last_raw: int | None = None
    last_abs: int = 0

    def unwrap(self, raw: int) -> int:
        """Turn a 32-bit timestamp into a continuous one (signed distance to the previous)."""
        if self.last_raw is None:
            absolute = raw
        else:
            diff = ((raw - self.last_raw + 0x80000000) & 0xFFFFFFFF) - 0x80000000
            absolute = self.last_abs + diff
        self.last_raw, self.last_abs = raw, absolute
        return absolute


class ServerConnection:
    """One RTMP client as seen by a publish-only server; feed bytes, collect events."""

    def __init__(
        self,
        *,
        random_bytes: Callable[[int], bytes] = os.urandom,
        chunk_size: int = 4096,
        window_ack_size: int = 5_000_000,
        peer_bandwidth: int = 5_000_000,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        self.state = ConnectionState.HANDSHAKE
        self.app: str | None = None
        self.tc_url: str | None = None
        self._handshake = ServerHandshake(random_bytes=random_bytes)
        self._reader = ChunkReader(max_message_size=max_message_size)
        self._writer = ChunkWriter()
        self._out = bytearray()
        self._streams: dict[int, _Stream] = {}
        self._queue: deque[Message] = deque()
        self._queued_bytes = 0
        self._max_queued_bytes = 2 * max_message_size
        self._awaiting_decision: int | None = None
        self._next_stream_id = 1
        self._chunk_size = chunk_size
        self._window_ack_size = window_ack_size
        self._peer_bandwidth = peer_bandwidth

    @property
    def handshake_complete(self) -> bool:
        return self._handshake.complete

    def stream_state(self, stream_id: int) -> StreamState | None:
        stream = self._streams.get(stream_id)
        return None if stream is None else stream.state

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    @property
    def awaiting_decision(self) -> int | None:
        """The stream id whose publish must be accepted or rejected before input continues."""
        return self._awaiting_decision

    def receive_data(self, data: bytes) -> list[Event]:
        """Consume bytes from the client; raise ProtocolError on anything invalid.

        Processing pauses after a PublishRequested event: later messages are queued until
        accept_publish/reject_publish; call receive_data(b"") then to collect their events.
        """
        if self.state is ConnectionState.FAILED:
            raise ProtocolError("connection already failed; no more input accepted")
        try:
            return self._receive(data)
        except ProtocolError:
            self.state = ConnectionState.FAILED
            raise

    def _receive(self, data: bytes) -> list[Event]:
        if self.state is ConnectionState.HANDSHAKE:
            data = self._handshake.receive_data(data)
            self._out += self._handshake.data_to_send()
            if not self._handshake.complete:
                return []
            self.state = ConnectionState.AWAIT_CONNECT
        events: list[Event] = []
        if data:
            for message in self._reader.receive_data(data):
                self._queue.append(message)
                self._queued_bytes += len(message.payload)
        while self._queue and self._awaiting_decision is None:
            message = self._queue.popleft()
            self._queued_bytes -= len(message.payload)
            self._handle(message, events)
        if self._queued_bytes > self._max_queued_bytes:
            raise ProtocolError(
                f"more than {self._max_queued_bytes} bytes sent while a publish awaited a decision"
            )
        sequence = self._reader.pending_acknowledgement()
        if sequence is not None:
            self._send_control(MessageType.ACKNOWLEDGEMENT, bytes(Acknowledgement(sequence)))
        return events

    # -- driver decisions -------------------------------------------------------------

    def accept_publish(self, stream_id: int) -> None:
        """Start the publish: Stream Begin + onStatus NetStream.Publish.Start."""
        stream = self._decidable(stream_id)
        if stream is None:
            return
        stream.state = StreamState.PUBLISHING
        self._send_control(
            MessageType.USER_CONTROL, bytes(UserControl(UserControlEvent.STREAM_BEGIN, stream_id))
        )
        self._send_status(stream_id, "status", "NetStream.Publish.Start", "Publishing started.")

    def reject_publish(
        self,
        stream_id: int,
        code: str = "NetStream.Publish.BadName",
        description: str = "Publishing refused.",
    ) -> None:
        """Refuse the publish with an error onStatus; the driver should then close."""
        stream = self._decidable(stream_id)
        if stream is None:
            return
        stream.state = StreamState.REJECTED
        self._send_status(stream_id, "error", code, description)

    def _decidable(self, stream_id: int) -> _Stream | None:
        stream = self._streams.get(stream_id)
        if self._awaiting_decision == stream_id:
            self._awaiting_decision = None
        if stream is None or stream.state is StreamState.ENDED:
            return None  # the client already unpublished or deleted it
        if stream.state is not StreamState.REQUESTED:
            raise ValueError(f"stream {stream_id} is {stream.state.value}, not awaiting a decision")
        return stream

    # -- outgoing ---------------------------------------------------------------------

    def _send(self, csid: int, type_id: int, stream_id: int, payload: bytes) -> None:
        self._out += self._writer.write(Message(csid, type_id, stream_id, 0, payload))

    def _send_control(self, type_id: int, payload: bytes) -> None:
        self._send(CSID_CONTROL, type_id, 0, payload)

    def _send_command(self, command: Command, stream_id: int = 0) -> None:
        csid = CSID_COMMAND if stream_id == 0 else CSID_STREAM
        self._send(csid, MessageType.COMMAND_AMF0, stream_id, bytes(command))

    def _send_status(self, stream_id: int, level: str, code: str, description: str) -> None:
        info: dict[str, amf0.Value] = {"level": level, "code": code, "description": description}
        self._send_command(Command("onStatus", 0.0, None, (info,)), stream_id)

    def _result(self, tid: float, *args: amf0.Value) -> None:
        if tid != 0:
            self._send_command(Command("_result", tid, None, args))

    # -- incoming ---------------------------------------------------------------------

    def _handle(self, message: Message, events: list[Event]) -> None:
        type_id = message.type_id
        if type_id in (MessageType.COMMAND_AMF0, MessageType.COMMAND_AMF3):
            command = Command.parse(message.payload, amf3=type_id == MessageType.COMMAND_AMF3)
            self._handle_command(command, message, events)
        elif type_id in (MessageType.AUDIO, MessageType.VIDEO):
            kind = "audio" if type_id == MessageType.AUDIO else "video"
            stream = self._media_stream(message, kind)
            if stream is None:
                return
            ts = stream.unwrap(message.timestamp)
            cls = AudioData if type_id == MessageType.AUDIO else VideoData
            events.append(cls(message.stream_id, ts, message.payload))
        elif type_id in (MessageType.DATA_AMF0, MessageType.DATA_AMF3):
            self._handle_data(message, events)
        elif type_id == MessageType.USER_CONTROL:
            control = UserControl.parse(message.payload)
            if control.event == UserControlEvent.PING_REQUEST:
                reply = UserControl(UserControlEvent.PING_RESPONSE, control.value)
                self._send_control(MessageType.USER_CONTROL, bytes(reply))
        # Set Chunk Size, Abort and Window Ack Size were applied by the chunk reader;
        # Acknowledgement, Set Peer Bandwidth, shared objects and aggregates are ignored.

    def _media_stream(self, message: Message, kind: str) -> _Stream | None:
        if self.state is not ConnectionState.CONNECTED:
            raise ProtocolError(f"{kind} message before connect")
        stream = self._streams.get(message.stream_id)
        if stream is not None and stream.state is StreamState.PUBLISHING:
            return stream
        if stream is not None and stream.state is StreamState.ENDED:
            return None  # late packet after unpublish: drop
        state = "unknown" if stream is None else stream.state.value
        raise ProtocolError(
            f"{kind} message on stream {message.stream_id} ({state}), "
            "which is not an accepted publish"
        )

    def _handle_data(self, message: Message, events: list[Event]) -> None:
        data = DataMessage.parse(message.payload, amf3=message.type_id == MessageType.DATA_AMF3)
        values, body = data.values, data.body
        if values and values[0] == "@setDataFrame":
            _, offset = amf0.decode_value(body)
            values, body = values[1:], body[offset:]
        if len(values) < 2 or values[0] != "onMetaData" or not isinstance(values[1], dict):
            return  # other data messages (onTextData, onCuePoint, ...) are not forwarded
        stream = self._media_stream(message, "onMetaData")
        if stream is None:
            return
        ts = stream.unwrap(message.timestamp)
        events.append(Metadata(message.stream_id, ts, dict(values[1]), body))

    def _handle_command(self, command: Command, message: Message, events: list[Event]) -> None:
        name, tid = command.name, command.transaction_id
        if name == "connect":
            self._on_connect(command, events)
            return
        if self.state is not ConnectionState.CONNECTED:
            raise ProtocolError(f"command {name!r} before connect")
        args = command.arguments
        if name in ("releaseStream", "FCPublish", "_checkbw"):
            self._result(tid, amf0.Undefined())
        elif name == "createStream":
            stream_id = self._next_stream_id
            if len(self._streams) >= 64:
                raise ProtocolError("more than 64 streams created on one connection")
            self._next_stream_id += 1
            self._streams[stream_id] = _Stream()
            self._result(tid, float(stream_id))
        elif name == "publish":
            self._on_publish(message.stream_id, args, events)
        elif name == "FCUnpublish":
            target = args[0] if args else None
            for stream_id, stream in self._streams.items():
                if stream.name is not None and stream.name == target:
                    self._end(stream_id, stream, "FCUnpublish", events)
            self._result(tid, amf0.Undefined())
        elif name == "closeStream":
            closing = self._streams.get(message.stream_id)
            if closing is not None:
                self._end(message.stream_id, closing, "closeStream", events)
        elif name == "deleteStream":
            target = args[0] if args else None
            if isinstance(target, float) and target.is_integer():
                deleting = self._streams.get(int(target))
                if deleting is not None:
                    self._end(int(target), deleting, "deleteStream", events)
                    del self._streams[int(target)]
        elif name in ("play", "play2"):
            raise ProtocolError(f"{name!r} is not supported: this server only accepts publishers")
        # Anything else (getStreamLength, onBWDone answers, ...) is ignored.

    def _on_connect(self, command: Command, events: list[Event]) -> None:
        if self.state is ConnectionState.CONNECTED:
            raise ProtocolError("second connect on the same connection")
        props = command.command_object
        if not isinstance(props, dict):
            raise ProtocolError("connect command object is missing or not an object")
        app = props.get("app")
        if not isinstance(app, str):
            raise ProtocolError("connect command object has no 'app' string")
        tc_url = props.get("tcUrl")
        self.app = app
        self.tc_url = tc_url if isinstance(tc_url, str) else None
        self.state = ConnectionState.CONNECTED
        self._send_control(MessageType.WINDOW_ACK_SIZE, bytes(WindowAckSize(self._window_ack_size)))
        self._send_control(
            MessageType.SET_PEER_BANDWIDTH,
            bytes(SetPeerBandwidth(self._peer_bandwidth, PeerBandwidthLimit.DYNAMIC)),
        )
        self._out += self._writer.set_chunk_size(self._chunk_size)
        properties: dict[str, amf0.Value] = {
            "fmsVer": FMS_VERSION,
            "capabilities": 31.0,
            "mode": 1.0,
        }
        info: dict[str, amf0.Value] = {
            "level": "status",
            "code": "NetConnection.Connect.Success",
            "description": "Connection succeeded.",
            "objectEncoding": 0.0,
        }
        self._send_command(Command("_result", command.transaction_id, properties, (info,)))
        events.append(Connected(app, self.tc_url, dict(props)))

    def _on_publish(
        self, stream_id: int, args: tuple[amf0.Value, ...], events: list[Event]
    ) -> None:
        stream = self._streams.get(stream_id)
        if stream is None:
            raise ProtocolError(f"publish on stream {stream_id}, which was never created")
        if stream.state not in (StreamState.CREATED, StreamState.ENDED):
            raise ProtocolError(f"publish on stream {stream_id}, which is {stream.state.value}")
        name = args[0] if args else None
        if not isinstance(name, str) or not name:
            raise ProtocolError(f"publish on stream {stream_id} without a stream name")
        publish_type = args[1] if len(args) > 1 and isinstance(args[1], str) else "live"
        self._streams[stream_id] = _Stream(StreamState.REQUESTED, name)
        self._awaiting_decision = stream_id
        events.append(PublishRequested(stream_id, name, publish_type))

    def _end(self, stream_id: int, stream: _Stream, reason: str, events: list[Event]) -> None:
        if stream.state in (StreamState.REQUESTED, StreamState.PUBLISHING):
            events.append(PublishEnded(stream_id, reason))
        stream.state = StreamState.ENDED
