"""Subscriptions and Bits on a real node (SQLite and PostgreSQL), seen by real IRC clients:
Helix /subscriptions, /subscriptions/user, /bits/leaderboard, the admin grant, subscriber and
founder badges without rejoin, USERNOTICEs, subscribers-only mode, cheers, and the CLI."""

from __future__ import annotations

import asyncio
from typing import Any

from streamhub.channels.bits import BitsService
from streamhub.chat.emoteart import badge_png
from streamhub.storage.db import make_engine, sessionmaker
from tests.api.chat_helpers import (
    NODE_SETTINGS,
    EventSubSocket,
    clients,
    connect,
    http,
    is_cmd,
    notice,
    privmsg_from,
)
from tests.api.conftest import ApiNode, assert_error, node_fixture, run_sync
from tests.api.conftest import TestUser as ApiUser
from tests.system.irc_client import IrcClient

__all__ = ["clients"]

api = node_fixture(**NODE_SETTINGS)


def balance(api: ApiNode, who: ApiUser) -> int:
    async def read() -> int:
        engine = make_engine(api.db_url)
        try:
            return await BitsService(sessionmaker(engine)).balance(who.id)
        finally:
            await engine.dispose()

    return run_sync(read)


def grant_bits(api: ApiNode, who: ApiUser, amount: int) -> dict[str, Any]:
    return api.proc.cli("bits", "grant", who.login, str(amount))


def grant_sub(api: ApiNode, admin: ApiUser, channel: ApiUser, fan: ApiUser,
              **extra: Any) -> dict[str, Any]:
    r = api.post("/helix/subscriptions", admin,
                 json={"broadcaster_id": channel.uid, "user_id": fan.uid, **extra})
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()["data"][0]
    return data


