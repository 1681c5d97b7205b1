"""ChatService's EventSub hooks on a real database: what it emits for messages, bans, unbans
and moderator changes, whether the action came from IRC or the REST API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from streamhub.channels.service import ChannelService
from streamhub.chat.bus import MemoryBus
from streamhub.chat.service import ChatError, ChatService, ChatUser
from streamhub.chat.store import ChatStore
from tests.component.chat.test_service import Sub, wait_line


class Recorder:
    """An EventSink that keeps what it is given."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def emit(self, type: str, event: Mapping[str, Any]) -> None:
        self.events.append((type, dict(event)))

    def wants(self, type: str) -> bool:
        return True

    def of(self, type: str) -> list[dict[str, Any]]:
        return [e for t, e in self.events if t == type]


@pytest.fixture
async def recorded(sessions: async_sessionmaker[AsyncSession],
                   ) -> AsyncIterator[tuple[ChatService, Recorder]]:
    accounts = ChannelService(sessions)
    for login in ("owner", "talker", "helper"):
        await accounts.create_user(login)
    events = Recorder()
    service = ChatService(store=ChatStore(sessions), bus=MemoryBus(), events=events)
    await service.start()  # the global emotes
    yield service, events
    await service.close()


def user(uid: int, login: str) -> ChatUser:
    return ChatUser(uid, login, login.title(), "#112233",
                    frozenset({"chat:read", "chat:edit"}))


async def test_messages_are_reported_with_fragments_badges_and_replies(
    recorded: tuple[ChatService, Recorder],
) -> None:
    chat, events = recorded
    owner, talker = user(1, "owner"), user(2, "talker")
    watcher, sender = Sub(None), Sub(2)
    await chat.join(watcher, ChatUser(None, "justinfan1", "justinfan1"), "owner")
    await chat.join(sender, talker, "owner")
    first = await chat.send_message(sender, "owner", "hi Kappa there")
    (event,) = events.of("channel.chat.message")
    assert event["broadcaster_user_id"] == "1" and event["broadcaster_user_login"] == "owner"
    assert event["chatter_user_id"] == "2" and event["chatter_user_name"] == "Talker"
    assert event["message_id"] == first and event["message_type"] == "text"
    assert event["color"] == "#112233" and event["reply"] is None
    assert event["message"]["text"] == "hi Kappa there"
    assert [(f["type"], f["text"]) for f in event["message"]["fragments"]] == [
        ("text", "hi "), ("emote", "Kappa"), ("text", " there")]
    assert event["message"]["fragments"][1]["emote"]["id"] == "25"
    # /me is an action; a reply names its parent; the API path reports too
    await chat.send_message(sender, "owner", "\x01ACTION waves\x01", reply_to=first)
    action = events.of("channel.chat.message")[-1]
    assert action["message_type"] == "action" and action["message"]["text"] == "waves"
    assert action["reply"]["parent_message_id"] == first
    assert action["reply"]["parent_user_login"] == "talker"
    msg_id, done = await chat.submit_as(owner, "owner", "from the API")
    await done
    api_event = events.of("channel.chat.message")[-1]
    assert api_event["message_id"] == msg_id and api_event["chatter_user_id"] == "1"
    assert api_event["badges"] == [{"set_id": "broadcaster", "id": "1", "info": ""}]
    line = await wait_line(watcher, "PRIVMSG")
    assert line.params[-1] == "from the API"
    # refused messages are not reported
    await chat.set_modes("owner", owner, emote_only=True)
    with pytest.raises(ChatError):
        await chat.send_message(sender, "owner", "not an emote")
    assert len(events.of("channel.chat.message")) == 3


async def test_bans_unbans_and_moderators_are_reported(
    recorded: tuple[ChatService, Recorder],
) -> None:
    chat, events = recorded
    owner = user(1, "owner")
    await chat.ban("owner", owner, "talker", duration=600, reason="calm down")
    (timeout,) = events.of("channel.ban")
    assert timeout["user_id"] == "2" and timeout["user_login"] == "talker"
    assert timeout["moderator_user_id"] == "1" and timeout["broadcaster_user_id"] == "1"
    assert timeout["reason"] == "calm down" and timeout["is_permanent"] is False
    assert timeout["ends_at"] > timeout["banned_at"]
    await chat.ban("owner", owner, "talker")
    assert events.of("channel.ban")[-1]["is_permanent"] is True
    assert events.of("channel.ban")[-1]["ends_at"] is None
    await chat.unban("owner", owner, "talker")
    (unban,) = events.of("channel.unban")
    assert unban["user_name"] == "talker" and unban["moderator_user_login"] == "owner"
    await chat.set_role("owner", owner, "helper", "moderator", True)
    await chat.set_role("owner", owner, "helper", "vip", True)  # VIPs are not reported
    await chat.set_role("owner", owner, "helper", "moderator", False)
    assert [t for t, _ in events.events if t.startswith("channel.moderator")] == [
        "channel.moderator.add", "channel.moderator.remove"]
    assert events.of("channel.moderator.add")[0] == {
        "broadcaster_user_id": "1", "broadcaster_user_login": "owner",
        "broadcaster_user_name": "owner", "user_id": "3", "user_login": "helper",
        "user_name": "helper"}
