"""Helix moderation against a real node, with the effects checked in chat by real IRC clients:
bans and timeouts, banned list, moderators, VIPs, deleting messages, blocked terms."""

from __future__ import annotations

import asyncio

import httpx

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
from tests.api.conftest import ALL_SCOPES, ApiNode, assert_error, node_fixture
from tests.api.conftest import TestUser as ApiUser
from tests.system.irc_client import IrcClient

__all__ = ["clients"]
TERM_SCOPES = (*ALL_SCOPES, "moderator:read:blocked_terms", "moderator:manage:blocked_terms")


api = node_fixture(**NODE_SETTINGS)


def ban(api: ApiNode, channel: ApiUser, mod: ApiUser, target: ApiUser | str,
        duration: int | None = None, reason: str = "", who: ApiUser | str | None = None,
        ) -> httpx.Response:
    data: dict[str, object] = {"user_id": target if isinstance(target, str) else target.uid,
                               "reason": reason}
    if duration is not None:
        data["duration"] = duration
    return api.post("/helix/moderation/bans", who or mod, json={"data": data},
                    params={"broadcaster_id": channel.uid, "moderator_id": mod.uid})


async def test_ban_is_seen_and_enforced_in_chat_then_lifted(
    api: ApiNode, clients: list[IrcClient]
) -> None:
    owner, viewer = api.user(), api.user()
    watcher = await connect(api, clients, None, owner.login)
    victim = await connect(api, clients, viewer, owner.login, ws=False)

    r = await http(ban, api, owner, owner, viewer, reason="spam")
    assert r.status_code == 200, r.text
    row = r.json()["data"][0]
    assert row["broadcaster_id"] == owner.uid and row["moderator_id"] == owner.uid
    assert row["user_id"] == viewer.uid and row["end_time"] is None
    assert row["created_at"].endswith("Z")
    clear = await watcher.expect(is_cmd("CLEARCHAT", f"#{owner.login}", viewer.login))
    assert "ban-duration" not in clear.tags and clear.tags["target-user-id"] == viewer.uid

    await victim.send(f"PRIVMSG #{owner.login} :let me talk")
    await notice(victim, "msg_banned")
    assert_error(await http(ban, api, owner, owner, viewer), 400, "already banned")

    listed = api.get("/helix/moderation/banned", owner,
                     params={"broadcaster_id": owner.uid}).json()
    assert listed["pagination"] == {}
    (entry,) = listed["data"]
    assert entry["user_id"] == viewer.uid and entry["user_login"] == viewer.login
    assert entry["reason"] == "spam" and entry["expires_at"] == ""
    assert entry["moderator_id"] == owner.uid and entry["moderator_login"] == owner.login

    unban = {"broadcaster_id": owner.uid, "moderator_id": owner.uid, "user_id": viewer.uid}
    assert api.delete("/helix/moderation/bans", owner, params=unban).status_code == 204
    assert_error(api.delete("/helix/moderation/bans", owner, params=unban), 400, "not banned")
    await victim.send(f"PRIVMSG #{owner.login} :back again")
    await watcher.expect(privmsg_from(viewer.login, "back again"))
    assert api.get("/helix/moderation/banned", owner,
                   params={"broadcaster_id": owner.uid}).json()["data"] == []


