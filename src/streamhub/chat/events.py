"""What flows through rooms and buses: an IRC message plus who may receive it."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol

from streamhub.protocols.irc.message import Message


class Category(enum.Enum):
    """Which clients receive an event, by the capabilities they requested."""

    CHAT = "chat"  # PRIVMSG: every client in the room
    MEMBERSHIP = "membership"  # JOIN/PART of other users: clients with twitch.tv/membership
    COMMANDS = "commands"  # CLEARCHAT, CLEARMSG, ROOMSTATE, USERNOTICE, NOTICE: twitch.tv/commands


CAP_TAGS = "twitch.tv/tags"
CAP_COMMANDS = "twitch.tv/commands"
CAP_MEMBERSHIP = "twitch.tv/membership"
KNOWN_CAPS = frozenset({CAP_TAGS, CAP_COMMANDS, CAP_MEMBERSHIP})


@dataclass(frozen=True, slots=True)
class RoomEvent:
    """One message for everyone in a room (who has the capability its category needs).

    `exclude_user_id`: the sender's own connections do not get their PRIVMSG echoed,
    as on Twitch (the sender sees USERSTATE instead).
    """

    message: Message
    category: Category = Category.CHAT
    exclude_user_id: str | None = None
    _cache: dict[bool, bytes] = field(default_factory=dict, compare=False, repr=False)

    def wire(self, *, tags: bool) -> bytes:
        """The CRLF-terminated line, rendered once per tags/no-tags variant."""
        cached = self._cache.get(tags)
        if cached is None:
            cached = (self.message.serialize(tags=tags) + "\r\n").encode("utf-8")
            self._cache[tags] = cached
        return cached

    def delivered_to(self, caps: frozenset[str]) -> bool:
        if self.category is Category.MEMBERSHIP:
            return CAP_MEMBERSHIP in caps
        if self.category is Category.COMMANDS:
            return CAP_COMMANDS in caps
        return True


class Subscriber(Protocol):
    """A client connection as the fan-out sees it (implemented by the gateways)."""

    @property
    def caps(self) -> frozenset[str]: ...

    @property
    def user_id(self) -> str | None: ...

    @property
    def transport_kind(self) -> str:
        """`ws` or `tcp`: fan-out pre-encodes one payload per kind."""
        ...

    def write_encoded(self, payload: bytes) -> None:
        """Write bytes already framed for this transport kind (a WS frame, or raw lines)."""

    def buffered_bytes(self) -> int:
        """Bytes queued in the transport and not yet sent (for slow-client detection)."""
        ...

    def close(self, reason: str) -> None: ...
