"""FanoutRoom with tiny fake subscribers: groups, caps, exclusion, batching, slow clients."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from wsproto import ConnectionType
from wsproto.connection import Connection as WsClient
from wsproto.events import TextMessage

from streamhub.chat.events import (
    CAP_COMMANDS,
    CAP_MEMBERSHIP,
    CAP_TAGS,
    Category,
    RoomEvent,
    Subscriber,
)
from streamhub.chat.fanout import FanoutRoom, FlushThrottle, WriteBudget
from streamhub.protocols.irc.message import Message

ALL_CAPS = frozenset({CAP_TAGS, CAP_COMMANDS, CAP_MEMBERSHIP})


class FakeSub:
    """A subscriber that records what it is sent."""

    def __init__(
        self, kind: str = "ws", caps: frozenset[str] = frozenset(), user_id: str | None = None,
    ) -> None:
        self.transport_kind = kind
        self.caps = caps
        self.user_id = user_id
        self.writes: list[bytes] = []
        self.closed: str | None = None
        self.stalled = False  # writes pile up in the "transport"
        self.buffered = 0
        self.fail = False
        self.on_write: Callable[[], None] | None = None

    def write_encoded(self, payload: bytes) -> None:
        if self.fail:
            raise ConnectionResetError("boom")
        self.writes.append(payload)
        if self.stalled:
            self.buffered += len(payload)
        if self.on_write is not None:
            self.on_write()

    def buffered_bytes(self) -> int:
        return self.buffered

    def close(self, reason: str) -> None:
        self.closed = reason

    def frames(self) -> list[list[str]]:
        """Per write: the IRC lines it carried (each ws write must be one text frame)."""
        out = []
        for payload in self.writes:
            if self.transport_kind == "ws":
                client = WsClient(ConnectionType.CLIENT)
                client.receive_data(payload)
                (event,) = list(client.events())
                assert isinstance(event, TextMessage) and event.message_finished
                text = event.data
            else:
                text = payload.decode()
            assert text.endswith("\r\n")
            out.append(text.split("\r\n")[:-1])
        return out

    def lines(self) -> list[str]:
        return [line for frame in self.frames() for line in frame]


def _check_protocol(sub: FakeSub) -> Subscriber:
    return sub


def privmsg(text: str, sender: str = "alice", uid: str | None = None) -> RoomEvent:
    msg = Message("PRIVMSG", ("#room", text), {"user-id": uid or "0"},
                  f"{sender}!{sender}@{sender}.tmi.twitch.tv")
    return RoomEvent(msg, Category.CHAT, uid)


def join(login: str) -> RoomEvent:
    msg = Message("JOIN", ("#room",), {}, f"{login}!{login}@{login}.tmi.twitch.tv")
    return RoomEvent(msg, Category.MEMBERSHIP)


def clearchat() -> RoomEvent:
    return RoomEvent(Message("CLEARCHAT", ("#room",), {"room-id": "1"}, "tmi.twitch.tv"),
                     Category.COMMANDS)


async def until(cond: Callable[[], bool], timeout: float = 2.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


async def test_groups_get_one_payload_each_encoded_once() -> None:
    room = FanoutRoom("room")
    ws_tags = [FakeSub("ws", frozenset({CAP_TAGS})) for _ in range(3)]
    ws_plain = [FakeSub("ws") for _ in range(2)]
    tcp_tags = [FakeSub("tcp", frozenset({CAP_TAGS})) for _ in range(2)]
    for sub in (*ws_tags, *ws_plain, *tcp_tags):
        room.add(sub)
    assert len(room) == 7
    room.deliver(privmsg("hello", uid="7"))
    room.deliver(privmsg("world", uid="7"))
    await asyncio.sleep(0)
    # Same payload object for every member of a group: encoded once.
    assert len({id(s.writes[0]) for s in ws_tags}) == 1
    assert len({id(s.writes[0]) for s in ws_plain}) == 1
    assert ws_tags[0].frames() == [[
        "@user-id=7 :alice!alice@alice.tmi.twitch.tv PRIVMSG #room :hello",
        "@user-id=7 :alice!alice@alice.tmi.twitch.tv PRIVMSG #room :world",
    ]]
    assert ws_plain[0].frames() == [[
        ":alice!alice@alice.tmi.twitch.tv PRIVMSG #room :hello",
        ":alice!alice@alice.tmi.twitch.tv PRIVMSG #room :world",
    ]]
    assert tcp_tags[1].writes == [
        b"@user-id=7 :alice!alice@alice.tmi.twitch.tv PRIVMSG #room :hello\r\n"
        b"@user-id=7 :alice!alice@alice.tmi.twitch.tv PRIVMSG #room :world\r\n"
    ]
    assert room.stats.flushes == 1 and room.stats.writes == 7


async def test_caps_filter_membership_and_commands() -> None:
    room = FanoutRoom("room")
    plain = FakeSub("tcp")
    members = FakeSub("tcp", frozenset({CAP_MEMBERSHIP}))
    commands = FakeSub("ws", frozenset({CAP_COMMANDS, CAP_TAGS}))
    everything = FakeSub("ws", ALL_CAPS)
    for sub in (plain, members, commands, everything):
        room.add(sub)
    room.deliver(join("bob"))
    room.deliver(clearchat())
    room.deliver(privmsg("hi"))
    await asyncio.sleep(0)
    assert [line.split(" ")[1] for line in plain.lines()] == ["PRIVMSG"]
    assert [line.split(" ")[1] for line in members.lines()] == ["JOIN", "PRIVMSG"]
    assert [line.split(" ")[2] for line in commands.lines()] == ["CLEARCHAT", "PRIVMSG"]
    assert len(everything.lines()) == 3


async def test_group_with_nothing_to_receive_gets_no_write() -> None:
    room = FanoutRoom("room")
    plain, members = FakeSub(), FakeSub(caps=frozenset({CAP_MEMBERSHIP}))
    room.add(plain)
    room.add(members)
    room.deliver(join("bob"))
    await asyncio.sleep(0)
    assert plain.writes == [] and len(members.writes) == 1


async def test_sender_connections_skip_their_own_message_only() -> None:
    room = FanoutRoom("room")
    own_ws = FakeSub("ws", frozenset({CAP_TAGS}), user_id="42")
    own_tcp = FakeSub("tcp", user_id="42")
    other = FakeSub("ws", frozenset({CAP_TAGS}), user_id="43")
    anon = FakeSub("ws", frozenset({CAP_TAGS}))
    for sub in (own_ws, own_tcp, other, anon):
        room.add(sub)
    room.deliver(privmsg("first", "carol", uid="43"))
    room.deliver(privmsg("mine", "dave", uid="42"))
    room.deliver(privmsg("last", "carol", uid="43"))
    await asyncio.sleep(0)

    def texts(sub: FakeSub) -> list[str]:
        return [line.rsplit(":", 1)[1] for line in sub.lines()]

    assert texts(own_ws) == ["first", "last"]
    assert texts(own_tcp) == ["first", "last"]
    assert texts(other) == ["mine"]  # 43 skips its own "first" and "last"
    assert texts(anon) == ["first", "mine", "last"]


async def test_sender_alone_in_batch_gets_nothing() -> None:
    room = FanoutRoom("room")
    own, other = FakeSub(user_id="42"), FakeSub(user_id="1")
    room.add(own)
    room.add(other)
    room.deliver(privmsg("mine", uid="42"))
    await asyncio.sleep(0)
    assert own.writes == [] and len(other.writes) == 1


async def test_immediate_when_quiet() -> None:
    room = FanoutRoom("room", quiet_threshold=1)
    sub = FakeSub()
    room.add(sub)
    room.deliver(privmsg("one"))
    assert sub.writes == []  # never written inline: on the next loop iteration
    await asyncio.sleep(0)
    assert len(sub.writes) == 1
    await asyncio.sleep(room.interval * 1.5)  # quiet again
    room.deliver(privmsg("two"))
    await asyncio.sleep(0)
    assert len(sub.writes) == 2


async def test_coalesced_when_busy_into_one_frame() -> None:
    loop = asyncio.get_running_loop()
    room = FanoutRoom("room", quiet_threshold=1, base_interval=0.05, max_interval=0.05)
    sub = FakeSub("ws")
    room.add(sub)
    room.deliver(privmsg("one"))
    await asyncio.sleep(0)
    first = loop.time()
    assert len(sub.frames()) == 1
    for text in ("two", "three", "four"):
        room.deliver(privmsg(text))
        await asyncio.sleep(0)
    assert len(sub.writes) == 1  # held back: the room is busy
    await until(lambda: len(sub.writes) == 2)
    assert loop.time() - first >= 0.045
    assert [line.rsplit(":", 1)[1] for line in sub.frames()[1]] == ["two", "three", "four"]


async def test_burst_of_quiet_threshold_goes_out_at_once() -> None:
    room = FanoutRoom("room", quiet_threshold=3, base_interval=0.2, max_interval=0.2)
    sub = FakeSub("tcp")
    room.add(sub)
    for n in range(3):
        room.deliver(privmsg(str(n)))
        await asyncio.sleep(0)
        assert len(sub.writes) == n + 1
    room.deliver(privmsg("3"))
    await asyncio.sleep(0)
    assert len(sub.writes) == 3
    await until(lambda: len(sub.writes) == 4)


def test_flush_throttle_does_not_drift() -> None:
    throttle = FlushThrottle(1)
    interval = 0.05
    starts = []
    now = 0.0
    slot = throttle.slot(now, interval)
    for _ in range(10):
        now = slot + 0.002  # the loop wakes a little late
        throttle.book(slot, now, interval)
        starts.append(now)
        now += 0.03  # the flush itself takes 30 ms; an event arrives right after
        slot = throttle.slot(now, interval)
    assert starts[-1] == pytest.approx(9 * interval + 0.002)  # not 9 * (50 + 32) ms


def test_flush_throttle_burst_then_one_per_interval() -> None:
    throttle = FlushThrottle(3)
    assert [throttle.slot(0.0, 0.1) for _ in range(1)] == [0.0]
    for _ in range(3):
        slot = throttle.slot(0.0, 0.1)
        assert slot == 0.0
        throttle.book(slot, 0.0, 0.1)
    assert throttle.slot(0.0, 0.1) == pytest.approx(0.1)
    # A late wake-up is not caught up with a burst of more than `burst` flushes.
    throttle.book(0.1, 5.0, 0.1)
    assert throttle.slot(5.0, 0.1) == 5.0


async def test_overlong_flush_is_followed_by_a_pause() -> None:
    clock = [100.0]
    room = FanoutRoom("room", loop_time=lambda: clock[0], quiet_threshold=5,
                      base_interval=0.05, max_interval=0.05)
    sub = FakeSub("tcp")

    def slow_write() -> None:
        clock[0] += 0.04  # this flush takes 40 ms of a 50 ms interval

    sub.on_write = slow_write
    room.add(sub)
    room.deliver(privmsg("one"))
    await asyncio.sleep(0)
    assert len(sub.writes) == 1 and room.stats.last_flush_s == pytest.approx(0.04)
    room.deliver(privmsg("two"))  # burst credit left, but flushing must stay <= 50 %
    await asyncio.sleep(0)
    assert len(sub.writes) == 1
    await until(lambda: len(sub.writes) == 2)


def test_flush_throttle_hold_keeps_burst_credit() -> None:
    throttle = FlushThrottle(3)
    throttle.book(throttle.slot(0.0, 0.1), 0.0, 0.1)
    throttle.hold(0.05)
    assert throttle.slot(0.0, 0.1) == 0.05
    assert throttle.slot(0.06, 0.1) == 0.06  # credit for the burst is still there


def test_interval_follows_node_budget() -> None:
    budget = WriteBudget(1000.0)
    room_a = FanoutRoom("a", budget=budget, base_interval=0.05, max_interval=0.25)
    room_b = FanoutRoom("b", budget=budget, base_interval=0.05, max_interval=0.25)
    for _ in range(20):
        room_a.add(FakeSub())
    assert room_b.interval == 0.05  # 20 / 1000 < base
    for _ in range(80):
        room_b.add(FakeSub())
    assert room_a.interval == pytest.approx(0.1)  # 100 subscribers on the node / 1000
    for _ in range(400):
        room_b.add(FakeSub())
    assert room_a.interval == 0.25  # clamped


async def test_slow_client_dropped_while_others_keep_receiving() -> None:
    room = FanoutRoom("room", max_buffered_bytes=1000)
    slow, fast = FakeSub(), FakeSub()
    slow.stalled = True
    room.add(slow)
    room.add(fast)
    room.deliver(privmsg("x" * 400))
    await asyncio.sleep(0)
    assert slow.closed is None  # 400-odd bytes buffered: still under the limit
    room.deliver(privmsg("y" * 700))
    await until(lambda: slow.closed is not None)
    assert slow.closed == "slow client" and slow not in room
    assert len(room) == 1 and room.stats.slow_disconnects == 1
    room.deliver(privmsg("z"))
    await until(lambda: len(fast.writes) == 3)
    assert len(slow.writes) == 2


async def test_failing_write_drops_only_that_subscriber() -> None:
    room = FanoutRoom("room")
    bad, good1, good2 = FakeSub(), FakeSub(), FakeSub()
    bad.fail = True
    for sub in (good1, bad, good2):
        room.add(sub)
    room.deliver(privmsg("hi"))
    await asyncio.sleep(0)
    assert bad.closed == "write failed" and bad not in room
    assert len(good1.writes) == len(good2.writes) == 1
    assert room.stats.write_failures == 1


async def test_subscriber_removed_during_flush_is_safe() -> None:
    room = FanoutRoom("room")
    subs = [FakeSub() for _ in range(5)]
    for sub in subs:
        room.add(sub)
    # The first write makes its owner leave the room and take another member along.
    def leave() -> None:
        room.remove(subs[0])
        room.remove(subs[3])

    subs[0].on_write = leave
    room.deliver(privmsg("hi"))
    await asyncio.sleep(0)
    assert len(room) == 3
    assert all(len(s.writes) == 1 for s in subs)  # snapshot taken at flush start


async def test_refresh_regroups_after_caps_change() -> None:
    room = FanoutRoom("room")
    sub = FakeSub("tcp")
    room.add(sub)
    sub.caps = frozenset({CAP_MEMBERSHIP})
    room.refresh(sub)
    room.deliver(join("bob"))
    await asyncio.sleep(0)
    assert sub.lines() == [":bob!bob@bob.tmi.twitch.tv JOIN #room"]


async def test_pending_queue_is_bounded() -> None:
    room = FanoutRoom("room", max_pending=3)
    sub = FakeSub("tcp")
    room.add(sub)
    for n in range(5):
        room.deliver(privmsg(str(n)))
    await asyncio.sleep(0)
    assert [line.rsplit(":", 1)[1] for line in sub.lines()] == ["2", "3", "4"]
    assert room.stats.dropped_events == 2


async def test_close_flushes_pending_and_releases_budget() -> None:
    budget = WriteBudget(1000.0)
    room = FanoutRoom("room", budget=budget)
    sub = FakeSub("tcp")
    room.add(sub)
    room.deliver(privmsg("bye"))
    await room.close()
    assert len(sub.writes) == 1 and budget.subscribers == 0
    room.deliver(privmsg("late"))  # ignored
    await asyncio.sleep(0)
    assert len(sub.writes) == 1 and sub.closed is None


def test_unknown_transport_kind_rejected() -> None:
    with pytest.raises(ValueError, match="transport kind"):
        FanoutRoom("room").add(FakeSub("carrier-pigeon"))
