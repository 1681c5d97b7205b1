"""ChatService on a real database (SQLite and PostgreSQL) with the in-process bus."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from streamhub.channels.service import ChannelService
from streamhub.chat.bus import MemoryBus
from streamhub.chat.events import CAP_COMMANDS, CAP_TAGS
from streamhub.chat.service import ChatError, ChatService, ChatUser
from streamhub.chat.store import ChatStore
from streamhub.protocols.irc.message import Message


class Sub:
    """A fan-out subscriber that keeps what it is sent (a TCP-kind connection)."""

    def __init__(self, user_id: int | None) -> None:
        self.caps = frozenset({CAP_TAGS, CAP_COMMANDS})
        self.user_id = None if user_id is None else str(user_id)
        self.transport_kind = "tcp"
        self.data = b""

    def write_encoded(self, payload: bytes) -> None:
        self.data += payload

    def buffered_bytes(self) -> int:
        return 0

    def close(self, reason: str) -> None:
        pass

    def lines(self) -> list[Message]:
        return [Message.parse(x) for x in self.data.decode().split("\r\n") if x]


async def wait_line(sub: Sub, command: str) -> Message:
    async with asyncio.timeout(10):
        while True:
            found = [m for m in sub.lines() if m.command == command]
            if found:
                return found[-1]
            await asyncio.sleep(0.01)


def user(uid: int, login: str) -> ChatUser:
    return ChatUser(uid, login, login.title(), None, frozenset({"chat:read", "chat:edit"}))


async def test_blocked_terms_first_msg_color_and_log(chat: ChatService) -> None:
    owner, talker = user(1, "owner"), user(2, "talker")
    watcher, sender = Sub(None), Sub(2)
    await chat.join(watcher, ChatUser(None, "justinfan1", "justinfan1"), "owner")
    await chat.join(sender, talker, "owner")
    # first message ever in the channel carries first-msg=1, the next one 0
    await chat.send_message(sender, "owner", "hello there")
    assert (await wait_line(watcher, "PRIVMSG")).tags["first-msg"] == "1"
    await chat.send_message(sender, "owner", "hello again")
    await asyncio.sleep(0.05)
    assert [m.tags["first-msg"] for m in watcher.lines() if m.command == "PRIVMSG"] == ["1", "0"]
    # blocked terms: only moderators may set them; they refuse matching messages
    with pytest.raises(ChatError) as err:
        await chat.set_blocked_term("owner", talker, "badword", True)
    assert err.value.msg_id == "no_permission"
    await chat.set_blocked_term("owner", owner, "badword", True)
    with pytest.raises(ChatError) as err:
        await chat.send_message(sender, "owner", "this has BadWord in it")
    assert err.value.msg_id == "msg_rejected_mandatory"
    await chat.set_blocked_term("owner", owner, "badword", False)
    await chat.send_message(sender, "owner", "badword is fine now")
    # color: chosen by name or hex, shown on later messages
    updated = await chat.set_color(talker, "HotPink")
    assert updated.color == "#FF69B4"
    await chat.send_message(sender, "owner", "pink now")
    await asyncio.sleep(0.05)
    assert [m for m in watcher.lines() if m.command == "PRIVMSG"][-1].tags["color"] == "#FF69B4"
    with pytest.raises(ChatError):
        await chat.set_color(talker, "not-a-color")
    # the moderation log has who did what
    log = await chat.store.moderation_log(1)
    assert [e["action"] for e in log][:2] == ["remove_blocked_term", "add_blocked_term"]
    assert log[0]["moderator_id"] == 1 and log[0]["details"] == "badword"
    # messages were persisted (batched) and are readable back in order
    history = await chat.store.recent_messages(1)
    assert [m.text for m in history] == [
        "hello there", "hello again", "badword is fine now", "pink now"]


async def test_usernotice_hook(chat: ChatService) -> None:
    watcher = Sub(None)
    await chat.join(watcher, ChatUser(None, "justinfan2", "justinfan2"), "owner")
    await chat.usernotice("owner", "raid", "15 raiders from Talker have joined!",
                          {"login": "talker", "msg-param-viewerCount": "15"})
    notice = await wait_line(watcher, "USERNOTICE")
    assert notice.tags["msg-id"] == "raid" and notice.tags["msg-param-viewerCount"] == "15"
    assert notice.tags["system-msg"] == "15 raiders from Talker have joined!"
    assert notice.tags["room-id"] == "1" and notice.params == ("#owner",)


async def test_rejoin_while_the_room_is_closing(chat: ChatService) -> None:
    talker = user(2, "talker")
    first, again, watcher = Sub(2), Sub(2), Sub(None)
    await chat.join(first, talker, "owner")
    chat.part(first, "owner")  # the last member left: the room starts closing
    assert "owner" not in chat.rooms
    await chat.join(again, talker, "owner")  # waits for the close, then reopens
    await chat.join(watcher, ChatUser(None, "justinfan3", "justinfan3"), "owner")
    await chat.send_message(again, "owner", "still works")
    assert (await wait_line(watcher, "PRIVMSG")).params[-1] == "still works"
    assert not chat._closing


async def test_recent_history_excludes_deleted_and_banned(chat: ChatService) -> None:
    owner, talker = user(1, "owner"), user(2, "talker")
    s_owner, s_talker = Sub(1), Sub(2)
    await chat.join(s_owner, owner, "owner")
    await chat.join(s_talker, talker, "owner")
    keep = await chat.send_message(s_owner, "owner", "from the owner")
    gone = await chat.send_message(s_talker, "owner", "deleted later")
    await chat.delete_message("owner", owner, gone)
    lines = [Message.parse(x) for x in await chat.recent_lines("owner")]
    assert [(m.params[-1], m.tags["historical"], m.tags["id"]) for m in lines] == [
        ("from the owner", "1", keep)]
    await chat.send_message(s_talker, "owner", "before the ban")
    assert len(await chat.recent_lines("owner")) == 2
    await chat.ban("owner", owner, "talker")
    assert [Message.parse(x).params[-1] for x in await chat.recent_lines("owner")] == [
        "from the owner"]
    with pytest.raises(ChatError):
        await chat.recent_lines("nobody_here")


async def test_rooms_left_empty_are_closed_after_a_minute(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    for login in ("owner", "talker"):
        await ChannelService(sessions).create_user(login)
    now = [1000.0]
    bus = MemoryBus()
    chat = ChatService(store=ChatStore(sessions), bus=bus, clock=lambda: now[0])
    try:
        await chat.usernotice("owner", "announcement", "hello", {})  # opens the room: no one in
        await chat.join(Sub(2), user(2, "talker"), "talker")  # a room with a member
        assert set(chat.rooms) == {"owner", "talker"}
        now[0] += 30
        assert chat.close_idle_rooms(idle=60) == 0
        await chat.open_room("owner")  # used again (an API action): the minute starts over
        now[0] += 45
        assert chat.close_idle_rooms(idle=60) == 0
        now[0] += 30
        assert chat.close_idle_rooms(idle=60) == 1
        assert set(chat.rooms) == {"talker"}  # members keep a room open however long
        async with asyncio.timeout(10):
            while chat._closing:
                await asyncio.sleep(0.01)
        assert "owner" not in bus._callbacks  # unsubscribed from the bus
        room = await chat.open_room("owner")  # reopens on demand
        assert room is not None and "owner" in bus._callbacks
    finally:
        await chat.close()
