"""Chat end to end on a real node: TMI login, JOIN, fan-out with tags, moderation, room modes."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from streamhub.protocols.irc.message import Message
from tests.system.harness import NodeProcess
from tests.system.irc_client import IrcClient

pytestmark = pytest.mark.system


@dataclass
class Chatter:
    login: str
    id: int
    token: str


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    # many test clients share 127.0.0.1; the per-IP login limit has its own test below
    n = NodeProcess(tmp_path_factory.mktemp("chat"), chat_auth_limit="100000")
    yield n
    n.stop()


@pytest.fixture(scope="module")
def people(node: NodeProcess) -> dict[str, Chatter]:
    out = {}
    for login in ("streamer", "modguy", "viewer1", "viewer2", "readonly"):
        user = node.create_user(login)
        scopes = ("chat:read",) if login == "readonly" else ("chat:read", "chat:edit")
        out[login] = Chatter(login, user["id"], node.token(login, *scopes))
    return out


@pytest.fixture
async def clients() -> AsyncIterator[list[IrcClient]]:
    made: list[IrcClient] = []
    yield made
    await asyncio.gather(*(c.close() for c in made))


async def connect(node: NodeProcess, clients: list[IrcClient], who: Chatter | str, *,
                  ws: bool = True, channel: str | None = "streamer") -> IrcClient:
    c = await (IrcClient.ws(node.chat_ws_port) if ws else IrcClient.tcp(node.chat_irc_port))
    clients.append(c)
    if isinstance(who, str):
        await c.login(who, None)
    else:
        await c.login(who.login, who.token)
    if channel is not None:
        await c.join(channel)
    return c


async def test_login_sequence_over_ws_and_tcp(
    node: NodeProcess, people: dict[str, Chatter], clients: list[IrcClient]
) -> None:
    for ws in (True, False):
        c = await (IrcClient.ws(node.chat_ws_port) if ws else IrcClient.tcp(node.chat_irc_port))
        clients.append(c)
        if ws:
            assert c.subprotocol == "irc"
        v = people["viewer1"]
        await c.send("CAP REQ :twitch.tv/tags twitch.tv/commands twitch.tv/membership",
                     f"PASS oauth:{v.token}", f"NICK {v.login}")
        ack = await c.expect_cmd("CAP")
        assert ack.params[1:] == ("ACK", "twitch.tv/tags twitch.tv/commands twitch.tv/membership")
        welcome = await c.expect_cmd("001")
        assert welcome.prefix == "tmi.twitch.tv" and welcome.params[0] == "viewer1"
        end = await c.expect_cmd("376")
        assert end.prefix == "tmi.twitch.tv"
        gus = await c.expect_cmd("GLOBALUSERSTATE")
        assert gus.tags["user-id"] == str(v.id) and gus.tags["display-name"] == "viewer1"
        assert gus.tags["color"].startswith("#")
        # bare PING gets an unprefixed PONG; PING with a token echoes it
        await c.send("PING")
        pong = await c.expect_cmd("PONG")
        assert pong.prefix is None and pong.params == ("tmi.twitch.tv",)
        await c.send("PING :abc")
        pong = await c.expect_cmd("PONG")
        assert pong.prefix == "tmi.twitch.tv" and pong.params[-1] == "abc"
        await c.send("CAP REQ :twitch.tv/nonsense")
        nak = await c.expect_cmd("CAP")
        assert nak.params[1] == "NAK"


async def test_bad_token_and_anonymous(
    node: NodeProcess, people: dict[str, Chatter], clients: list[IrcClient]
) -> None:
    bad = await IrcClient.tcp(node.chat_irc_port)
    clients.append(bad)
    await bad.send("PASS oauth:notavalidtoken00000000000000000", "NICK viewer1")
    n = await bad.expect_cmd("NOTICE")
    assert n.params == ("*", "Login authentication failed")
    await asyncio.wait_for(bad.closed.wait(), 20)
    # a valid token used with someone else's nick is refused too
    other = await IrcClient.ws(node.chat_ws_port)
    clients.append(other)
    await other.send(f"PASS oauth:{people['viewer1'].token}", "NICK viewer2")
    assert (await other.expect_cmd("NOTICE")).params[-1] == "Login authentication failed"
    # anonymous readers may read but not write
    anon = await connect(node, clients, "justinfan12345")
    talker = await connect(node, clients, people["viewer2"])
    await talker.send("PRIVMSG #streamer :hello anonymous")
    got = await anon.expect_cmd("PRIVMSG")
    assert got.params[-1] == "hello anonymous"
    await anon.send("PRIVMSG #streamer :can I talk?")
    refused = await anon.expect_cmd("NOTICE")
    assert refused.tags["msg-id"] == "no_permission"
    # a chat:read-only token may read but not write
    ro = await connect(node, clients, people["readonly"])
    await ro.send("PRIVMSG #streamer :hi")
    assert (await ro.expect_cmd("NOTICE")).tags["msg-id"] == "no_permission"


async def test_join_order_and_roomstate(
    node: NodeProcess, people: dict[str, Chatter], clients: list[IrcClient]
) -> None:
    c = await connect(node, clients, people["viewer1"], channel=None)
    await c.send("JOIN #streamer")
    await c.expect_cmd("ROOMSTATE")
    after_login = [m for m in c.received if m.command in
                   ("JOIN", "353", "366", "USERSTATE", "ROOMSTATE")]
    assert [m.command for m in after_login] == ["JOIN", "353", "366", "USERSTATE", "ROOMSTATE"]
    assert "viewer1" in after_login[1].params[-1].split()
    rs = after_login[-1].tags
    assert {k: rs[k] for k in ("emote-only", "followers-only", "r9k", "slow", "subs-only")} == {
        "emote-only": "0", "followers-only": "-1", "r9k": "0", "slow": "0", "subs-only": "0"}
    assert rs["room-id"] == str(people["streamer"].id)
    await c.send("JOIN #no_such_channel_here")
    n = await c.expect_cmd("NOTICE")
    assert n.tags["msg-id"] == "msg_channel_suspended"


async def test_many_clients_see_each_other_with_tags(
    node: NodeProcess, people: dict[str, Chatter], clients: list[IrcClient]
) -> None:
    readers = [await connect(node, clients, f"justinfan{i}", ws=i % 2 == 0) for i in range(30)]
    notags = await IrcClient.tcp(node.chat_irc_port)
    clients.append(notags)
    await notags.login("justinfan999", None, caps="twitch.tv/commands")
    await notags.send("JOIN #streamer")
    await notags.expect_cmd("366")
    sender = await connect(node, clients, people["viewer1"], ws=False)
    watcher = await connect(node, clients, people["viewer2"])
    await sender.send("PRIVMSG #streamer :hi Kappa \U0001F600 Kappa")
    state = await sender.expect_cmd("USERSTATE")  # the acknowledgement, with the message id
    msg_id = state.tags["id"]
    for reader in [*readers, watcher]:
        got = await reader.expect_cmd("PRIVMSG")
        assert got.params == ("#streamer", "hi Kappa \U0001F600 Kappa")
        assert got.prefix == "viewer1!viewer1@viewer1.tmi.twitch.tv"
        t = got.tags
        assert t["id"] == msg_id and t["user-id"] == str(people["viewer1"].id)
        assert t["room-id"] == str(people["streamer"].id) and t["display-name"] == "viewer1"
        assert t["emotes"] == "25:3-7,11-15"  # code points, inclusive ends
        assert t["mod"] == "0" and t["subscriber"] == "0" and t["vip"] == "0"
        assert t["badges"] == "" and t["color"].startswith("#") and int(t["tmi-sent-ts"]) > 0
    plain = await notags.expect_cmd("PRIVMSG")
    assert plain.tags == {} and plain.params[-1].startswith("hi Kappa")
    assert not sender.seen(lambda m: m.command == "PRIVMSG")  # no echo to the sender
    # /me goes out as an ACTION
    await sender.send("PRIVMSG #streamer :/me waves")
    action = await watcher.expect_cmd("PRIVMSG")
    assert action.params[-1] == "\x01ACTION waves\x01"


async def test_timeout_refuses_until_it_ends(
    node: NodeProcess, people: dict[str, Chatter], clients: list[IrcClient]
) -> None:
    boss = await connect(node, clients, people["streamer"])
    victim = await connect(node, clients, people["viewer2"], ws=False)
    watcher = await connect(node, clients, "justinfan777")
    await boss.send("PRIVMSG #streamer :/timeout viewer2 3 calm down")
    done = await boss.expect(lambda m: m.command == "NOTICE" and m.tags.get("msg-id")
                             == "timeout_success")
    assert "viewer2" in done.params[-1]
    clear = await watcher.expect_cmd("CLEARCHAT")
    assert clear.params == ("#streamer", "viewer2")
    assert clear.tags["ban-duration"] == "3"
    assert clear.tags["target-user-id"] == str(people["viewer2"].id)
    await victim.send("PRIVMSG #streamer :let me talk")
    refused = await victim.expect_cmd("NOTICE")
    assert refused.tags["msg-id"] == "msg_timedout"
    # after the timeout ends the user can talk again
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        await asyncio.sleep(0.5)
        await victim.send("PRIVMSG #streamer :back again")
        reply = await victim.expect(lambda m: m.command in ("NOTICE", "USERSTATE")
                                    and (m.command == "USERSTATE" or "msg-id" in m.tags))
        if reply.command == "USERSTATE":
            break
        assert reply.tags["msg-id"] == "msg_timedout"
        assert asyncio.get_running_loop().time() < deadline
    got = await watcher.expect(lambda m: m.command == "PRIVMSG" and m.params[-1] == "back again")
    assert got.tags["user-id"] == str(people["viewer2"].id)


async def test_moderator_ban_delete_and_permissions(
    node: NodeProcess, people: dict[str, Chatter], clients: list[IrcClient]
) -> None:
    boss = await connect(node, clients, people["streamer"])
    mod = await connect(node, clients, people["modguy"])
    viewer = await connect(node, clients, people["viewer1"])
    watcher = await connect(node, clients, "justinfan4242")
    await viewer.send("PRIVMSG #streamer :/ban modguy")
    assert (await viewer.expect_cmd("NOTICE")).tags["msg-id"] == "no_permission"
    await boss.send("PRIVMSG #streamer :/mod modguy")
    await boss.expect(lambda m: m.tags.get("msg-id") == "mod_success")
    # the moderator's badge shows from now on
    await mod.send("PRIVMSG #streamer :I am a mod now")
    got = await watcher.expect(
        lambda m: m.command == "PRIVMSG" and m.params[-1] == "I am a mod now")
    assert got.tags["mod"] == "1" and got.tags["badges"] == "moderator/1"
    assert got.tags["user-type"] == "mod"
    # delete one message
    await viewer.send("PRIVMSG #streamer :delete me")
    mid = (await viewer.expect_cmd("USERSTATE")).tags["id"]
    await mod.send(f"PRIVMSG #streamer :/delete {mid}")
    await mod.expect(lambda m: m.tags.get("msg-id") == "delete_message_success")
    cm = await watcher.expect_cmd("CLEARMSG")
    assert cm.tags["target-msg-id"] == mid and cm.params[-1] == "delete me"
    assert cm.tags["login"] == "viewer1"
    # permanent ban, then unban
    await mod.send("PRIVMSG #streamer :/ban viewer1 spam")
    await mod.expect(lambda m: m.tags.get("msg-id") == "ban_success")
    cc = await watcher.expect_cmd("CLEARCHAT")
    assert "ban-duration" not in cc.tags and cc.params[-1] == "viewer1"
    await viewer.send("PRIVMSG #streamer :am I banned")
    assert (await viewer.expect_cmd("NOTICE")).tags["msg-id"] == "msg_banned"
    await mod.send("PRIVMSG #streamer :/ban streamer")
    assert (await mod.expect_cmd("NOTICE")).tags["msg-id"] == "bad_ban_broadcaster"
    await mod.send("PRIVMSG #streamer :/unban viewer1")
    await mod.expect(lambda m: m.tags.get("msg-id") == "unban_success")
    await viewer.send("PRIVMSG #streamer :free again")
    await viewer.expect_cmd("USERSTATE")
    await mod.send("PRIVMSG #streamer :/frobnicate")
    assert (await mod.expect_cmd("NOTICE")).tags["msg-id"] == "unrecognized_cmd"
    await boss.send("PRIVMSG #streamer :/unmod modguy")
    await boss.expect(lambda m: m.tags.get("msg-id") == "unmod_success")


async def test_room_modes_refuse_with_the_right_notice(
    node: NodeProcess, people: dict[str, Chatter], clients: list[IrcClient]
) -> None:
    boss = await connect(node, clients, people["streamer"])
    v1 = await connect(node, clients, people["viewer1"])
    v2 = await connect(node, clients, people["viewer2"], ws=False)

    async def mode(command: str, notice_id: str) -> None:
        await boss.send(f"PRIVMSG #streamer :/{command}")
        await v1.expect(lambda m: m.command == "NOTICE" and m.tags.get("msg-id") == notice_id,
                        what=notice_id)

    def outcome(m: Message) -> bool:  # the answer to a PRIVMSG: an ack or a refusal
        return m.command == "USERSTATE" or (
            m.command == "NOTICE" and m.tags.get("msg-id", "").startswith("msg_"))

    async def refused(client: IrcClient, text: str, msg_id: str) -> None:
        await client.send(f"PRIVMSG #streamer :{text}")
        got = await client.expect(outcome)
        assert got.command == "NOTICE" and got.tags["msg-id"] == msg_id, str(got)

    async def accepted(client: IrcClient, text: str) -> None:
        await client.send(f"PRIVMSG #streamer :{text}")
        got = await client.expect(outcome)
        assert got.command == "USERSTATE", str(got)

    await mode("slow 5", "slow_on")
    rs = v1.seen(lambda m: m.command == "ROOMSTATE" and "slow" in m.tags)[-1]
    assert rs.tags["slow"] == "5" and "r9k" not in rs.tags  # only the changed tag
    await accepted(v1, "first in slow mode")
    await refused(v1, "second too soon", "msg_slowmode")
    await accepted(boss, "broadcaster is exempt")
    await mode("slowoff", "slow_off")

    await mode("followers", "followers_on_zero")
    await refused(v2, "not a follower", "msg_followersonly_zero")
    await mode("followersoff", "followers_off")

    await mode("subscribers", "subs_on")
    await refused(v2, "not a subscriber", "msg_subsonly")
    await mode("subscribersoff", "subs_off")

    await mode("emoteonly", "emote_only_on")
    await refused(v2, "words words", "msg_emoteonly")
    await accepted(v2, "Kappa LUL")
    await mode("emoteonlyoff", "emote_only_off")

    await mode("uniquechat", "r9k_on")
    await accepted(v1, "Same Text Here")
    await refused(v2, "same text here!", "msg_r9k")
    await mode("uniquechatoff", "r9k_off")

    await accepted(v2, "a unique line 1")
    await refused(v2, "a unique line 1", "msg_duplicate")


async def test_login_rate_limit_per_ip(tmp_path_factory: pytest.TempPathFactory) -> None:
    strict = NodeProcess(tmp_path_factory.mktemp("strict"), chat_auth_limit="5")
    made: list[IrcClient] = []
    try:
        outcomes = []
        for i in range(7):
            c = await IrcClient.tcp(strict.chat_irc_port)
            made.append(c)
            await c.send(f"NICK justinfan{i}")
            first = await c.expect(lambda m: m.command in ("001", "NOTICE"))
            outcomes.append(first.command)
        assert outcomes[:5] == ["001"] * 5
        assert outcomes[5:] == ["NOTICE", "NOTICE"]
        assert "too many" in made[-1].seen(lambda m: m.command == "NOTICE")[0].params[-1]
    finally:
        await asyncio.gather(*(c.close() for c in made))
        strict.stop()


async def test_color_command(
    node: NodeProcess, people: dict[str, Chatter], clients: list[IrcClient]
) -> None:
    v = await connect(node, clients, people["viewer1"])
    watcher = await connect(node, clients, "justinfan31337")
    await v.send("PRIVMSG #streamer :/color Coral")
    await v.expect(lambda m: m.tags.get("msg-id") == "color_changed")
    await v.send("PRIVMSG #streamer :in coral")
    got = await watcher.expect(lambda m: m.command == "PRIVMSG" and m.params[-1] == "in coral")
    assert got.tags["color"] == "#FF7F50"
    await v.send("PRIVMSG #streamer :/color #12ab3Z")
    assert (await v.expect_cmd("NOTICE")).tags["msg-id"] == "usage_color"


async def test_graceful_shutdown_sends_reconnect(
    tmp_path_factory: pytest.TempPathFactory
) -> None:
    n = NodeProcess(tmp_path_factory.mktemp("shutdown"))
    c: IrcClient | None = None
    try:
        n.create_user("host_ch")
        c = await IrcClient.tcp(n.chat_irc_port)
        await c.login("justinfan5", None)
        await c.join("host_ch")
        n.proc.send_signal(signal.SIGTERM)
        rec = await c.expect_cmd("RECONNECT", timeout=30)
        assert rec.prefix == "tmi.twitch.tv"
        await asyncio.wait_for(c.closed.wait(), 30)
    finally:
        if c is not None:
            await c.close()
        n.stop()


async def test_channel_emotes_upload_and_use(
    node: NodeProcess, people: dict[str, Chatter], clients: list[IrcClient]
) -> None:
    from streamhub.chat.emoteart import badge_png

    owner, viewer = people["streamer"], people["viewer1"]
    png = badge_png("streamerHype")
    url = "/api/chat/emotes/streamer/streamerHype"

    def auth(c: Chatter) -> dict[str, str]:
        return {"Authorization": f"Bearer {c.token}"}

    assert node.http.put(url, content=png).status_code == 401
    assert node.http.put(url, content=png, headers=auth(viewer)).status_code == 403
    bad = node.http.put(url, content=b"<svg/onload=alert(1)>", headers=auth(owner))
    assert bad.status_code == 400 and "PNG" in bad.json()["message"]
    big = node.http.put(url, content=b"\x89PNG" + b"\0" * (1 << 20), headers=auth(owner))
    assert big.status_code == 413
    made = node.http.put(url, content=png, headers=auth(owner))
    assert made.status_code == 201, made.text
    emote = made.json()["data"][0]
    assert emote["name"] == "streamerHype" and emote["tier"] == 0
    sub_only = node.http.put("/api/chat/emotes/streamer/streamerVIP?tier=1",
                             content=badge_png("vip"), headers=auth(owner))
    assert sub_only.status_code == 201
    dup = node.http.put(url, content=png, headers=auth(owner))
    assert dup.status_code == 400
    img = node.http.get(emote["url"])
    assert img.content == png and img.headers["content-type"] == "image/png"
    assert "immutable" in img.headers["cache-control"]
    listed = node.http.get("/api/chat/emotes/streamer").json()["data"]
    assert {e["name"] for e in listed} == {"streamerHype", "streamerVIP"}
    kappa = next(e for e in node.http.get("/api/chat/emotes").json()["data"]
                 if e["name"] == "Kappa")
    assert node.http.get(kappa["url"]).content.startswith(b"\x89PNG")
    # in chat: the new emote resolves; the subscriber emote stays text for a non-subscriber
    sender = await connect(node, clients, viewer)
    watcher = await connect(node, clients, "justinfan8080")
    await sender.send("PRIVMSG #streamer :streamerHype streamerVIP Kappa")
    got = await watcher.expect(lambda m: m.command == "PRIVMSG" and "streamerHype" in m.params[-1])
    assert got.tags["emotes"] == f"{emote['id']}:0-11/25:25-29"
    # removal
    assert node.http.delete(url, headers=auth(viewer)).status_code == 403
    assert node.http.delete(url, headers=auth(owner)).status_code == 204
    assert node.http.get(emote["url"]).status_code == 404
    await sender.send("PRIVMSG #streamer :streamerHype again")
    got = await watcher.expect(lambda m: m.command == "PRIVMSG" and m.params[-1].endswith("again"))
    assert got.tags["emotes"] == ""
    badges = {b["set_id"] for b in node.http.get("/api/chat/badges").json()["data"]}
    assert {"broadcaster", "moderator", "vip", "subscriber", "founder", "bits"} <= badges


async def test_server_keepalive_pings_and_drops_silent_clients(
    tmp_path_factory: pytest.TempPathFactory
) -> None:
    n = NodeProcess(tmp_path_factory.mktemp("keepalive"), chat_keepalive="1")
    made: list[IrcClient] = []
    try:
        polite, silent = await IrcClient.tcp(n.chat_irc_port), await IrcClient.ws(n.chat_ws_port)
        made += [polite, silent]
        for i, c in enumerate(made):
            await c.login(f"justinfan{70 + i}", None)
        # the polite client answers every PING and stays; the silent one is dropped
        deadline = asyncio.get_running_loop().time() + 8
        while asyncio.get_running_loop().time() < deadline:
            ping = await polite.expect_cmd("PING", timeout=10)
            assert ping.params == ("tmi.twitch.tv",)
            await polite.send("PONG :tmi.twitch.tv")
        await asyncio.wait_for(silent.closed.wait(), 15)
        assert not polite.closed.is_set()
    finally:
        for c in made:
            await c.close()
        n.stop()


async def test_pipelined_sends_keep_order(
    node: NodeProcess, people: dict[str, Chatter], clients: list[IrcClient]
) -> None:
    boss = await connect(node, clients, people["streamer"], ws=False)
    watcher = await connect(node, clients, "justinfan60606")
    texts = [f"pipelined {i:02d}" for i in range(40)]
    await boss.send(*(f"PRIVMSG #streamer :{t}" for t in texts))  # one write, 40 lines
    acks = [(await boss.expect_cmd("USERSTATE")).tags["id"] for _ in texts]
    got = [await watcher.expect(lambda m: m.command == "PRIVMSG" and
                                m.params[-1].startswith("pipelined")) for _ in texts]
    assert [m.params[-1] for m in got] == texts
    assert [m.tags["id"] for m in got] == acks  # acknowledged in the order sent
    assert not boss.seen(lambda m: m.command == "NOTICE" and "msg-id" in m.tags
                         and m.tags["msg-id"].startswith("msg_"))


async def test_site_admin_carries_the_staff_badge(
    node: NodeProcess, people: dict[str, Chatter], clients: list[IrcClient]
) -> None:
    admin = node.cli("user", "create", "siteadmin", "--admin")
    token = node.token("siteadmin", "chat:read", "chat:edit")
    watcher = await connect(node, clients, people["viewer2"])
    c = await IrcClient.ws(node.chat_ws_port)
    clients.append(c)
    await c.login("siteadmin", token)
    glob = await c.expect(lambda m: m.command == "GLOBALUSERSTATE", what="GLOBALUSERSTATE")
    assert glob.tags["badges"] == "staff/1" and glob.tags["user-type"] == "staff"
    await c.join("streamer")
    state = c.seen(lambda m: m.command == "USERSTATE")[0]
    assert state.tags["badges"] == "staff/1" and state.tags["user-type"] == "staff"
    await c.send("PRIVMSG #streamer :hello from staff")
    line = await watcher.expect(
        lambda m: m.command == "PRIVMSG" and m.params[-1] == "hello from staff", what="PRIVMSG")
    assert line.tags["badges"] == "staff/1" and line.tags["user-type"] == "staff"
    assert line.tags["user-id"] == str(admin["id"])
    # an ordinary user has no staff badge
    own = watcher.seen(lambda m: m.command == "USERSTATE")
    assert own and "staff" not in own[0].tags["badges"] and own[0].tags["user-type"] == ""
