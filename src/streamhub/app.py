"""The one composition root: builds and wires the services of a node."""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import time
from dataclasses import dataclass

import uvicorn

from streamhub.api.app import build_api
from streamhub.api.context import ApiContext
from streamhub.api.eventsub.service import EventSubService
from streamhub.api.helix.streams import viewer_count
from streamhub.api.ratelimit import TokenBuckets
from streamhub.channels.bits import BitsService
from streamhub.channels.health import HealthHistory
from streamhub.channels.profile import ViewerSettingsCache
from streamhub.channels.raids import RaidService
from streamhub.channels.service import ChannelService, UserInfo
from streamhub.channels.streams import EventFanout, LiveDirectory, StreamSessions, node_name
from streamhub.channels.subscriptions import SubscriptionService
from streamhub.channels.tokens import TokenService
from streamhub.chat.bus import Bus, MemoryBus, RedisBus
from streamhub.chat.fanout import FanoutRoom, WriteBudget
from streamhub.chat.gateway import ChatGateway, Connection
from streamhub.chat.http import chat_routes
from streamhub.chat.presence import LocalPresence, Presence, RedisPresence
from streamhub.chat.ratelimit import ChatRateLimiter, Limit, RateLimits
from streamhub.chat.service import ChatService
from streamhub.chat.session import ChatSession
from streamhub.chat.sharedlimits import (
    LocalMessageLimiter,
    MessageLimiter,
    RedisMessageLimiter,
)
from streamhub.chat.store import ChatStore
from streamhub.config import Settings
from streamhub.delivery.http_protocol import HttpProtocol
from streamhub.delivery.origin import build_http_app
from streamhub.delivery.vod_http import vod_routes
from streamhub.events import EventSink
from streamhub.ingest.hub import LiveHub
from streamhub.ingest.server import RtmpServer
from streamhub.storage.blobs import LocalBlobStore
from streamhub.storage.db import make_engine, migrate, sessionmaker
from streamhub.web.channel import channel_page
from streamhub.web.directory import home_page
from streamhub.web.thumbnails import ThumbnailService