async def test_timeout_ends_by_itself(api: ApiNode, clients: list[IrcClient]) -> None:
    owner, viewer = api.user(), api.user()
    watcher = await connect(api, clients, None, owner.login)
    victim = await connect(api, clients, viewer, owner.login)
    r = await http(ban, api, owner, owner, viewer, duration=2)
    assert r.status_code == 200, r.text
    assert r.json()["data"][0]["end_time"].endswith("Z")
    clear = await watcher.expect(is_cmd("CLEARCHAT", f"#{owner.login}", viewer.login))
    assert clear.tags["ban-duration"] == "2"
    listed = api.get("/helix/moderation/banned", owner,
                     params={"broadcaster_id": owner.uid, "user_id": viewer.uid}).json()["data"]
    assert listed and listed[0]["expires_at"].endswith("Z")
    await victim.send(f"PRIVMSG #{owner.login} :too early")
    await notice(victim, "msg_timedout")
    # the timeout runs out: keep trying (distinct texts) until a message goes through
    for attempt in range(60):
        await victim.send(f"PRIVMSG #{owner.login} :attempt {attempt}")
        reply = await victim.expect(
            lambda m: (m.command == "USERSTATE" and "id" in m.tags)
            or (m.command == "NOTICE" and m.tags.get("msg-id") == "msg_timedout"))
        if reply.command == "USERSTATE":
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError("the timeout never ended")
    assert api.get("/helix/moderation/banned", owner,
                   params={"broadcaster_id": owner.uid}).json()["data"] == []


def test_ban_validation_and_authorization(api: ApiNode) -> None:
    owner, viewer, other = api.user(), api.user(), api.user()
    assert_error(ban(api, owner, owner, owner), 400, "broadcaster")
    assert_error(ban(api, owner, owner, viewer, duration=0), 400, "duration")
    assert_error(ban(api, owner, owner, viewer, duration=1_209_601), 400, "duration")
    assert_error(ban(api, owner, owner, "abc"), 400, "user_id")
    assert_error(ban(api, owner, owner, "987654321"), 400, "user_id")
    assert_error(ban(api, owner, owner, "99999999999"), 400, "user_id")  # beyond 32-bit ids
    assert_error(ban(api, owner, owner, viewer, reason="two\nlines"), 400, "reason")
    assert_error(api.post("/helix/moderation/bans", owner, json={},
                          params={"broadcaster_id": owner.uid, "moderator_id": owner.uid}),
                 400, "data")
    assert_error(api.post("/helix/moderation/bans", owner, json={"data": {"user_id": viewer.uid}},
                          params={"broadcaster_id": owner.uid}), 400, "moderator_id")
    assert_error(ban(api, owner, owner, viewer, who="not-a-token"), 401, "invalid")
    r = api.post("/helix/moderation/bans", None, json={"data": {"user_id": viewer.uid}},
                 params={"broadcaster_id": owner.uid, "moderator_id": owner.uid})
    assert_error(r, 401, "missing")
    weak = api.user(scopes=("chat:read",))
    assert_error(ban(api, weak, weak, viewer), 401, "moderator:manage:banned_users")
    # moderator_id must be the token's user, and a moderator of the channel
    assert_error(ban(api, owner, viewer, other, who=owner), 403, "moderator_id")
    assert_error(ban(api, owner, other, viewer), 403, "moderator")
    for path in ("/helix/moderation/banned", "/helix/moderation/moderators",
                 "/helix/channels/vips"):
        assert_error(api.get(path, other, params={"broadcaster_id": owner.uid}), 403)
        assert_error(api.get(path, weak, params={"broadcaster_id": weak.uid}), 401, "scope")
        assert_error(api.get(path, owner, params={"broadcaster_id": "x"}), 400)
        assert_error(api.get(path, None, params={"broadcaster_id": owner.uid}), 401)
    unban = {"broadcaster_id": owner.uid, "moderator_id": owner.uid, "user_id": "x"}
    assert_error(api.delete("/helix/moderation/bans", owner, params=unban), 400, "user_id")
    unban["user_id"] = viewer.uid
    assert_error(api.delete("/helix/moderation/bans", other, params=unban), 403)


