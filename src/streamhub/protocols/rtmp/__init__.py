"""Sans-I/O RTMP: handshake, chunk stream, AMF0, messages and the server state machine."""

from streamhub.protocols.rtmp.connection import (
    AudioData,
    Connected,
    Event,
    Metadata,
    PublishEnded,
    PublishRequested,
    ServerConnection,
    VideoData,
)
from streamhub.protocols.rtmp.errors import ProtocolError

__all__ = [
    "AudioData",
    "Connected",
    "Event",
    "Metadata",
    "ProtocolError",
    "PublishEnded",
    "PublishRequested",
    "ServerConnection",
    "VideoData",
]
