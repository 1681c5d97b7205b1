"""EventFanout hands each event only to the sinks that want it, and says whether any does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streamhub.channels.streams import EventFanout


class Sink:
    def __init__(self, *wanted: str) -> None:
        self.wanted = set(wanted)
        self.got: list[str] = []

    def wants(self, type: str) -> bool:
        return type in self.wanted

    def emit(self, type: str, event: Mapping[str, Any]) -> None:
        self.got.append(type)


def test_only_wanting_sinks_get_events() -> None:
    a, b = Sink("stream.online"), Sink("stream.online", "channel.chat.message")
    fanout = EventFanout(a, b)
    assert fanout.wants("channel.chat.message") and not fanout.wants("channel.ban")
    for type in ("stream.online", "channel.chat.message", "channel.ban"):
        fanout.emit(type, {})
    assert a.got == ["stream.online"]
    assert b.got == ["stream.online", "channel.chat.message"]
