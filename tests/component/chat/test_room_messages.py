"""A chat room counts the messages it sees (the dashboard's chat rate reads the counter)."""

from __future__ import annotations

import asyncio

import pytest

from streamhub.chat.service import ChatError, ChatService, ChatUser
from tests.component.chat.test_service import Sub


async def test_room_counts_delivered_messages_only(chat: ChatService) -> None:
    talker = ChatUser(2, "talker", "Talker", None, frozenset({"chat:read", "chat:edit"}))
    sender = Sub(2)
    await chat.join(sender, talker, "owner")
    room = chat.rooms["owner"]
    assert room.messages == 0
    for text in ("one", "two", "three"):
        await chat.send_message(sender, "owner", text)
    async with asyncio.timeout(10):
        while room.messages < 3:
            await asyncio.sleep(0.01)
    with pytest.raises(ChatError):
        await chat.send_message(sender, "owner", "")  # refused: not counted
    await chat.usernotice("owner", "raid", "raiders!", {"login": "talker"})
    await asyncio.sleep(0.05)
    assert room.messages == 3
