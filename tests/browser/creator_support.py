"""Shared by the creator dashboard browser tests: a node, a broadcaster logged in through the
real pages, and real IRC clients driven from a background event loop (Playwright is sync)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from streamhub.protocols.irc.message import Message
from tests.browser.support import CHROMIUM, PASSWORD
from tests.system.harness import NodeProcess
from tests.system.irc_client import IrcClient, Predicate

T = TypeVar("T")


def start_node(tmp: Path) -> NodeProcess:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    return NodeProcess(tmp, transcode_mode="source_only", chat_auth_limit="100000")


def create_account(node: NodeProcess, login: str) -> dict[str, Any]:
    """A user who can log in on the pages with support.PASSWORD."""
    return node.cli("user", "create", login, "--password", PASSWORD)


class ChatLoop:
    """An asyncio loop in a thread for IRC clients; `run` waits for a coroutine's result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.clients: list[IrcClient] = []

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def connect(self, node: NodeProcess, login: str | None, token: str | None,
                channel: str) -> IrcClient:
        async def make() -> IrcClient:
            c = await IrcClient.ws(node.chat_ws_port)
            await c.login(login or f"justinfan{len(self.clients) + 1}77", token)
            await c.join(channel)
            return c
        client = self.run(make())
        self.clients.append(client)
        return client

    def send(self, client: IrcClient, line: str) -> None:
        self.run(client.send(line))

    def expect(self, client: IrcClient, pred: Predicate, what: str,
               timeout: float = 30) -> Message:
        return self.run(client.expect(pred, timeout=timeout, what=what), timeout + 10)

    def close(self) -> None:
        async def close_all() -> None:
            await asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True)
        self.run(close_all())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def chat_loop() -> Iterator[ChatLoop]:
    loop = ChatLoop()
    try:
        yield loop
    finally:
        loop.close()


def is_cmd(command: str, *params: str) -> Predicate:
    return lambda m: m.command == command and tuple(m.params[:len(params)]) == params


def notice(msg_id: str) -> Predicate:
    return lambda m: m.command == "NOTICE" and m.tags.get("msg-id") == msg_id


def privmsg(login: str, text: str) -> Predicate:
    return lambda m: (m.command == "PRIVMSG" and (m.prefix or "").startswith(f"{login}!")
                      and m.params[-1] == text)
