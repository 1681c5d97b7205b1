"""What API handlers need, built once by the composition root (no globals)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from streamhub.api.eventsub.service import EventSubService
from streamhub.api.ratelimit import TokenBuckets
from streamhub.channels.bits import BitsService
from streamhub.channels.health import HealthHistory
from streamhub.channels.raids import RaidService
from streamhub.channels.service import ChannelService
from streamhub.channels.streams import LiveDirectory
from streamhub.channels.subscriptions import SubscriptionService
from streamhub.channels.tokens import TokenService
from streamhub.chat.presence import Presence
from streamhub.chat.service import ChatService
from streamhub.config import Settings
from streamhub.events import EventSink
from streamhub.ingest.hub import LiveHub
from streamhub.storage.blobs import LocalBlobStore


@dataclass(slots=True)
class ApiContext:
    """Services shared by every router; each router module closes over this."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    channels: ChannelService
    tokens: TokenService
    chat: ChatService
    hub: LiveHub
    presence: Presence
    blobs: LocalBlobStore
    events: EventSink
    live: LiveDirectory
    buckets: TokenBuckets = field(default_factory=TokenBuckets)
    raids: RaidService | None = None  # None: the raids router builds its own
    eventsub: EventSubService | None = None  # None: the router builds a store-only one
    # (ws_port, wss_port) of this node's chat gateway once started; pages link chat to it
    chat_ports: Callable[[], tuple[int, int | None]] | None = None
    # this node's RTMP port once started (the dashboard shows rtmp://<host>:<port>/live)
    rtmp_port: Callable[[], int] | None = None
    health: HealthHistory | None = None  # stream-health samples for the dashboard's charts
    subscriptions: SubscriptionService | None = None  # None: the router builds its own
    bits: BitsService | None = None
