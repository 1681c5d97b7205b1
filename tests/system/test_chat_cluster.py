"""Two chat nodes on one Redis: cross-node delivery, shared moderation state, node loss."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.redis_server import RedisServer, require_redis_server
from tests.system.harness import NodeProcess, wait_for
from tests.system.irc_client import IrcClient

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    require_redis_server()
    server = RedisServer()  # started
    yield server
    server.cleanup()


def start_node(root: Path, name: str, redis: RedisServer) -> NodeProcess:
    return NodeProcess(
        root / name, redis_url=redis.url, chat_auth_limit="100000",
        database_url=f"sqlite+aiosqlite:///{root / 'shared.db'}",
    )


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, redis: RedisServer
) -> Iterator[tuple[Path, list[NodeProcess], dict[str, str]]]:
    root = tmp_path_factory.mktemp("cluster")
    first = start_node(root, "a", redis)
    tokens = {}
    for login in ("caster", "alice", "bob"):
        first.create_user(login)
        tokens[login] = first.token(login)
    nodes = [first, start_node(root, "b", redis)]
    yield root, nodes, tokens
    for n in nodes:
        n.stop()


@pytest.fixture
async def clients() -> AsyncIterator[list[IrcClient]]:
    made: list[IrcClient] = []
    yield made
    await asyncio.gather(*(c.close() for c in made))


async def connect(node: NodeProcess, clients: list[IrcClient], login: str, token: str,
                  *, ws: bool = True) -> IrcClient:
    c = await (IrcClient.ws(node.chat_ws_port) if ws else IrcClient.tcp(node.chat_irc_port))
    clients.append(c)
    await c.login(login, token)
    await c.join("caster")
    return c


async def test_messages_and_bans_cross_nodes(
    cluster: tuple[Path, list[NodeProcess], dict[str, str]], clients: list[IrcClient]
) -> None:
    _, (a, b), tokens = cluster
    alice = await connect(a, clients, "alice", tokens["alice"])
    bob = await connect(b, clients, "bob", tokens["bob"], ws=False)
    caster = await connect(a, clients, "caster", tokens["caster"])
    await alice.send("PRIVMSG #caster :hello from node a")
    got = await bob.expect(lambda m: m.command == "PRIVMSG")
    assert got.params[-1] == "hello from node a" and got.tags["display-name"] == "alice"
    await bob.send("PRIVMSG #caster :hello from node b")
    got = await alice.expect(lambda m: m.command == "PRIVMSG")
    assert got.params[-1] == "hello from node b"
    # a message crosses Redis once per node: alice's node delivers it to alice exactly once
    await bob.send("PRIVMSG #caster :count me")
    await alice.expect(lambda m: m.command == "PRIVMSG" and m.params[-1] == "count me")
    await caster.expect(lambda m: m.command == "PRIVMSG" and m.params[-1] == "count me")
    # a timeout given on node a is enforced on node b, and node b's clients see CLEARCHAT
    await caster.send("PRIVMSG #caster :/timeout bob 60")
    await caster.expect(lambda m: m.tags.get("msg-id") == "timeout_success")
    clear = await bob.expect(lambda m: m.command == "CLEARCHAT")
    assert clear.params[-1] == "bob" and clear.tags["ban-duration"] == "60"
    await bob.send("PRIVMSG #caster :still here?")
    refused = await bob.expect(lambda m: m.command == "NOTICE")
    assert refused.tags["msg-id"] == "msg_timedout"
    # room modes too
    await caster.send("PRIVMSG #caster :/emoteonly")
    await alice.expect(lambda m: m.tags.get("msg-id") == "emote_only_on")
    rs = await bob.expect(lambda m: m.command == "ROOMSTATE")
    assert rs.tags["emote-only"] == "1"
    await caster.send("PRIVMSG #caster :/emoteonlyoff")
    await caster.expect(lambda m: m.tags.get("msg-id") == "emote_only_off")
    await caster.send("PRIVMSG #caster :/untimeout bob")
    await caster.expect(lambda m: m.tags.get("msg-id") == "untimeout_success")
    counted = [m for m in alice.received if m.command == "PRIVMSG" and m.params[-1] == "count me"]
    assert len(counted) == 1


async def test_killed_node_loses_no_acknowledged_message(
    cluster: tuple[Path, list[NodeProcess], dict[str, str]], clients: list[IrcClient],
    redis: RedisServer,
) -> None:
    root, nodes, tokens = cluster
    a, b = nodes
    observer = await connect(b, clients, "bob", tokens["bob"])
    sender = await connect(a, clients, "alice", tokens["alice"], ws=False)
    acked: list[str] = []

    async def pump() -> None:
        i = 0
        while not sender.closed.is_set():
            await sender.send(f"PRIVMSG #caster :burst {i}")
            i += 1
            await asyncio.sleep(0.05)

    async def collect_acks() -> None:
        while True:
            ack = await sender.expect(lambda m: m.command == "USERSTATE", timeout=60)
            acked.append(ack.tags["id"])

    pumping = asyncio.create_task(pump())
    acking = asyncio.create_task(collect_acks())
    try:
        async with asyncio.timeout(60):
            while len(acked) < 15:
                await asyncio.sleep(0.05)
        a.proc.send_signal(signal.SIGKILL)  # no graceful shutdown: the node just dies
        await asyncio.wait_for(sender.closed.wait(), 30)
    finally:
        pumping.cancel()
        acking.cancel()
        await asyncio.gather(pumping, acking, return_exceptions=True)
    assert len(acked) >= 15
    seen = {m.tags["id"] for m in observer.received if m.command == "PRIVMSG"}
    missing = [mid for mid in acked if mid not in seen]
    assert missing == [], f"{len(missing)} acknowledged messages never reached node b"
    # the client reconnects to the surviving node and keeps chatting
    again = await connect(b, clients, "alice", tokens["alice"], ws=False)
    await again.send("PRIVMSG #caster :I moved to node b")
    await again.expect(lambda m: m.command == "USERSTATE")
    got = await observer.expect(
        lambda m: m.command == "PRIVMSG" and m.params[-1] == "I moved to node b")
    assert got.tags["display-name"] == "alice"
    # node a comes back and serves the room again
    a.stop()
    nodes[0] = start_node(root, "a2", redis)
    back = await connect(nodes[0], clients, "alice", tokens["alice"])
    await back.send("PRIVMSG #caster :node a is back")
    await observer.expect(lambda m: m.command == "PRIVMSG" and m.params[-1] == "node a is back")


async def test_ban_survives_node_restart(
    cluster: tuple[Path, list[NodeProcess], dict[str, str]], clients: list[IrcClient]
) -> None:
    _, nodes, tokens = cluster
    node = nodes[1]
    caster = await connect(node, clients, "caster", tokens["caster"])
    await caster.send("PRIVMSG #caster :/ban alice")
    await caster.expect(lambda m: m.tags.get("msg-id") == "ban_success")
    await caster.close()
    node.stop()
    nodes[1] = restarted = NodeProcess(
        node.data_dir, redis_url=node.env["STREAMHUB_REDIS_URL"], chat_auth_limit="100000",
        database_url=node.env["STREAMHUB_DATABASE_URL"],
    )
    alice = await connect(restarted, clients, "alice", tokens["alice"])
    await alice.send("PRIVMSG #caster :after restart")
    refused = await alice.expect(lambda m: m.command == "NOTICE")
    assert refused.tags["msg-id"] == "msg_banned"


async def test_rate_limit_shared_across_nodes(
    cluster: tuple[Path, list[NodeProcess], dict[str, str]], clients: list[IrcClient]
) -> None:
    _, (a, b), _tokens = cluster
    a.create_user("spammer")
    token = a.token("spammer")
    on_a = await connect(a, clients, "spammer", token)
    on_b = await connect(b, clients, "spammer", token, ws=False)
    outcomes: list[str] = []
    for i in range(22):
        client = on_a if i % 2 else on_b
        await client.send(f"PRIVMSG #caster :message number {i}")
        got = await client.expect(lambda m: m.command == "USERSTATE" or (
            m.command == "NOTICE" and m.tags.get("msg-id", "").startswith("msg_")))
        outcomes.append(got.command if got.command == "USERSTATE" else got.tags["msg-id"])
    assert outcomes[:20] == ["USERSTATE"] * 20
    assert outcomes[20:] == ["msg_ratelimit", "msg_ratelimit"]


async def test_viewer_counts_across_nodes(
    cluster: tuple[Path, list[NodeProcess], dict[str, str]], clients: list[IrcClient]
) -> None:
    _, (a, b), tokens = cluster
    for i in range(3):
        c = await IrcClient.ws(a.chat_ws_port)
        clients.append(c)
        await c.login(f"justinfan{900 + i}", None)
        await c.join("caster")
    await connect(b, clients, "bob", tokens["bob"])
    await connect(b, clients, "alice", tokens["alice"], ws=False)

    def counted() -> dict[str, object] | None:
        info = dict(a.http.get("/api/chat/rooms/caster").json())
        return info if (info["connections"], info["chatters"]) == (5, 2) else None

    info = await asyncio.get_running_loop().run_in_executor(
        None, lambda: wait_for(counted, timeout=30, what="counts from both nodes"))
    assert info["this_node"] == {"connections": 3, "chatters": 0}


async def test_chatters_list_spans_nodes(
    cluster: tuple[Path, list[NodeProcess], dict[str, str]], clients: list[IrcClient]
) -> None:
    _, (a, b), tokens = cluster
    caster_id = str(a.cli("user", "show", "caster")["id"])
    helix_token = a.token("caster", "moderator:read:chatters")
    alice = await connect(a, clients, "alice", tokens["alice"])
    await connect(b, clients, "bob", tokens["bob"])

    def listed(want: set[str]) -> set[str] | None:
        r = a.http.get("/helix/chat/chatters", params={
            "broadcaster_id": caster_id, "moderator_id": caster_id},
            headers={"Authorization": f"Bearer {helix_token}", "Client-Id": "tests"})
        assert r.status_code == 200, r.text
        found = {c["user_login"] for c in r.json()["data"]}
        return found if found == want and r.json()["total"] == len(want) else None

    loop = asyncio.get_running_loop()
    # bob is on the other node: node a lists him once b has reported (every 5 s)
    await loop.run_in_executor(None, lambda: wait_for(
        lambda: listed({"alice", "bob"}), timeout=30, what="chatters of both nodes"))
    await alice.close()
    clients.remove(alice)
    await loop.run_in_executor(None, lambda: wait_for(
        lambda: listed({"bob"}), timeout=30, what="alice gone from the list"))


async def test_names_on_join_list_other_nodes_chatters(
    cluster: tuple[Path, list[NodeProcess], dict[str, str]], clients: list[IrcClient]
) -> None:
    _, (a, b), tokens = cluster
    await connect(b, clients, "bob", tokens["bob"])
    loop = asyncio.get_running_loop()

    async def names_on_join() -> set[str]:
        """A fresh JOIN on node a: the logins of its 353 lines."""
        c = await IrcClient.ws(a.chat_ws_port)
        try:
            await c.login("alice", tokens["alice"])
            await c.join("caster")
            return {name for m in c.seen(lambda m: m.command == "353")
                    for name in m.params[-1].split()}
        finally:
            await c.close()

    # bob is on node b only: node a lists him once b has reported its chatters (every 5 s)
    deadline = loop.time() + 30
    names = await names_on_join()
    while "bob" not in names:
        assert loop.time() < deadline, f"bob (node b) never in node a's NAMES: {names}"
        await asyncio.sleep(0.5)  # poll again: b reports its chatters every 5 s
        names = await names_on_join()
    assert "alice" in names
