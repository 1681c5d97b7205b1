"""A tiny scripted RTMP publisher used to drive ServerConnection in unit tests."""

from __future__ import annotations

from streamhub.protocols.rtmp import amf0
from streamhub.protocols.rtmp.chunk import ChunkReader, ChunkWriter, Message
from streamhub.protocols.rtmp.messages import Command

C1 = bytes(range(256)) * 6  # 1536 bytes, distinctive


class ScriptedClient:
    """Builds client bytes (handshake, commands, media) and parses the server's replies."""

    def __init__(self) -> None:
        self.writer = ChunkWriter()
        self.reader = ChunkReader()
        self._handshake_left = 1 + 2 * 1536
        self.s1 = b""

    def c0c1(self) -> bytes:
        return b"\x03" + C1

    def c2(self) -> bytes:
        return self.s1

    def receive(self, data: bytes) -> list[Message]:
        """Parse server output (skipping S0+S1+S2 the first time)."""
        if self._handshake_left:
            head, data = data[: self._handshake_left], data[self._handshake_left :]
            if len(self.s1) < 1536:
                self.s1 += head[1:1537] if head[:1] == b"\x03" else head
            self._handshake_left -= len(head)
        return self.reader.receive_data(data)

    def message(
        self, type_id: int, payload: bytes, *, stream_id: int = 0, timestamp: int = 0, csid: int = 3
    ) -> bytes:
        return self.writer.write(Message(csid, type_id, stream_id, timestamp, payload))

    def command(
        self, name: str, tid: float, obj: amf0.Value = None, *args: amf0.Value, stream_id: int = 0
    ) -> bytes:
        csid = 3 if stream_id == 0 else 8
        return self.message(
            20, bytes(Command(name, tid, obj, args)), stream_id=stream_id, csid=csid
        )

    def connect(self, app: str = "live") -> bytes:
        return self.command(
            "connect",
            1.0,
            {"app": app, "type": "nonprivate", "tcUrl": f"rtmp://127.0.0.1/{app}"},
        )

    def video(self, stream_id: int, timestamp: int, payload: bytes) -> bytes:
        return self.message(9, payload, stream_id=stream_id, timestamp=timestamp, csid=6)

    def audio(self, stream_id: int, timestamp: int, payload: bytes) -> bytes:
        return self.message(8, payload, stream_id=stream_id, timestamp=timestamp, csid=4)


def commands(messages: list[Message]) -> list[Command]:
    return [Command.parse(m.payload) for m in messages if m.type_id == 20]
