"""The one exception type raised for malformed or out-of-order RTMP/AMF/FLV input."""


class ProtocolError(Exception):
    """The peer sent something the protocol does not allow; the message says what."""
