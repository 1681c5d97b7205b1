"""`streamhub app create` and `streamhub user create --admin` on a real SQLite file."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, text


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STREAMHUB_DATA_DIR": str(tmp_path / "data")}
    env.pop("STREAMHUB_DATABASE_URL", None)
    env.pop("STREAMHUB_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "streamhub.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def _rows(tmp_path: Path, sql: str) -> list[tuple[object, ...]]:
    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'streamhub.db'}")
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


def test_app_create_prints_one_json_object(tmp_path: Path) -> None:
    owner = _cli(tmp_path, "user", "create", "appowner")
    assert owner.returncode == 0, owner.stderr
    res = _cli(tmp_path, "app", "create", "My Bot", "--redirect-uri", "http://localhost:3000/cb",
               "--redirect-uri", "https://bot.example/oauth", "--owner", "AppOwner")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 1
    app = json.loads(lines[0])
    assert app["name"] == "My Bot"
    assert app["redirect_uris"] == ["http://localhost:3000/cb", "https://bot.example/oauth"]
    assert len(app["client_id"]) == 30 and app["client_id"].isalnum()
    assert len(app["client_secret"]) == 30 and app["owner_id"] == str(json.loads(
        owner.stdout)["id"])
    # the database keeps only the secret's hash
    [(client_id, secret_hash)] = _rows(tmp_path,
                                       "SELECT client_id, client_secret_hash FROM oauth_apps")
    assert client_id == app["client_id"]
    assert secret_hash == hashlib.sha256(app["client_secret"].encode()).hexdigest()
    assert app["client_secret"] not in str(_rows(tmp_path, "SELECT * FROM oauth_apps"))
    # an app without redirect URIs (client credentials only) is fine too
    bare = _cli(tmp_path, "app", "create", "Server Job")
    assert bare.returncode == 0 and json.loads(bare.stdout)["redirect_uris"] == []


def test_app_create_refuses_bad_input(tmp_path: Path) -> None:
    for args, message in (
        (["--redirect-uri", "http://bot.example/cb"], "https"),
        (["--redirect-uri", "https://bot.example/cb#x"], "fragment"),
        (["--redirect-uri", "not a url"], "invalid redirect"),
        (["--owner", "nobody_here"], "no user"),
    ):
        res = _cli(tmp_path, "app", "create", "Bot", *args)
        assert res.returncode == 1, (args, res.stdout)
        assert message in res.stderr and res.stdout == ""
    assert _cli(tmp_path, "app", "create", "").returncode == 1


def test_user_create_admin_flag(tmp_path: Path) -> None:
    admin = _cli(tmp_path, "user", "create", "boss", "--admin")
    plain = _cli(tmp_path, "user", "create", "pleb")
    assert admin.returncode == 0 and plain.returncode == 0, admin.stderr + plain.stderr
    assert json.loads(admin.stdout)["admin"] is True
    assert json.loads(plain.stdout)["admin"] is False
    rows = {r[0]: r[1] for r in _rows(tmp_path, "SELECT login, is_admin FROM users")}
    assert rows == {"boss": 1, "pleb": 0}
