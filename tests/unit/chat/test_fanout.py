"""FanoutRoom with tiny fake subscribers: groups, caps, exclusion, rolling passes, budget,
slow clients."""

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
    assert room.stats.passes == 1 and room.stats.writes == 7


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
    await asyncio.sleep(0.075)  # quiet again (base_interval 0.05)
    room.deliver(privmsg("two"))
    await asyncio.sleep(0)
    assert len(sub.writes) == 2


async def test_coalesced_when_busy_into_one_frame() -> None:
    loop = asyncio.get_running_loop()
    room = FanoutRoom("room", quiet_threshold=1, base_interval=0.05)
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
    room = FanoutRoom("room", quiet_threshold=3, base_interval=0.2)
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


async def test_events_arriving_mid_pass_reach_the_rest_in_the_same_pass() -> None:
    room = FanoutRoom("room", chunk=2)
    subs = [FakeSub("tcp") for _ in range(5)]
    for sub in subs:
        room.add(sub)
    room.deliver(privmsg("one"))
    await asyncio.sleep(0)  # the pass starts: one chunk per loop iteration
    assert [len(s.writes) for s in subs] == [1, 1, 0, 0, 0]
    room.deliver(privmsg("two"))
    await until(lambda: all(len(s.lines()) == 2 for s in subs))

    def frames(sub: FakeSub) -> list[list[str]]:
        return [[line.rsplit(":", 1)[1] for line in f] for f in sub.frames()]

    assert frames(subs[0]) == frames(subs[1]) == [["one"], ["two"]]  # the next pass
    assert all(frames(s) == [["one", "two"]] for s in subs[2:])  # one write, both lines
    assert room.stats.writes == 7 and room.stats.passes == 2


async def test_big_room_is_written_in_chunks_each_subscriber_once() -> None:
    room = FanoutRoom("room", chunk=512, write_budget_per_s=1e9)
    subs = [FakeSub("ws") for _ in range(2000)]
    for sub in subs:
        room.add(sub)
    room.deliver(privmsg("hello"))
    await asyncio.sleep(0)
    assert sum(len(s.writes) for s in subs) == 512  # then the loop runs other work
    await until(lambda: all(s.writes for s in subs))
    assert all(len(s.writes) == 1 for s in subs) and room.stats.passes == 1
    assert len({id(s.writes[0]) for s in subs}) == 1  # one payload for all


async def test_budget_paces_the_writes() -> None:
    loop = asyncio.get_running_loop()
    room = FanoutRoom("room", budget=WriteBudget(100.0, burst=2))
    subs = [FakeSub("tcp") for _ in range(6)]
    for sub in subs:
        room.add(sub)
    started = loop.time()
    room.deliver(privmsg("paced"))
    await asyncio.sleep(0)
    assert sum(len(s.writes) for s in subs) == 2  # the burst
    await until(lambda: all(s.writes for s in subs))
    assert loop.time() - started >= 0.035  # 4 more writes at 100/s
    assert all(len(s.writes) == 1 for s in subs)


async def test_rooms_share_the_node_budget() -> None:
    budget = WriteBudget(200.0, burst=3)
    rooms = [FanoutRoom(name, budget=budget) for name in ("a", "b")]
    subs = {room.name: [FakeSub("tcp") for _ in range(3)] for room in rooms}
    for room in rooms:
        for sub in subs[room.name]:
            room.add(sub)
        room.deliver(privmsg(room.name))
    assert budget.subscribers == 6
    await asyncio.sleep(0)
    everyone = [s for group in subs.values() for s in group]
    assert sum(len(s.writes) for s in everyone) == 3
    await until(lambda: all(s.writes for s in everyone))
    assert all(s.lines()[0].endswith(f":{name}") for name, group in subs.items() for s in group)


async def test_new_subscriber_gets_only_later_events() -> None:
    room = FanoutRoom("room")
    early = FakeSub("tcp")
    room.add(early)
    room.deliver(privmsg("before"))
    late = FakeSub("tcp")
    room.add(late)  # added before the pass ran
    room.deliver(privmsg("after"))
    await until(lambda: len(early.lines()) == 2)
    await asyncio.sleep(0)
    assert [line.rsplit(":", 1)[1] for line in late.lines()] == ["after"]


async def test_refresh_mid_pass_keeps_place_and_events() -> None:
    room = FanoutRoom("room", chunk=1)
    subs = [FakeSub("tcp") for _ in range(3)]
    for sub in subs:
        room.add(sub)
    room.deliver(privmsg("one"))
    await asyncio.sleep(0)
    subs[2].caps = frozenset({CAP_MEMBERSHIP})
    room.refresh(subs[2])
    room.deliver(join("bob"))
    await until(lambda: len(subs[2].lines()) == 2)
    await until(lambda: room.stats.passes == 2)
    assert [line.split(" ")[1] for line in subs[2].lines()] == ["PRIVMSG", "JOIN"]
    assert all(len(s.lines()) == 1 for s in subs[:2])  # JOIN needs the membership cap


def test_write_budget_token_bucket() -> None:
    budget = WriteBudget(1000.0, burst=100)
    assert budget.take(60, 0.0) == 60
    assert budget.take(60, 0.0) == 40  # what is left of the burst
    assert budget.take(10, 0.0) == 0
    assert budget.delay(50, 0.0) == pytest.approx(0.05)
    assert budget.take(50, 0.05) == 50  # refilled at 1000/s
    budget.give_back(20)
    assert budget.take(100, 0.05) == 20
    assert budget.take(1000, 10.0) == 100  # never more than the burst
    assert budget.delay(1000, 10.0) == pytest.approx(0.1)  # waits for at most the burst
    with pytest.raises(ValueError):
        WriteBudget(0)


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
    assert subs[3].writes == []  # it left before the pass reached it
    assert all(len(s.writes) == 1 for s in (subs[0], subs[1], subs[2], subs[4]))


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
