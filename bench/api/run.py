"""Helix API benchmark: requests/s and p50/p99 of GET /helix/streams and GET /helix/users
at 1K concurrent keep-alive connections, on SQLite and on PostgreSQL.

    .venv/bin/python bench/api/run.py --db sqlite,postgresql --connections 1000 --seconds 20

For each database: a fresh data directory (PostgreSQL: a private server started here),
`--users` accounts with one access token per connection (so each connection is its own
client+user for the 800-points-a-minute rate limit, as real clients are), `--live` of them
with an open stream session; then one `streamhub up` process and one load-generator process
(loadgen.py, closed loop: each connection sends its next request when the previous answer
is complete). Reports requests/s, status counts, latency percentiles and the node's CPU.
Every process is stopped by pid in `finally`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))

from bench.chat.common import CpuMark, JsonLineProcess, raise_nofile  # noqa: E402

from streamhub.channels.service import ChannelService  # noqa: E402
from streamhub.channels.tokens import TokenService  # noqa: E402
from streamhub.storage.db import make_engine, migrate, sessionmaker  # noqa: E402
from streamhub.storage.models import Category, Channel, StreamSession  # noqa: E402

PY = sys.executable
CLIENT_ID = "benchclient"


async def seed(db_url: str, users: int, live: int, tokens: int) -> dict[str, Any]:
    """Accounts, tokens and open stream sessions, written straight into the database."""
    await migrate(db_url)
    engine = make_engine(db_url)
    sessions = sessionmaker(engine)
    channels, token_service = ChannelService(sessions), TokenService(sessions)
    made = [await channels.create_user(f"bench{i:05d}") for i in range(users)]
    async with sessions() as session:
        categories = [c for c in (await session.scalars(
            Category.__table__.select().with_only_columns(Category.id))).all()]
        now = dt.datetime.now(dt.UTC)
        for i, user in enumerate(made[:live]):
            category = categories[i % len(categories)] if categories else None
            await session.execute(Channel.__table__.update().where(
                Channel.user_id == user.id).values(title=f"bench stream {i}",
                                                   category_id=category))
            session.add(StreamSession(channel_id=user.id, session_id=f"bench{i}", node="bench",
                                      title=f"bench stream {i}", category_id=category,
                                      started_at=now, ended_at=None, peak_viewers=0))
        await session.commit()
    issued = [(await token_service.create(made[i % users].login, ("user:read:email",)))
              .access_token for i in range(tokens)]
    await engine.dispose()
    return {"ids": [u.id for u in made], "logins": [u.login for u in made], "tokens": issued}


def requests_for(kind: str, data: dict[str, Any], count: int) -> list[Any]:
    rng = random.Random(7)
    out = []
    for i in range(count):
        headers = {"Authorization": f"Bearer {data['tokens'][i % len(data['tokens'])]}",
                   "Client-Id": CLIENT_ID}
        if kind == "streams":
            path = "/helix/streams?first=20"
        else:  # users: a lookup of 5 ids, as bots do for chatters
            ids = rng.sample(data["ids"], 5)
            path = "/helix/users?" + "&".join(f"id={i}" for i in ids)
        out.append([path, headers])
    return out


def run_db(kind: str, args: argparse.Namespace, root: Path) -> list[dict[str, Any]]:
    pg = None
    if kind == "postgresql":
        from tests.pg import PostgresServer
        pg = PostgresServer()
        db_url = pg.url
    else:
        db_url = f"sqlite+aiosqlite:///{root / 'streamhub.db'}"
    node: JsonLineProcess | None = None
    results = []
    try:
        data = asyncio.run(seed(db_url, args.users, args.live, args.connections))
        env = {**os.environ, "STREAMHUB_DATA_DIR": str(root), "STREAMHUB_DATABASE_URL": db_url,
               "STREAMHUB_HTTP_PORT": "0", "STREAMHUB_RTMP_PORT": "0",
               "STREAMHUB_CHAT_WS_PORT": "0", "STREAMHUB_CHAT_IRC_PORT": "0",
               "STREAMHUB_DEMO_USER": "", "STREAMHUB_LOG_LEVEL": "WARNING",
               "PYTHONUNBUFFERED": "1"}
        node = JsonLineProcess("node", [PY, "-m", "streamhub.cli", "up"], env=env,
                               log_path=str(root / "node.log"))
        port = node.wait_event("ready", 120)["http_port"]
        for endpoint in args.endpoints.split(","):
            reqs = root / f"{endpoint}.json"
            reqs.write_text(json.dumps(requests_for(endpoint, data, args.connections * 4)))
            before = CpuMark.take([node.pid])
            out = subprocess.run(
                [PY, str(HERE / "loadgen.py"), "--port", str(port), "--connections",
                 str(args.connections), "--seconds", str(args.seconds), "--warmup",
                 str(args.warmup), "--requests", str(reqs)],
                capture_output=True, text=True, timeout=args.seconds + args.warmup + 300,
            )
            if out.returncode != 0:
                raise RuntimeError(out.stderr[-2000:])
            result = json.loads(out.stdout.strip().splitlines()[-1])
            after = CpuMark.take([node.pid])
            # whole run incl. warmup and connect: a lower bound of the busy share
            result.update(db=kind, endpoint=f"GET /helix/{endpoint}",
                          node_cores=round(after.cores_since(before, [node.pid]), 2))
            print(json.dumps(result), flush=True)
            results.append(result)
    finally:
        if node is not None:
            node.stop()
        if pg is not None:
            pg.stop()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--endpoints", default="streams,users")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--live", type=int, default=100)
    args = parser.parse_args()
    raise_nofile()
    all_results = []
    for kind in args.db.split(","):
        root = Path(tempfile.mkdtemp(prefix=f"bench-api-{kind}-"))
        try:
            all_results += run_db(kind, args, root)
        finally:
            with contextlib.suppress(OSError):
                shutil.rmtree(root)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = HERE / "results" / f"{stamp}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "results": all_results}, indent=2))
    print(f"\n{'db':<11}{'endpoint':<22}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'node cores':>12}  statuses")
    for r in all_results:
        print(f"{r['db']:<11}{r['endpoint']:<22}{r['rps']:>9}{r['p50_ms']:>9}{r['p99_ms']:>9}"
              f"{r['node_cores']:>12}  {r['statuses']}")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