def test_helix_subscriptions_and_their_authorization(api: ApiNode) -> None:
    admin, owner, other = api.user(admin=True), api.user(), api.user()
    fans = [api.user() for _ in range(3)]
    assert grant_sub(api, admin, owner, fans[0])["event"] == "sub"
    assert grant_sub(api, admin, owner, fans[1], tier="3000")["tier"] == "3000"
    gift = grant_sub(api, admin, owner, fans[2], gifter_id=other.uid, months=3)
    assert (gift["event"], gift["is_gift"], gift["gifter_login"]) == ("subgift", True,
                                                                      other.login)

    r = api.get("/helix/subscriptions", owner, params={"broadcaster_id": owner.uid})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["total"], body["points"], body["pagination"]) == (3, 1 + 6 + 1, {})
    first = body["data"][0]
    assert first == {
        "broadcaster_id": owner.uid, "broadcaster_login": owner.login,
        "broadcaster_name": owner.login, "gifter_id": "", "gifter_login": "", "gifter_name": "",
        "is_gift": False, "plan_name": f"Channel Subscription ({owner.login})", "tier": "1000",
        "user_id": fans[0].uid, "user_name": fans[0].login, "user_login": fans[0].login}
    assert body["data"][2]["gifter_id"] == other.uid and body["data"][2]["is_gift"] is True
    # paging and the user filter
    page1 = api.get("/helix/subscriptions", owner,
                    params={"broadcaster_id": owner.uid, "first": 2}).json()
    assert [d["user_id"] for d in page1["data"]] == [fans[0].uid, fans[1].uid]
    page2 = api.get("/helix/subscriptions", owner, params={
        "broadcaster_id": owner.uid, "first": 2,
        "after": page1["pagination"]["cursor"]}).json()
    assert [d["user_id"] for d in page2["data"]] == [fans[2].uid] and page2["pagination"] == {}
    picked = api.get("/helix/subscriptions", owner, params=[
        ("broadcaster_id", owner.uid), ("user_id", fans[2].uid), ("user_id", other.uid)]).json()
    assert [d["user_id"] for d in picked["data"]] == [fans[2].uid] and picked["total"] == 3
    # authorization
    assert_error(api.get("/helix/subscriptions", None, params={"broadcaster_id": owner.uid}),
                 401)
    assert_error(api.get("/helix/subscriptions", api.token(owner.login, ("chat:read",)),
                         params={"broadcaster_id": owner.uid}), 401,
                 "channel:read:subscriptions")
    assert_error(api.get("/helix/subscriptions", other, params={"broadcaster_id": owner.uid}),
                 403, "broadcaster_id")
    assert_error(api.get("/helix/subscriptions", owner), 400, "broadcaster_id")

    # /subscriptions/user: the token user's own subscription
    token = api.token(fans[2].login, ("user:read:subscriptions",))
    r = api.get("/helix/subscriptions/user", token,
                params={"broadcaster_id": owner.uid, "user_id": fans[2].uid})
    assert r.status_code == 200, r.text
    assert r.json() == {"data": [{
        "broadcaster_id": owner.uid, "broadcaster_login": owner.login,
        "broadcaster_name": owner.login, "is_gift": True, "tier": "1000",
        "gifter_id": other.uid, "gifter_login": other.login, "gifter_name": other.login}]}
    other_token = api.token(other.login, ("user:read:subscriptions",))
    assert_error(api.get("/helix/subscriptions/user", other_token,
                         params={"broadcaster_id": owner.uid, "user_id": other.uid}), 404,
                 f"{other.login} has no subscription to {owner.login}")
    assert_error(api.get("/helix/subscriptions/user", other_token,
                         params={"broadcaster_id": owner.uid, "user_id": fans[2].uid}), 403,
                 "user_id")
    assert_error(api.get("/helix/subscriptions/user", fans[2],  # lacks the scope
                         params={"broadcaster_id": owner.uid, "user_id": fans[2].uid}), 401,
                 "user:read:subscriptions")
    assert_error(api.get("/helix/subscriptions/user", None,
                         params={"broadcaster_id": owner.uid, "user_id": fans[2].uid}), 401)

    # the admin grant
    body_ = {"broadcaster_id": owner.uid, "user_id": other.uid}
    assert_error(api.post("/helix/subscriptions", None, json=body_), 401)
    assert_error(api.post("/helix/subscriptions", owner, json=body_), 403, "admin")
    assert_error(api.post("/helix/subscriptions", admin,
                          json={"broadcaster_id": owner.uid, "user_id": owner.uid}), 400, "own")
    assert_error(api.post("/helix/subscriptions", admin, json={**body_, "tier": "4000"}), 400)


async def test_comp_sub_in_chat_badges_usernotice_and_subs_only(
    api: ApiNode, clients: list[IrcClient]
) -> None:
    admin, owner, fan = api.user(admin=True), api.user(), api.user()
    watcher = await connect(api, clients, None, owner.login)
    talker = await connect(api, clients, fan, owner.login)
    r = await http(api.patch, "/helix/chat/settings", owner, params={
        "broadcaster_id": owner.uid, "moderator_id": owner.uid}, json={"subscriber_mode": True})
    assert r.status_code == 200, r.text
    await talker.send(f"PRIVMSG #{owner.login} :let me in")
    await notice(talker, "msg_subsonly")

    # granted while fan sits in chat: everyone sees the USERNOTICE, the next PRIVMSG is
    # accepted and carries the badge (no rejoin); first subscriber = founder
    await http(grant_sub, api, admin, owner, fan, tier="2000")
    sub = await watcher.expect(is_cmd("USERNOTICE", f"#{owner.login}", msg_id="sub"))
    assert sub.tags["login"] == fan.login and sub.tags["user-id"] == fan.uid
    assert sub.tags["msg-param-sub-plan"] == "2000"
    assert sub.tags["msg-param-cumulative-months"] == "1"
    assert sub.tags["system-msg"] == f"{fan.login} subscribed at Tier 2."
    await talker.expect(is_cmd("USERNOTICE", f"#{owner.login}", msg_id="sub"))
    await talker.send(f"PRIVMSG #{owner.login} :subbed now")
    line = await watcher.expect(privmsg_from(fan.login, "subbed now"))
    assert (line.tags["badges"], line.tags["badge-info"], line.tags["subscriber"]) == (
        "founder/0", "founder/1", "1")

    # a resub (the user's message) and a gift
    await http(grant_sub, api, admin, owner, fan, tier="2000", message="two months!")
    resub = await watcher.expect(is_cmd("USERNOTICE", f"#{owner.login}", msg_id="resub"))
    assert resub.params[1] == "two months!"
    assert resub.tags["msg-param-cumulative-months"] == "2"
    assert resub.tags["msg-param-streak-months"] == "2"
    gifter, lucky = api.user(), api.user()
    await http(grant_sub, api, admin, owner, lucky, gifter_id=gifter.uid)
    gift = await watcher.expect(is_cmd("USERNOTICE", f"#{owner.login}", msg_id="subgift"))
    assert gift.tags["login"] == gifter.login
    assert (gift.tags["msg-param-recipient-id"], gift.tags["msg-param-recipient-user-name"],
            gift.tags["msg-param-months"], gift.tags["msg-param-sub-plan"]) == (
        lucky.uid, lucky.login, "1", "1000")
    assert gift.tags["system-msg"] == f"{gifter.login} gifted a Tier 1 sub to {lucky.login}!"