def test_banned_list_pages_and_filters(api: ApiNode) -> None:
    owner = api.user()
    targets = [api.user() for _ in range(3)]
    for t in targets:
        assert ban(api, owner, owner, t, reason=t.login).status_code == 200
    seen: list[str] = []
    params: dict[str, object] = {"broadcaster_id": owner.uid, "first": 2}
    while True:
        body = api.get("/helix/moderation/banned", owner, params=params).json()
        seen += [row["user_id"] for row in body["data"]]
        if not body["pagination"]:
            break
        params["after"] = body["pagination"]["cursor"]
    assert sorted(seen) == sorted(t.uid for t in targets)
    one = api.get("/helix/moderation/banned", owner, params=[
        ("broadcaster_id", owner.uid), ("user_id", targets[0].uid), ("user_id", targets[2].uid)])
    assert sorted(r["user_id"] for r in one.json()["data"]) == sorted(
        [targets[0].uid, targets[2].uid])
    assert_error(api.get("/helix/moderation/banned", owner,
                         params={"broadcaster_id": owner.uid, "first": 101}), 400, "first")
    assert_error(api.get("/helix/moderation/banned", owner,
                         params={"broadcaster_id": owner.uid, "after": "!!"}), 400, "cursor")


async def test_moderators_are_appointed_and_can_moderate(
    api: ApiNode, clients: list[IrcClient]
) -> None:
    owner, mod, viewer, other = api.user(), api.user(), api.user(), api.user()
    p = {"broadcaster_id": owner.uid, "user_id": mod.uid}
    assert api.post("/helix/moderation/moderators", owner, params=p).status_code == 204
    assert_error(api.post("/helix/moderation/moderators", owner, params=p), 400, "already")
    assert_error(api.post("/helix/moderation/moderators", mod, params=p), 403)
    assert_error(api.post("/helix/moderation/moderators", api.user(scopes=("chat:read",)),
                          params=p), 401, "channel:manage:moderators")
    assert_error(api.post("/helix/moderation/moderators", owner,
                          params={"broadcaster_id": owner.uid, "user_id": "0"}), 400, "user_id")
    body = api.get("/helix/moderation/moderators", owner,
                   params={"broadcaster_id": owner.uid}).json()
    assert body["data"] == [{"user_id": mod.uid, "user_login": mod.login,
                             "user_name": mod.login}] and body["pagination"] == {}

    # the new moderator's badge shows in chat, and they can moderate through Helix
    watcher = await connect(api, clients, None, owner.login)
    mod_chat = await connect(api, clients, mod, owner.login)
    await mod_chat.send(f"PRIVMSG #{owner.login} :hello as mod")
    line = await watcher.expect(privmsg_from(mod.login, "hello as mod"))
    assert "moderator/1" in line.tags["badges"] and line.tags["mod"] == "1"
    assert (await http(ban, api, owner, mod, viewer, 60)).status_code == 200
    await watcher.expect(is_cmd("CLEARCHAT", f"#{owner.login}", viewer.login))
    # a moderator cannot ban another moderator; the broadcaster can
    p2 = {"broadcaster_id": owner.uid, "user_id": other.uid}
    assert api.post("/helix/moderation/moderators", owner, params=p2).status_code == 204
    assert_error(await http(ban, api, owner, mod, other), 400, "moderator")

    assert api.delete("/helix/moderation/moderators", owner, params=p).status_code == 204
    assert_error(api.delete("/helix/moderation/moderators", owner, params=p), 400, "not a mod")
    assert_error(await http(ban, api, owner, mod, api.user()), 403, "moderator")
    body = api.get("/helix/moderation/moderators", owner,
                   params={"broadcaster_id": owner.uid, "first": 1}).json()
    assert [r["user_id"] for r in body["data"]] == [other.uid] and body["pagination"] == {}


