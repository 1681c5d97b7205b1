"""A real webhook receiver on 127.0.0.1:0 for EventSub tests (aiohttp, in the test's loop)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Received:
    """One POST as the receiver saw it."""

    at: float
    headers: dict[str, str]
    raw: bytes

    @property
    def type(self) -> str:
        return self.headers["Twitch-Eventsub-Message-Type"]

    @property
    def id(self) -> str:
        return self.headers["Twitch-Eventsub-Message-Id"]

    @property
    def body(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.raw)
        return value

    def signature_ok(self, secret: str) -> bool:
        """The receiver's side of Twitch's check: HMAC over id + timestamp + raw body."""
        mac = hmac.new(secret.encode(), self.id.encode()
                       + self.headers["Twitch-Eventsub-Message-Timestamp"].encode() + self.raw,
                       hashlib.sha256).hexdigest()
        return hmac.compare_digest("sha256=" + mac,
                                   self.headers["Twitch-Eventsub-Message-Signature"])


Answer = Callable[[Received], tuple[int, str]]


def answer_challenges(notifications: int = 204) -> Answer:
    """Echo challenges (200 text/plain), answer everything else with `notifications`."""

    def answer(msg: Received) -> tuple[int, str]:
        if msg.type == "webhook_callback_verification":
            return 200, str(msg.body["challenge"])
        return notifications, ""

    return answer


class Receiver:
    """Records every request; `answer` decides the response (changeable while running)."""

    def __init__(self, answer: Answer | None = None) -> None:
        self.answer = answer or answer_challenges()
        self.received: list[Received] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _handle(self, request: web.Request) -> web.Response:
        msg = Received(time.monotonic(), dict(request.headers), await request.read())
        self.received.append(msg)
        status, text = self.answer(msg)
        return web.Response(status=status, text=text, content_type="text/plain")

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def of_type(self, kind: str) -> list[Received]:
        return [m for m in self.received if m.type == kind]

    async def wait(self, kind: str, count: int, timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.of_type(kind)
            if len(found) >= count:
                return found
            await asyncio.sleep(0.02)
        raise AssertionError(f"timed out waiting for {count} {kind} messages: "
                             f"{[m.type for m in self.received]}")