async def test_founders_are_the_first_ten(api: ApiNode, clients: list[IrcClient]) -> None:
    admin, owner = api.user(admin=True), api.user()
    fans = [api.user() for _ in range(11)]
    watcher = await connect(api, clients, None, owner.login)
    for fan in fans:
        await http(grant_sub, api, admin, owner, fan)
    badges = {}
    for _ in fans:
        m = await watcher.expect(is_cmd("USERNOTICE", f"#{owner.login}", msg_id="sub"))
        badges[m.tags["login"]] = (m.tags["badges"], m.tags["badge-info"])
    assert [badges[f.login] for f in fans] == [("founder/0", "founder/1")] * 10 + [
        ("subscriber/0", "subscriber/1")]
    # the 11th, joining now, chats with the subscriber badge; a founder with founder's
    late, first = fans[10], fans[0]
    for who in (late, first):
        c = await connect(api, clients, who, owner.login)
        await c.send(f"PRIVMSG #{owner.login} :hi from {who.login}")
    assert (await watcher.expect(privmsg_from(late.login))).tags["badges"] == "subscriber/0"
    assert (await watcher.expect(privmsg_from(first.login))).tags["badges"] == "founder/0"


async def test_cheers_debit_refuse_and_never_overspend(
    api: ApiNode, clients: list[IrcClient]
) -> None:
    owner, fan, rich = api.user(), api.user(), api.user()
    watcher = await connect(api, clients, None, owner.login)
    talker = await connect(api, clients, fan, owner.login)
    assert (await http(grant_bits, api, fan, 150))["balance"] == 150

    await talker.send(f"PRIVMSG #{owner.login} :Cheer100 great stream")
    line = await watcher.expect(privmsg_from(fan.login, "Cheer100 great stream"))
    assert line.tags["bits"] == "100" and line.tags["badges"] == "bits/100"
    assert await http(balance, api, fan) == 50
    # over budget: refused with the NOTICE, nothing debited, nothing delivered
    await talker.send(f"PRIVMSG #{owner.login} :cheer40 Cheer20 too much")
    await notice(talker, "msg_bits_insufficient")
    await talker.send(f"PRIVMSG #{owner.login} :plain message")
    await watcher.expect(privmsg_from(fan.login, "plain message"))
    assert not watcher.seen(privmsg_from(fan.login, "cheer40 Cheer20 too much"))
    assert await http(balance, api, fan) == 50
    # a message without a cheermote carries no bits tag
    assert "bits" not in watcher.seen(privmsg_from(fan.login, "plain message"))[0].tags

    # concurrent cheers from several connections of one user: exactly the balance is spent
    await http(grant_bits, api, rich, 500)
    conns = [await connect(api, clients, rich, owner.login) for _ in range(8)]
    await asyncio.gather(*(c.send(f"PRIVMSG #{owner.login} :Cheer100 wave {i}")
                           for i, c in enumerate(conns)))
    refused = 0
    for c in conns:
        # refused: the NOTICE; accepted: USERSTATE with the message id (Twitch's ack)
        got = await c.expect(lambda m: (m.command == "NOTICE" and m.tags.get(
            "msg-id") == "msg_bits_insufficient") or (m.command == "USERSTATE" and "id" in m.tags),
            what="cheer outcome")
        refused += got.command == "NOTICE"
    assert refused == 3
    async with asyncio.timeout(20):
        while len(watcher.seen(privmsg_from(rich.login))) < 5:
            await watcher.expect(privmsg_from(rich.login))
    cheers = watcher.seen(privmsg_from(rich.login))
    assert len(cheers) == 5 and all(m.tags["bits"] == "100" for m in cheers)
    assert await http(balance, api, rich) == 0
    assert cheers[-1].tags["badges"] == "bits/100"

    # the leaderboard
    r = await http(api.get, "/helix/bits/leaderboard", owner, params={"count": 5})
    assert r.status_code == 200, r.text
    assert r.json() == {"data": [
        {"user_id": rich.uid, "user_login": rich.login, "user_name": rich.login, "rank": 1,
         "score": 500},
        {"user_id": fan.uid, "user_login": fan.login, "user_name": fan.login, "rank": 2,
         "score": 100}], "date_range": {"started_at": "", "ended_at": ""}, "total": 2}
    r = await http(api.get, "/helix/bits/leaderboard", owner, params={"count": 1,
                                                                      "user_id": fan.uid})
    assert [d["rank"] for d in r.json()["data"]] == [2]
    assert_error(await http(api.get, "/helix/bits/leaderboard", None), 401)
    assert_error(await http(api.get, "/helix/bits/leaderboard",
                            api.token(owner.login, ("chat:read",))), 401, "bits:read")
    assert_error(await http(api.get, "/helix/bits/leaderboard", owner,
                            params={"period": "week"}), 400, "period")
    assert_error(await http(api.get, "/helix/bits/leaderboard", owner, params={"count": 101}),
                 400)