def test_vips(api: ApiNode) -> None:
    owner, vip, mod = api.user(), api.user(), api.user()
    vp = {"broadcaster_id": owner.uid, "user_id": vip.uid}
    assert api.post("/helix/channels/vips", owner, params=vp).status_code == 204
    assert_error(api.post("/helix/channels/vips", owner, params=vp), 422, "already")
    # a VIP must stop being one before becoming a moderator, and the other way round
    assert_error(api.post("/helix/moderation/moderators", owner, params=vp), 422, "VIP")
    mp = {"broadcaster_id": owner.uid, "user_id": mod.uid}
    assert api.post("/helix/moderation/moderators", owner, params=mp).status_code == 204
    assert_error(api.post("/helix/channels/vips", owner, params=mp), 422, "moderator")
    body = api.get("/helix/channels/vips", owner, params={"broadcaster_id": owner.uid}).json()
    assert [r["user_id"] for r in body["data"]] == [vip.uid]
    filt = api.get("/helix/channels/vips", owner,
                   params={"broadcaster_id": owner.uid, "user_id": mod.uid}).json()
    assert filt["data"] == []
    assert_error(api.post("/helix/channels/vips", vip, params=vp), 403)
    reader = api.user(scopes=("channel:read:vips",))
    assert_error(api.post("/helix/channels/vips", reader,
                          params={"broadcaster_id": reader.uid, "user_id": vip.uid}),
                 401, "channel:manage:vips")
    assert api.get("/helix/channels/vips", reader,
                   params={"broadcaster_id": reader.uid}).json()["data"] == []
    assert api.delete("/helix/channels/vips", owner, params=vp).status_code == 204
    assert_error(api.delete("/helix/channels/vips", owner, params=vp), 422, "not a VIP")


async def test_delete_one_message_and_clear_chat(api: ApiNode, clients: list[IrcClient]) -> None:
    owner, viewer, other = api.user(), api.user(), api.user()
    watcher = await connect(api, clients, None, owner.login)
    talker = await connect(api, clients, viewer, owner.login)
    await talker.send(f"PRIVMSG #{owner.login} :delete me")
    line = await watcher.expect(privmsg_from(viewer.login, "delete me"))
    msg_id = line.tags["id"]
    params = {"broadcaster_id": owner.uid, "moderator_id": owner.uid}
    r = await http(api.delete, "/helix/moderation/chat", owner,
                   params={**params, "message_id": msg_id})
    assert r.status_code == 204, r.text
    clearmsg = await watcher.expect(is_cmd("CLEARMSG", f"#{owner.login}"))
    assert clearmsg.tags["target-msg-id"] == msg_id and clearmsg.params[-1] == "delete me"
    assert_error(api.delete("/helix/moderation/chat", owner,
                            params={**params, "message_id": "no-such-message"}), 404)
    assert_error(api.delete("/helix/moderation/chat", owner,
                            params={**params, "message_id": "bad\x00id"}), 400, "message_id")
    assert_error(api.delete("/helix/moderation/chat", other,
                            params={"broadcaster_id": owner.uid, "moderator_id": other.uid}),
                 403)
    assert_error(api.delete("/helix/moderation/chat", api.user(scopes=("chat:read",)),
                            params=params), 401, "moderator:manage:chat_messages")
    r = await http(api.delete, "/helix/moderation/chat", owner, params=params)
    assert r.status_code == 204
    clear = await watcher.expect(is_cmd("CLEARCHAT", f"#{owner.login}"))
    assert len(clear.params) == 1