@dataclass(frozen=True, slots=True)
class Bound:
    """Where the node actually listens (port 0 resolved)."""

    host: str
    http_port: int
    rtmp_port: int
    chat_ws_port: int
    chat_irc_port: int
    chat_wss_port: int | None = None
    chat_ircs_port: int | None = None

    def public(self, public_host: str | None) -> tuple[str, str]:
        host = public_host or ("127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host)
        return f"http://{host}:{self.http_port}", f"rtmp://{host}:{self.rtmp_port}/live"


class Node:
    """An all-in-one StreamHub node: database, channels, RTMP ingest, transcode, LL-HLS origin."""

    def __init__(self, settings: Settings, logger: logging.Logger | None = None) -> None:
        self.settings = settings
        self.log = logger or logging.getLogger("streamhub")
        self.engine = make_engine(settings.resolved_database_url)
        sessions = sessionmaker(self.engine)
        self.sessions = sessions
        self.eventsub = EventSubService(sessions, settings, logger=self.log.getChild("eventsub"))
        self.live = LiveDirectory(sessions, ttl=settings.streams_cache_ttl)
        self.viewer_settings = ViewerSettingsCache(sessions, ttl=settings.streams_cache_ttl)
        self.events: EventSink = EventFanout(self.eventsub, self.live, self.viewer_settings)
        self.channels = ChannelService(sessions)
        self.tokens = TokenService(sessions, cache_ttl=settings.token_cache_ttl)
        self.stream_sessions = StreamSessions(
            sessions, self.events, node=node_name(settings.data_dir),
            logger=self.log.getChild("streams"))
        self.hub = LiveHub(
            settings=settings,
            keys=self.channels,
            media_root=settings.data_dir / "media",
            logger=self.log.getChild("live"),
            listener=self.stream_sessions,
        )
        self.rtmp = RtmpServer(
            self.hub, host=settings.host, port=settings.rtmp_port, logger=self.log.getChild("rtmp")
        )
        # chat: one bus (in-process, or Redis across nodes), rooms sharing one write budget
        self.bus: Bus = (
            RedisBus(settings.redis_url, logger=self.log.getChild("bus"))
            if settings.redis_url else MemoryBus(logger=self.log.getChild("bus"))
        )
        self.eventsub.attach_bus(self.bus)
        self.blobs = LocalBlobStore(settings.data_dir / "blobs")
        self.presence: Presence = (
            RedisPresence(settings.redis_url) if settings.redis_url else LocalPresence()
        )
        self.message_limiter: MessageLimiter = (
            RedisMessageLimiter(settings.redis_url) if settings.redis_url
            else LocalMessageLimiter()
        )
        budget = WriteBudget(settings.chat_write_budget)  # shared by the node's rooms
        chat_log = self.log.getChild("chat")
        # subscriptions and Bits: chat reads badges from them, they tell chat what changed
        self.subscriptions = SubscriptionService(
            sessions, events=self.events, logger=self.log.getChild("subscriptions"))
        self.bits = BitsService(sessions)
        self.chat = ChatService(
            store=ChatStore(sessions, logger=chat_log),
            bus=self.bus,
            logger=chat_log,
            fanout_factory=lambda name: FanoutRoom(name, budget=budget, logger=chat_log),
            blobs=self.blobs,
            limiter=self.message_limiter,
            events=self.events,
            subscriptions=self.subscriptions,
            bits=self.bits,
            presence=self.presence,
        )
        self.subscriptions.attach_chat(self.chat)
        self.raids = RaidService(
            sessions=sessions, chat=self.chat, hub=self.hub, presence=self.presence,
            events=self.events, delay=settings.raid_delay, logger=self.log.getChild("raids"))
        self.health = HealthHistory(
            self.hub.streams, viewers=lambda login: viewer_count(self.api, login),
            chat_messages=self._chat_messages, interval=settings.health_sample_interval,
            logger=self.log.getChild("health"))
        self.api = ApiContext(
            settings=settings, sessions=sessions, channels=self.channels, tokens=self.tokens,
            chat=self.chat, hub=self.hub, presence=self.presence, blobs=self.blobs,
            events=self.events, buckets=TokenBuckets(settings.helix_rate_limit),
            raids=self.raids, live=self.live, eventsub=self.eventsub,
            chat_ports=self._chat_ports, rtmp_port=self._rtmp_port, health=self.health,
            subscriptions=self.subscriptions, bits=self.bits,
        )
        self.thumbnails = ThumbnailService(
            self.hub, folder=settings.data_dir / "thumbnails", ffmpeg=settings.ffmpeg_path,
            interval=settings.thumbnail_interval, logger=self.log.getChild("thumbnails"))
        vod = vod_routes(sessions, settings.data_dir / "media", capture=self.thumbnails.capture,
                         logger=self.log.getChild("vod"))
        origin = build_http_app(
            settings=settings, hub=self.hub, channels=self.channels,
            extra_routes=[*chat_routes(self.chat, self.tokens, self.blobs, self.presence), *vod],
            channel_settings=self.viewer_settings.get,
            home_page=home_page(self.api),
            channel_page=channel_page(self.api),
        )
        self.http_app = build_api(self.api, fallback=origin)
        self.chat_sessions: set[ChatSession] = set()
        auth_limits = ChatRateLimiter(RateLimits(join_auth=Limit(settings.chat_auth_limit, 10.0)))

        def new_session(conn: Connection) -> ChatSession:
            session = ChatSession(
                conn, self.chat, self.tokens, auth_limiter=auth_limits, clock=time.time,
                on_closed=self.chat_sessions.discard,
            )
            self.chat_sessions.add(session)
            return session

        tls = settings.chat_tls_context()
        self.chat_gateway = ChatGateway(
            new_session, host=settings.host, ws_port=settings.chat_ws_port,
            irc_port=settings.chat_irc_port, logger=self.log.getChild("chat.gateway"),
            reuse_port=settings.chat_reuse_port,
            tls=tls, wss_port=settings.chat_wss_port if tls else None,
            ircs_port=settings.chat_ircs_port if tls else None,
        )
        self._keepalive: asyncio.Task[None] | None = None
        self._http: uvicorn.Server | None = None
        self._http_task: asyncio.Task[None] | None = None
        self.bound: Bound | None = None

    def _chat_ports(self) -> tuple[int, int | None]:
        if self.bound is None:
            return self.settings.chat_ws_port, None
        return self.bound.chat_ws_port, self.bound.chat_wss_port

    def _rtmp_port(self) -> int:
        return self.settings.rtmp_port if self.bound is None else self.bound.rtmp_port

    def _chat_messages(self, login: str) -> int:
        room = self.chat.rooms.get(login)
        return room.messages if room is not None else 0

    async def start(self, *, run_migrations: bool = True) -> Bound:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        if run_migrations:
            await migrate(self.settings.resolved_database_url)
        await self.stream_sessions.close_orphans()
        await self.chat.start()
        await self.rtmp.start()
        await self.chat_gateway.start()
        self._keepalive = asyncio.create_task(self._chat_keepalive())
        self.thumbnails.start()
        self.health.start()
        sock = socket.socket(
            socket.AF_INET6 if ":" in self.settings.host else socket.AF_INET, socket.SOCK_STREAM
        )
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.settings.host, self.settings.http_port))
        sock.listen(2048)
        sock.setblocking(False)
        config = uvicorn.Config(
            self.http_app,
            http=HttpProtocol,  # a response's head and first body write in one segment
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=3,
        )
        self._http = uvicorn.Server(config)
        self._http_task = asyncio.create_task(self._http.serve(sockets=[sock]))
        while not self._http.started:
            if self._http_task.done():
                self._http_task.result()
            await asyncio.sleep(0.02)
        tls = self.settings.chat_tls_cert is not None
        self.bound = Bound(
            self.settings.host, sock.getsockname()[1], self.rtmp.port,
            self.chat_gateway.ws_port, self.chat_gateway.irc_port,
            self.chat_gateway.wss_port if tls else None,
            self.chat_gateway.ircs_port if tls else None,
        )
        web, rtmp = self.bound.public(self.settings.public_host)
        await self.eventsub.start(web)
        self.log.info("http listening on %s", web)
        self.log.info("rtmp listening on %s", rtmp)
        self.log.info("chat listening on ws port %d, irc port %d",
                      self.bound.chat_ws_port, self.bound.chat_irc_port)
        return self.bound

    async def _chat_keepalive(self) -> None:
        """Ping chat clients periodically (dropping those silent for two intervals); every
        5 s close rooms left empty for a minute and report this node's room counts."""
        interval = self.settings.chat_keepalive
        next_ping = time.monotonic() + interval
        while True:
            await asyncio.sleep(min(5.0, max(0.0, next_ping - time.monotonic())))
            if time.monotonic() >= next_ping:
                next_ping += interval
                now = time.time()
                for session in list(self.chat_sessions):
                    session.keepalive(now, idle_limit=2 * interval)
            self.chat.close_idle_rooms()
            rooms = list(self.chat.rooms.items())
            counts = {name: self.chat.local_counts(room) for name, room in rooms}
            chatters = {name: self.chat.local_chatters(room) for name, room in rooms}
            try:
                await self.presence.report(counts, chatters)
            except Exception as exc:  # Redis away: counts are stale until it is back
                self.log.warning("chat presence report failed: %s", exc)

    async def ensure_demo_user(self) -> tuple[UserInfo, str | None] | None:
        """The demo user, created on first start with a random password (returned only
        then, for `streamhub up` to print once; it is stored hashed)."""
        login = self.settings.demo_user
        if not login:
            return None
        user = await self.channels.get_user(login)
        if user is not None:
            return user, None
        password = secrets.token_urlsafe(12)
        user = await self.channels.create_user(login, password)
        self.log.info("created demo user %s", login)
        return user, password

    async def stop(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
        await self.health.stop()
        await self.thumbnails.stop()
        await self.eventsub.stop()  # websocket clients get session_reconnect
        await self.raids.close()
        await self.chat_gateway.close(reconnect=True)
        await self.chat.close()
        await self.bus.close()
        if isinstance(self.message_limiter, RedisMessageLimiter):
            await self.message_limiter.close()
        if isinstance(self.presence, RedisPresence):
            await self.presence.close()
        await self.rtmp.close()
        await self.hub.close()
        await self.stream_sessions.drain()
        if self._http is not None:
            self._http.should_exit = True
        if self._http_task is not None:
            await self._http_task
        await self.engine.dispose()