async def test_cli_grants(api: ApiNode, clients: list[IrcClient]) -> None:
    owner, fan, gifter = api.user(), api.user(), api.user()
    out = await http(api.proc.cli, "sub", "grant", owner.login, fan.login, "--tier", "3",
                     "--months", "2")
    assert (out["event"], out["tier"], out["cumulative_months"], out["founder"]) == (
        "sub", "3000", 2, True)
    out = await http(api.proc.cli, "sub", "grant", owner.login, fan.login, "--gift-from",
                     gifter.login)
    assert (out["event"], out["is_gift"], out["gifter_login"], out["tier"]) == (
        "subgift", True, gifter.login, "1000")
    token = api.token(fan.login, ("user:read:subscriptions",))
    r = await http(api.get, "/helix/subscriptions/user", token,
                   params={"broadcaster_id": owner.uid, "user_id": fan.uid})
    assert r.json()["data"][0]["gifter_login"] == gifter.login
    # the badge shows once the user joins
    watcher = await connect(api, clients, None, owner.login)
    talker = await connect(api, clients, fan, owner.login)
    await talker.send(f"PRIVMSG #{owner.login} :from the cli")
    line = await watcher.expect(privmsg_from(fan.login, "from the cli"))
    assert (line.tags["badges"], line.tags["badge-info"]) == ("founder/0", "founder/3")
    out = await http(api.proc.cli, "bits", "grant", fan.login, "250")
    assert out == {"user_id": fan.uid, "login": fan.login, "granted": 250, "balance": 250}
    out = await http(api.proc.cli, "bits", "grant", fan.login, "5")
    assert out["balance"] == 255


