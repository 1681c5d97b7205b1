"""Chat buses: MemoryBus in-process; RedisBus between two "nodes" on a real redis-server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from streamhub.chat.bus import Bus, BusError, MemoryBus, RedisBus
from tests.redis_server import RedisServer


async def until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


class Inbox:
    """Collects the payloads of one room on one node."""

    def __init__(self) -> None:
        self.got: list[bytes] = []

    def __call__(self, payload: bytes) -> None:
        self.got.append(payload)


async def test_memory_bus_delivers_on_the_loop() -> None:
    bus: Bus = MemoryBus()
    a, b = Inbox(), Inbox()
    await bus.subscribe("a", a)
    await bus.subscribe("b", b)
    with pytest.raises(ValueError):
        await bus.subscribe("a", a)
    await bus.publish("a", b"one")
    assert a.got == []  # not inline
    await asyncio.sleep(0)
    assert a.got == [b"one"] and b.got == []
    await bus.publish("nobody", b"x")
    await bus.publish("a", b"two")
    await bus.unsubscribe("a")  # published but not yet delivered: dropped
    await asyncio.sleep(0)
    assert a.got == [b"one"]
    await bus.unsubscribe("a")  # unknown: ignored
    await bus.close()
    with pytest.raises(BusError):
        await bus.publish("b", b"x")


async def test_memory_bus_callback_error_is_contained(caplog: pytest.LogCaptureFixture) -> None:
    bus = MemoryBus()

    def broken(payload: bytes) -> None:
        raise RuntimeError("bad payload")

    await bus.subscribe("a", broken)
    await bus.publish("a", b"x")
    await asyncio.sleep(0)
    assert "bus callback for room a failed" in caplog.text


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    yield server
    server.cleanup()


@pytest.fixture
async def nodes(redis_server: RedisServer) -> AsyncIterator[tuple[RedisBus, RedisBus]]:
    # A fresh channel prefix per test keeps tests apart on the shared server.
    prefix = f"test:{uuid.uuid4().hex}:"
    one = RedisBus(redis_server.url, channel_prefix=prefix, backoff_initial=0.02,
                   backoff_max=0.2, health_interval=0.5)
    two = RedisBus(redis_server.url, channel_prefix=prefix, backoff_initial=0.02,
                   backoff_max=0.2, health_interval=0.5)
    yield one, two
    await one.close()
    await two.close()


async def test_redis_two_nodes_both_get_publishes_from_either(
    nodes: tuple[RedisBus, RedisBus],
) -> None:
    one, two = nodes
    in_one, in_two, other = Inbox(), Inbox(), Inbox()
    await one.subscribe("room", in_one)
    await two.subscribe("room", in_two)
    await two.subscribe("other", other)
    with pytest.raises(ValueError):
        await one.subscribe("room", in_one)
    await one.publish("room", b"from one")
    await two.publish("room", b"from two")
    await until(lambda: len(in_one.got) == 2 and len(in_two.got) == 2)
    assert in_one.got == in_two.got == [b"from one", b"from two"]
    assert other.got == []
    await one.publish("other", b"\x00binary\xff")
    await until(lambda: other.got == [b"\x00binary\xff"])


async def test_redis_unsubscribe(nodes: tuple[RedisBus, RedisBus]) -> None:
    one, two = nodes
    in_one, in_two, probe = Inbox(), Inbox(), Inbox()
    await one.subscribe("room", in_one)
    await one.subscribe("probe", probe)
    await two.subscribe("room", in_two)
    await one.unsubscribe("room")
    await two.publish("room", b"after")
    await two.publish("probe", b"later")
    # Redis sends one connection's messages in order: once the probe arrived, "after"
    # has either arrived too or was never sent to one.
    await until(lambda: in_two.got == [b"after"] and probe.got == [b"later"])
    assert in_one.got == []
    again = Inbox()
    await one.subscribe("room", again)  # a room may be subscribed again after unsubscribe
    await two.publish("room", b"back")
    await until(lambda: again.got == [b"back"])
    assert in_one.got == []


async def test_redis_restart_reconnects_and_resubscribes(redis_server: RedisServer) -> None:
    prefix = "restart:"
    one = RedisBus(redis_server.url, channel_prefix=prefix, backoff_initial=0.02,
                   backoff_max=0.2, health_interval=0.5)
    two = RedisBus(redis_server.url, channel_prefix=prefix, backoff_initial=0.02,
                   backoff_max=0.2, health_interval=0.5)
    try:
        in_one, in_two = Inbox(), Inbox()
        await one.subscribe("room", in_one)
        await two.subscribe("room", in_two)
        await one.wait_connected(5)
        await two.wait_connected(5)
        redis_server.stop(kill=True)
        await until(lambda: not one.connected and not two.connected)
        with pytest.raises(BusError):
            await one.publish("room", b"lost")
        late = Inbox()
        await one.subscribe("late", late)  # while down: subscribed on reconnect
        redis_server.start()
        await asyncio.wait_for(one.wait_connected(), 10)
        await asyncio.wait_for(two.wait_connected(), 10)
        assert one.sessions >= 2 and two.sessions >= 2
        await two.publish("room", b"after restart")
        await one.publish("room", b"and back")
        await two.publish("late", b"late room")
        await until(lambda: len(in_one.got) == 2 and len(in_two.got) == 2 and late.got != [])
        assert in_one.got == in_two.got == [b"after restart", b"and back"]
        assert late.got == [b"late room"]
    finally:
        if redis_server.proc is None:
            redis_server.start()
        await one.close()
        await two.close()


async def test_redis_hung_server_detected_by_ping(redis_server: RedisServer) -> None:
    bus = RedisBus(redis_server.url, channel_prefix="hung:", backoff_initial=0.02,
                   backoff_max=0.2, health_interval=0.2, connect_timeout=0.5)
    try:
        inbox = Inbox()
        await bus.subscribe("room", inbox)
        await bus.wait_connected(5)
        redis_server.pause()
        try:
            await until(lambda: not bus.connected)  # no PONG within 3 health intervals
        finally:
            redis_server.resume()
        await bus.wait_connected(10)
        await bus.publish("room", b"alive")
        await until(lambda: inbox.got == [b"alive"])
    finally:
        await bus.close()


async def test_redis_unreachable_publish_raises_and_close_is_clean() -> None:
    bus = RedisBus("redis://127.0.0.1:1/0", connect_timeout=0.5, backoff_initial=0.02)
    await bus.subscribe("room", Inbox())  # not connected: returns, retries in background
    assert not bus.connected
    with pytest.raises(BusError):
        await bus.publish("room", b"x")
    await bus.close()
    with pytest.raises(BusError):
        await bus.publish("room", b"x")
