"""Accounts and stream keys on a real SQLite file, through the service and the CLI."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from streamhub.channels.service import AccountError, ChannelService
from tests.pg import PostgresServer


@pytest.fixture
def service(sessions: async_sessionmaker[AsyncSession]) -> ChannelService:
    return ChannelService(sessions)


async def test_create_resolve_reset(service: ChannelService) -> None:
    user = await service.create_user("Alice_1", "correct horse")
    assert user.login == "alice_1" and user.display_name == "Alice_1"
    assert user.stream_key and user.stream_key.startswith(f"live_{user.id}_")
    assert await service.resolve_stream_key(user.stream_key) == "alice_1"
    assert await service.resolve_stream_key(user.stream_key + "x") is None
    assert await service.resolve_stream_key("") is None
    new_key = await service.reset_stream_key("alice_1")
    assert new_key != user.stream_key
    assert await service.resolve_stream_key(user.stream_key) is None
    assert await service.resolve_stream_key(new_key) == "alice_1"
    fetched = await service.get_user("ALICE_1")
    assert fetched is not None and fetched.stream_key == new_key


async def test_passwords_are_argon2(service: ChannelService) -> None:
    await service.create_user("bob", "s3cret-pass")
    assert await service.verify_password("bob", "s3cret-pass")
    assert not await service.verify_password("bob", "wrong-pass")
    assert not await service.verify_password("nobody", "s3cret-pass")


@pytest.mark.parametrize("login", ["ab", "has space", "x" * 26, "api", "hls", "static", "ünï"])
async def test_bad_logins_refused(service: ChannelService, login: str) -> None:
    with pytest.raises(AccountError):
        await service.create_user(login)


async def test_duplicate_login_and_short_password(service: ChannelService) -> None:
    await service.create_user("carol")
    with pytest.raises(AccountError, match="taken"):
        await service.create_user("Carol")
    with pytest.raises(AccountError, match="8 characters"):
        await service.create_user("dave", "short")


def test_cli_on_postgres(tmp_path: Path, postgres: PostgresServer) -> None:
    env = {**os.environ, "STREAMHUB_DATA_DIR": str(tmp_path / "d"),
           "STREAMHUB_DATABASE_URL": postgres.url}
    res = subprocess.run([sys.executable, "-m", "streamhub.cli", "user", "create", "pguser"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["login"] == "pguser"
    assert not (tmp_path / "d" / "streamhub.db").exists()


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STREAMHUB_DATA_DIR": str(tmp_path / "data")}
    return subprocess.run(
        [sys.executable, "-m", "streamhub.cli", *args],
        env=env, capture_output=True, text=True, timeout=120,
    )


def test_cli_user_create_prints_json(tmp_path: Path) -> None:
    res = _cli(tmp_path, "user", "create", "erin", "--password", "long-enough")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert set(info) >= {"id", "login", "stream_key"}
    assert info["login"] == "erin"
    assert (tmp_path / "data" / "streamhub.db").exists()
    again = _cli(tmp_path, "user", "create", "erin")
    assert again.returncode == 1 and "taken" in again.stderr
    reset = _cli(tmp_path, "user", "reset-key", "erin")
    assert reset.returncode == 0
    assert json.loads(reset.stdout)["stream_key"] != info["stream_key"]


def test_cli_reports_bad_settings(tmp_path: Path) -> None:
    env = {**os.environ, "STREAMHUB_HTTP_PORT": "nope"}
    res = subprocess.run([sys.executable, "-m", "streamhub.cli", "migrate"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert "STREAMHUB_HTTP_PORT" in res.stderr
