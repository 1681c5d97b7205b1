"""Access tokens on both databases, and `streamhub token create`."""

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from streamhub.channels.service import AccountError, ChannelService
from streamhub.channels.tokens import TokenService, hash_token
from streamhub.storage.models import AccessToken, utcnow


async def test_issue_validate_revoke(sessions: async_sessionmaker[AsyncSession]) -> None:
    await ChannelService(sessions).create_user("Tokenuser")
    tokens = TokenService(sessions)
    issued = await tokens.create("tokenuser", ("chat:read", "chat:edit"))
    assert len(issued.access_token) == 30 and issued.access_token.isalnum()
    info = await tokens.validate(issued.access_token)
    assert info is not None
    assert (info.login, info.display_name) == ("tokenuser", "Tokenuser")
    assert info.scopes == {"chat:read", "chat:edit"}
    assert await tokens.validate(issued.access_token[:-1] + "x") is None
    assert await tokens.validate("") is None
    # only the hash is stored
    async with sessions() as s:
        stored = (await s.scalars(select(AccessToken))).all()
    assert [t.token_hash for t in stored] == [hash_token(issued.access_token)]
    assert await tokens.revoke(issued.access_token)
    assert await tokens.validate(issued.access_token) is None
    assert not await tokens.revoke(issued.access_token)


async def test_expired_token_and_bad_input(sessions: async_sessionmaker[AsyncSession]) -> None:
    await ChannelService(sessions).create_user("expiry")
    tokens = TokenService(sessions)
    expired = await tokens.create("expiry", ttl=timedelta(seconds=-1))
    assert await tokens.validate(expired.access_token) is None
    live = await tokens.create("expiry", ttl=timedelta(hours=1))
    assert await tokens.validate(live.access_token) is not None
    with pytest.raises(AccountError, match="no user"):
        await tokens.create("nobody")
    with pytest.raises(AccountError, match="invalid scope"):
        await tokens.create("expiry", ("chat read",))


def test_cli_token_create(tmp_path: Path) -> None:
    env = {**os.environ, "STREAMHUB_DATA_DIR": str(tmp_path)}
    cli = [sys.executable, "-m", "streamhub.cli"]
    subprocess.run([*cli, "user", "create", "bot_user"], env=env, check=True,
                   capture_output=True, timeout=120)
    res = subprocess.run([*cli, "token", "create", "bot_user", "--scope", "chat:read"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert len(out["access_token"]) == 30
    assert out["scopes"] == ["chat:read"] and out["login"] == "bot_user"
    bad = subprocess.run([*cli, "token", "create", "ghost"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 1 and "no user" in bad.stderr


async def test_validation_cache_remembers_and_forgets(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    now = [100.0]
    tokens = TokenService(sessions, cache_ttl=5.0, clock=lambda: now[0])
    await ChannelService(sessions).create_user("cached")
    issued = await tokens.create("cached")
    assert await tokens.validate(issued.access_token) is not None
    # revoked behind the cache's back (as another node would): still remembered until ttl
    async with sessions() as session:
        await session.execute(update(AccessToken).values(revoked_at=utcnow()))
        await session.commit()
    assert await tokens.validate(issued.access_token) is not None
    now[0] += 5.1
    assert await tokens.validate(issued.access_token) is None
    # a revocation through the service is seen at once
    again = await tokens.create("cached")
    assert await tokens.validate(again.access_token) is not None
    assert await tokens.revoke(again.access_token)
    assert await tokens.validate(again.access_token) is None
