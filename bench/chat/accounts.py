"""Create the benchmark's chat accounts in one process (run with a node's STREAMHUB_* env).

`accounts.py CHANNEL N` creates the broadcaster CHANNEL and N writer accounts
(`<CHANNEL>w0`, ...) made moderators of CHANNEL (100 messages per 30 s each, as for the
broadcaster), issues each a chat token and prints
`{"channel": ..., "accounts": [[login, token], ...]}` (the broadcaster first).

It does what `streamhub user create`, `streamhub token create` and the broadcaster's
`/mod` command do, through the same services, so that 40 accounts do not cost 80 CLI
start-ups; the nodes must not have opened the room yet (they load moderators from the
database when the first viewer joins).
"""

from __future__ import annotations

import asyncio
import json
import sys

from streamhub.channels.service import ChannelService
from streamhub.channels.tokens import TokenService
from streamhub.chat.store import ChatStore
from streamhub.config import load_settings
from streamhub.storage.db import make_engine, migrate_sync, sessionmaker


async def create(channel: str, writers: int) -> dict[str, object]:
    settings = load_settings(None)
    engine = make_engine(settings.resolved_database_url)
    try:
        sessions = sessionmaker(engine)
        users = ChannelService(sessions)
        tokens = TokenService(sessions)
        store = ChatStore(sessions)
        owner = await users.create_user(channel)
        accounts = [[channel, (await tokens.create(channel)).access_token]]
        for i in range(writers):
            login = f"{channel}w{i}"
            user = await users.create_user(login)
            await store.set_role(owner.id, user.id, "moderator", True, moderator_id=owner.id)
            accounts.append([login, (await tokens.create(login)).access_token])
        return {"channel": channel, "channel_id": owner.id, "accounts": accounts}
    finally:
        await engine.dispose()


if __name__ == "__main__":
    settings = load_settings(None)
    migrate_sync(settings.resolved_database_url)
    print(json.dumps(asyncio.run(create(sys.argv[1], int(sys.argv[2])))))
