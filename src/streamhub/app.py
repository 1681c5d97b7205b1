"""The one composition root: builds and wires the services of a node."""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass

import uvicorn

from streamhub.channels.service import ChannelService, UserInfo
from streamhub.config import Settings
from streamhub.delivery.origin import build_http_app
from streamhub.ingest.hub import LiveHub
from streamhub.ingest.server import RtmpServer
from streamhub.storage.db import make_engine, migrate, sessionmaker


@dataclass(frozen=True, slots=True)
class Bound:
    """Where the node actually listens (port 0 resolved)."""

    host: str
    http_port: int
    rtmp_port: int

    def public(self, public_host: str | None) -> tuple[str, str]:
        host = public_host or ("127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host)
        return f"http://{host}:{self.http_port}", f"rtmp://{host}:{self.rtmp_port}/live"


class Node:
    """An all-in-one StreamHub node: database, channels, RTMP ingest, transcode, LL-HLS origin."""

    def __init__(self, settings: Settings, logger: logging.Logger | None = None) -> None:
        self.settings = settings
        self.log = logger or logging.getLogger("streamhub")
        self.engine = make_engine(settings.resolved_database_url)
        self.channels = ChannelService(sessionmaker(self.engine))
        self.hub = LiveHub(
            settings=settings,
            keys=self.channels,
            media_root=settings.data_dir / "media",
            logger=self.log.getChild("live"),
        )
        self.rtmp = RtmpServer(
            self.hub, host=settings.host, port=settings.rtmp_port, logger=self.log.getChild("rtmp")
        )
        self.http_app = build_http_app(settings=settings, hub=self.hub, channels=self.channels)
        self._http: uvicorn.Server | None = None
        self._http_task: asyncio.Task[None] | None = None
        self.bound: Bound | None = None

    async def start(self, *, run_migrations: bool = True) -> Bound:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        if run_migrations:
            await migrate(self.settings.resolved_database_url)
        await self.rtmp.start()
        sock = socket.socket(
            socket.AF_INET6 if ":" in self.settings.host else socket.AF_INET, socket.SOCK_STREAM
        )
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.settings.host, self.settings.http_port))
        sock.listen(2048)
        sock.setblocking(False)
        config = uvicorn.Config(
            self.http_app,
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
        self.bound = Bound(self.settings.host, sock.getsockname()[1], self.rtmp.port)
        web, rtmp = self.bound.public(self.settings.public_host)
        self.log.info("http listening on %s", web)
        self.log.info("rtmp listening on %s", rtmp)
        return self.bound

    async def ensure_demo_user(self) -> UserInfo | None:
        login = self.settings.demo_user
        if not login:
            return None
        user = await self.channels.get_user(login)
        if user is None:
            user = await self.channels.create_user(login)
            self.log.info("created demo user %s", login)
        return user

    async def stop(self) -> None:
        await self.rtmp.close()
        await self.hub.close()
        if self._http is not None:
            self._http.should_exit = True
        if self._http_task is not None:
            await self._http_task
        await self.engine.dispose()