async def test_tiered_sub_emotes_follow_the_subscription(
    api: ApiNode, clients: list[IrcClient]
) -> None:
    admin, owner, fan = api.user(admin=True), api.user(), api.user()
    ids = {}
    for code, tier in (("subOne", "1"), ("subThree", "3")):
        up = await http(api.http.put, f"/api/chat/emotes/{owner.login}/{code}",
                        params={"tier": tier}, content=badge_png(code),
                        headers={"Authorization": f"Bearer {owner.token}"})
        assert up.status_code == 201, up.text
        ids[code] = up.json()["data"][0]["id"]
    watcher = await connect(api, clients, None, owner.login)
    talker = await connect(api, clients, fan, owner.login)
    text = "subOne subThree"
    await talker.send(f"PRIVMSG #{owner.login} :{text} 0")
    assert (await watcher.expect(privmsg_from(fan.login, f"{text} 0"))).tags["emotes"] == ""
    await http(grant_sub, api, admin, owner, fan)  # tier 1, while in chat
    await watcher.expect(is_cmd("USERNOTICE", f"#{owner.login}", msg_id="sub"))
    await talker.send(f"PRIVMSG #{owner.login} :{text} 1")
    line = await watcher.expect(privmsg_from(fan.login, f"{text} 1"))
    assert line.tags["emotes"] == f"{ids['subOne']}:0-5"
    await http(grant_sub, api, admin, owner, fan, tier="3000")  # an upgrade
    await watcher.expect(is_cmd("USERNOTICE", f"#{owner.login}", msg_id="resub"))
    await talker.send(f"PRIVMSG #{owner.login} :{text} 3")
    line = await watcher.expect(privmsg_from(fan.login, f"{text} 3"))
    assert set(line.tags["emotes"].split("/")) == {f"{ids['subOne']}:0-5",
                                                  f"{ids['subThree']}:7-14"}
    assert line.tags["badges"] == "founder/0"


async def test_eventsub_sub_gift_resub_and_cheer(api: ApiNode, clients: list[IrcClient]) -> None:
    admin, owner, fan, gifter, lucky = (api.user(admin=True), api.user(), api.user(),
                                        api.user(), api.user())
    socket = await EventSubSocket.open(api)
    try:
        where = {"broadcaster_user_id": owner.uid}
        subs = ("channel:read:subscriptions",)
        for kind in ("channel.subscribe", "channel.subscription.gift",
                     "channel.subscription.message"):
            await http(socket.subscribe, owner, subs, kind, where)
        await http(socket.subscribe, owner, ("bits:read",), "channel.cheer", where)
        channel = {"broadcaster_user_id": owner.uid, "broadcaster_user_login": owner.login,
                   "broadcaster_user_name": owner.login}

        def person(who: ApiUser) -> dict[str, str]:
            return {"user_id": who.uid, "user_login": who.login, "user_name": who.login}

        await http(grant_sub, api, admin, owner, fan)
        assert await socket.event("channel.subscribe") == {
            **person(fan), **channel, "tier": "1000", "is_gift": False}
        await http(grant_sub, api, admin, owner, fan, tier="2000", message="hello again")
        assert await socket.event("channel.subscription.message") == {
            **person(fan), **channel, "tier": "2000",
            "message": {"text": "hello again", "emotes": []}, "cumulative_months": 2,
            "streak_months": 2, "duration_months": 1}
        await http(grant_sub, api, admin, owner, lucky, gifter_id=gifter.uid)
        assert await socket.event("channel.subscribe") == {
            **person(lucky), **channel, "tier": "1000", "is_gift": True}
        assert await socket.event("channel.subscription.gift") == {
            **person(gifter), **channel, "total": 1, "tier": "1000", "cumulative_total": None,
            "is_anonymous": False}
        await http(grant_bits, api, fan, 10)
        talker = await connect(api, clients, fan, owner.login)
        await talker.send(f"PRIVMSG #{owner.login} :Cheer10 thanks")
        assert await socket.event("channel.cheer") == {
            "is_anonymous": False, **person(fan), **channel, "message": "Cheer10 thanks",
            "bits": 10}
    finally:
        await socket.close()