async def test_blocked_terms(api: ApiNode, clients: list[IrcClient]) -> None:
    owner = api.user(scopes=TERM_SCOPES)
    viewer = api.user()
    params = {"broadcaster_id": owner.uid, "moderator_id": owner.uid}
    r = api.post("/helix/moderation/blocked_terms", owner, params=params,
                 json={"text": "forbidden words"})
    assert r.status_code == 200, r.text
    term = r.json()["data"][0]
    assert term["text"] == "forbidden words" and term["broadcaster_id"] == owner.uid
    assert term["moderator_id"] == owner.uid and term["expires_at"] is None
    again = api.post("/helix/moderation/blocked_terms", owner, params=params,
                     json={"text": "forbidden words"})
    assert again.json()["data"][0]["id"] == term["id"]
    assert_error(api.post("/helix/moderation/blocked_terms", owner, params=params,
                          json={"text": "x"}), 400, "text")
    assert_error(api.post("/helix/moderation/blocked_terms", owner, params=params,
                          json={"text": "y" * 501}), 400, "text")
    assert_error(api.post("/helix/moderation/blocked_terms", api.user(), params=params,
                          json={"text": "abc"}), 401, "blocked_terms")
    listed = api.get("/helix/moderation/blocked_terms", owner, params=params).json()
    assert [t["id"] for t in listed["data"]] == [term["id"]]

    talker = await connect(api, clients, viewer, owner.login)
    watcher = await connect(api, clients, None, owner.login)
    await talker.send(f"PRIVMSG #{owner.login} :these are Forbidden Words indeed")
    await notice(talker, "msg_rejected_mandatory")
    r = await http(api.delete, "/helix/moderation/blocked_terms", owner,
                   params={**params, "id": term["id"]})
    assert r.status_code == 204
    await talker.send(f"PRIVMSG #{owner.login} :forbidden words now fine")
    await watcher.expect(privmsg_from(viewer.login, "forbidden words now fine"))
    assert api.get("/helix/moderation/blocked_terms", owner, params=params).json()["data"] == []
    assert_error(api.delete("/helix/moderation/blocked_terms", owner,
                            params={**params, "id": "abc"}), 400, "id")
    assert api.delete("/helix/moderation/blocked_terms", owner,
                      params={**params, "id": "9999999999"}).status_code == 204
    assert_error(api.post("/helix/moderation/blocked_terms", owner, params=params,
                          json={"text": "nul\x00byte"}), 400, "nul")


async def test_moderation_events_reach_eventsub(api: ApiNode, clients: list[IrcClient]) -> None:
    owner, viewer, helper = api.user(), api.user(), api.user()
    socket = await EventSubSocket.open(api)
    try:
        cond = {"broadcaster_user_id": owner.uid}
        for kind in ("channel.ban", "channel.unban"):
            await http(socket.subscribe, owner, ("channel:moderate",), kind, cond)
        for kind in ("channel.moderator.add", "channel.moderator.remove"):
            await http(socket.subscribe, owner, ("moderation:read",), kind, cond)

        assert (await http(ban, api, owner, owner, viewer, reason="rude")).status_code == 200
        banned = await socket.event("channel.ban")
        assert banned["user_id"] == viewer.uid and banned["user_login"] == viewer.login
        assert banned["broadcaster_user_id"] == owner.uid
        assert banned["moderator_user_id"] == owner.uid and banned["reason"] == "rude"
        assert banned["is_permanent"] is True and banned["ends_at"] is None
        unban = {"broadcaster_id": owner.uid, "moderator_id": owner.uid, "user_id": viewer.uid}
        assert (await http(api.delete, "/helix/moderation/bans", owner,
                           params=unban)).status_code == 204
        lifted = await socket.event("channel.unban")
        assert lifted["user_id"] == viewer.uid and lifted["moderator_user_login"] == owner.login

        # the same events for the IRC slash command
        irc = await connect(api, clients, owner, owner.login)
        await irc.send(f"PRIVMSG #{owner.login} :/timeout {viewer.login} 30 cool off")
        timed = await socket.event("channel.ban")
        assert timed["is_permanent"] is False and timed["reason"] == "cool off"
        assert timed["ends_at"] > timed["banned_at"]

        p = {"broadcaster_id": owner.uid, "user_id": helper.uid}
        assert (await http(api.post, "/helix/moderation/moderators", owner,
                           params=p)).status_code == 204
        added = await socket.event("channel.moderator.add")
        assert added["user_id"] == helper.uid and added["broadcaster_user_id"] == owner.uid
        assert (await http(api.delete, "/helix/moderation/moderators", owner,
                           params=p)).status_code == 204
        removed = await socket.event("channel.moderator.remove")
        assert removed["user_login"] == helper.login
    finally:
        await socket.close()
