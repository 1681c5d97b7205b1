"""The event sink services report domain events to (EventSub delivers them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class EventSink(Protocol):
    """Where services report what happened, as EventSub `type` + Twitch-shaped `event` fields.

    `emit` never blocks and never raises: implementations queue the event and deliver it
    later (the outbox). Matching against subscription conditions uses the event's own fields
    (e.g. `broadcaster_user_id`, `from_broadcaster_user_id`, `to_broadcaster_user_id`).
    """

    def emit(self, type: str, event: Mapping[str, Any]) -> None: ...

    def wants(self, type: str) -> bool:
        """Whether an event of `type` would be used now; producers on hot paths (every chat
        message) ask before building the event."""
        ...


class DiscardEvents:
    """An EventSink for tools and tests that have no EventSub (drops every event)."""

    def emit(self, type: str, event: Mapping[str, Any]) -> None:
        return None

    def wants(self, type: str) -> bool:
        return False
