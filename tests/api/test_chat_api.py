"""Helix chat against a real node, checked in chat by real IRC clients: settings (room modes and
their enforcement, followers-only with a follow), emotes, badges, chatters, colors,
announcements and sending messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streamhub.chat.emoteart import badge_png
from streamhub.storage.db import make_engine, sessionmaker
from streamhub.storage.models import Follow
from tests.api.chat_helpers import (
    NODE_SETTINGS,
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


def follow(api: ApiNode, user: ApiUser, channel: ApiUser, minutes_ago: float) -> None:
    """A follow row straight in the database (what the follow endpoint writes)."""
    async def write() -> None:
        engine = make_engine(api.db_url)
        try:
            async with sessionmaker(engine)() as session, session.begin():
                session.add(Follow(user_id=user.id, channel_id=channel.id,
                                   followed_at=datetime.now(UTC) - timedelta(
                                       minutes=minutes_ago)))
        finally:
            await engine.dispose()

    run_sync(write)


def settings_params(channel: ApiUser, mod: ApiUser | None = None) -> dict[str, str]:
    return {"broadcaster_id": channel.uid, "moderator_id": (mod or channel).uid}


async def test_settings_change_room_state_and_are_enforced(
    api: ApiNode, clients: list[IrcClient]
) -> None:
    owner, viewer = api.user(), api.user()
    r = api.get("/helix/chat/settings", owner, params={"broadcaster_id": owner.uid})
    assert r.status_code == 200
    assert r.json()["data"] == [{
        "broadcaster_id": owner.uid, "slow_mode": False, "slow_mode_wait_time": None,
        "follower_mode": False, "follower_mode_duration": None, "subscriber_mode": False,
        "emote_mode": False, "unique_chat_mode": False, "non_moderator_chat_delay": False,
        "non_moderator_chat_delay_duration": None, "moderator_id": ""}]
    watcher = await connect(api, clients, None, owner.login)
    talker = await connect(api, clients, viewer, owner.login)

    r = await http(api.patch, "/helix/chat/settings", owner, params=settings_params(owner),
                   json={"slow_mode": True, "slow_mode_wait_time": 60})
    assert r.status_code == 200, r.text
    data = r.json()["data"][0]
    assert data["slow_mode"] is True and data["slow_mode_wait_time"] == 60
    state = await watcher.expect(is_cmd("ROOMSTATE", f"#{owner.login}", slow="60"))
    assert state.tags["room-id"] == owner.uid
    await talker.send(f"PRIVMSG #{owner.login} :first")
    await watcher.expect(privmsg_from(viewer.login, "first"))
    await talker.send(f"PRIVMSG #{owner.login} :second")
    await notice(talker, "msg_slowmode")

    r = await http(api.patch, "/helix/chat/settings", owner, params=settings_params(owner),
                   json={"slow_mode": False, "emote_mode": True, "unique_chat_mode": True})
    assert r.status_code == 200
    await watcher.expect(is_cmd("ROOMSTATE", f"#{owner.login}", slow="0"))
    await talker.send(f"PRIVMSG #{owner.login} :plain words")
    await notice(talker, "msg_emoteonly")
    await talker.send(f"PRIVMSG #{owner.login} :Kappa")
    await watcher.expect(privmsg_from(viewer.login, "Kappa"))
    got = api.get("/helix/chat/settings", api.user(),
                  params={"broadcaster_id": owner.uid}).json()["data"][0]
    assert got["emote_mode"] is True and got["unique_chat_mode"] is True
    assert got["slow_mode"] is False


async def test_followers_only_mode_uses_follows(api: ApiNode, clients: list[IrcClient]) -> None:
    owner, fan, stranger, newbie = api.user(), api.user(), api.user(), api.user()
    follow(api, fan, owner, minutes_ago=30)
    follow(api, newbie, owner, minutes_ago=1)
    r = await http(api.patch, "/helix/chat/settings", owner, params=settings_params(owner),
                   json={"follower_mode": True, "follower_mode_duration": 10})
    assert r.status_code == 200, r.text
    assert r.json()["data"][0]["follower_mode_duration"] == 10
    watcher = await connect(api, clients, None, owner.login)
    assert watcher.seen(is_cmd("ROOMSTATE", f"#{owner.login}"))[-1].tags[
        "followers-only"] == "10"
    fan_chat = await connect(api, clients, fan, owner.login)
    stranger_chat = await connect(api, clients, stranger, owner.login)
    newbie_chat = await connect(api, clients, newbie, owner.login)
    await fan_chat.send(f"PRIVMSG #{owner.login} :i follow")
    await watcher.expect(privmsg_from(fan.login, "i follow"))
    await stranger_chat.send(f"PRIVMSG #{owner.login} :i do not")
    await notice(stranger_chat, "msg_followersonly")
    await newbie_chat.send(f"PRIVMSG #{owner.login} :just followed")
    await notice(newbie_chat, "msg_followersonly_followed")
    # the same rules for messages sent through the API
    sent = await http(api.post, "/helix/chat/messages", stranger, json={
        "broadcaster_id": owner.uid, "sender_id": stranger.uid, "message": "via api"})
    assert sent.json()["data"][0]["is_sent"] is False
    assert sent.json()["data"][0]["drop_reason"]["code"] == "msg_followersonly"
    r = await http(api.patch, "/helix/chat/settings", owner, params=settings_params(owner),
                   json={"follower_mode": False})
    assert r.json()["data"][0]["follower_mode"] is False
    await watcher.expect(is_cmd("ROOMSTATE", f"#{owner.login}", followers_only="-1"))


async def test_follow_through_the_api_opens_followers_only_chat(
    api: ApiNode, clients: list[IrcClient]
) -> None:
    owner, viewer = api.user(), api.user()
    r = await http(api.patch, "/helix/chat/settings", owner, params=settings_params(owner),
                   json={"follower_mode": True, "follower_mode_duration": 0})
    assert r.status_code == 200, r.text
    assert r.json()["data"][0]["follower_mode_duration"] == 0
    watcher = await connect(api, clients, None, owner.login)
    talker = await connect(api, clients, viewer, owner.login)  # joined before following
    await talker.send(f"PRIVMSG #{owner.login} :not following yet")
    await notice(talker, "msg_followersonly_zero")

    r = await http(api.post, "/helix/users/follows", viewer,
                   json={"from_id": viewer.uid, "to_id": owner.uid})
    assert r.status_code == 204, r.text
    await talker.send(f"PRIVMSG #{owner.login} :now i follow")
    await watcher.expect(privmsg_from(viewer.login, "now i follow"))

    r = await http(api.delete, "/helix/users/follows", viewer,
                   params={"from_id": viewer.uid, "to_id": owner.uid})
    assert r.status_code == 204, r.text
    await talker.send(f"PRIVMSG #{owner.login} :unfollowed")
    await notice(talker, "msg_followersonly_zero")
    assert not watcher.seen(privmsg_from(viewer.login, "not following yet"))
    assert not watcher.seen(privmsg_from(viewer.login, "unfollowed"))


def test_settings_validation_and_authorization(api: ApiNode) -> None:
    owner, other = api.user(), api.user()
    p = settings_params(owner)
    for body, text in [
        ({"slow_mode": True, "slow_mode_wait_time": 2}, "slow_mode_wait_time"),
        ({"slow_mode_wait_time": 121}, "slow_mode_wait_time"),
        ({"follower_mode": True, "follower_mode_duration": 129_601}, "follower_mode_duration"),
        ({"follower_mode": False, "follower_mode_duration": 5}, "follower_mode"),
        ({"non_moderator_chat_delay": True}, "not supported"),
        ({"non_moderator_chat_delay_duration": 3}, "2, 4 or 6"),
        ({"slow_mode": "sometimes"}, "slow_mode"),
        ({"no_such_setting": True}, "no_such_setting"),
    ]:
        assert_error(api.patch("/helix/chat/settings", owner, params=p, json=body), 400, text)
    assert_error(api.patch("/helix/chat/settings", owner, json={"slow_mode": True},
                           params={"broadcaster_id": owner.uid}), 400, "moderator_id")
    assert_error(api.patch("/helix/chat/settings", other, params=p, json={}), 403)
    assert_error(api.patch("/helix/chat/settings", other, params=settings_params(owner, other),
                           json={"emote_mode": True}), 403, "moderator")
    assert_error(api.patch("/helix/chat/settings", api.user(scopes=("chat:read",)), params=p,
                           json={}), 401, "moderator:manage:chat_settings")
    assert_error(api.get("/helix/chat/settings", None, params={"broadcaster_id": owner.uid}),
                 401)
    assert_error(api.get("/helix/chat/settings", owner, params={"broadcaster_id": "999999"}),
                 400, "broadcaster_id")
    assert_error(api.get("/helix/chat/settings", owner), 400, "broadcaster_id")
    # a moderator may change them
    mod = api.user()
    assert api.post("/helix/moderation/moderators", owner,
                    params={"broadcaster_id": owner.uid, "user_id": mod.uid}).status_code == 204
    r = api.patch("/helix/chat/settings", mod, params=settings_params(owner, mod),
                  json={"subscriber_mode": True})
    assert r.status_code == 200 and r.json()["data"][0]["subscriber_mode"] is True
    assert r.json()["data"][0]["moderator_id"] == mod.uid


def test_emotes(api: ApiNode) -> None:
    owner = api.user()
    glob = api.get("/helix/chat/emotes/global", owner)
    assert glob.status_code == 200
    body = glob.json()
    kappa = next(e for e in body["data"] if e["name"] == "Kappa")
    assert kappa["id"] == "25" and kappa["format"] == ["static"]
    assert set(kappa["images"]) == {"url_1x", "url_2x", "url_4x"}
    assert kappa["scale"] == ["1.0", "2.0", "3.0"] and kappa["theme_mode"] == ["light", "dark"]
    assert "{{id}}" in body["template"]
    image = api.http.get(kappa["images"]["url_1x"])
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    url = body["template"].replace("{{id}}", "25").replace("{{format}}", "static").replace(
        "{{theme_mode}}", "dark").replace("{{scale}}", "1.0")
    assert api.http.get(url).status_code == 200

    assert api.get("/helix/chat/emotes", owner,
                   params={"broadcaster_id": owner.uid}).json()["data"] == []
    up = api.http.put(f"/api/chat/emotes/{owner.login}/ownerHype", params={"tier": "1"},
                      content=badge_png("x"), headers={"Authorization": f"Bearer {owner.token}"})
    assert up.status_code == 201, up.text
    (emote,) = api.get("/helix/chat/emotes", owner,
                       params={"broadcaster_id": owner.uid}).json()["data"]
    assert emote["name"] == "ownerHype" and emote["tier"] == "1000"
    assert emote["emote_type"] == "subscriptions"
    assert api.http.get(emote["images"]["url_4x"]).status_code == 200
    assert_error(api.get("/helix/chat/emotes", owner), 400, "broadcaster_id")
    assert_error(api.get("/helix/chat/emotes/global", None), 401)


def test_badges(api: ApiNode) -> None:
    owner = api.user()
    body = api.get("/helix/chat/badges/global", owner).json()
    sets = {s["set_id"]: s for s in body["data"]}
    assert {"broadcaster", "moderator", "vip", "subscriber"} <= set(sets)
    version = sets["moderator"]["versions"][0]
    assert version["id"] == "1" and version["title"] == "Moderator"
    assert set(version) >= {"image_url_1x", "image_url_2x", "image_url_4x", "description"}
    image = api.http.get(version["image_url_2x"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert api.http.get("/helix/chat/badges/images/moderator/9.png").status_code == 404
    assert api.get("/helix/chat/badges", owner,
                   params={"broadcaster_id": owner.uid}).json()["data"] == []
    assert_error(api.get("/helix/chat/badges", owner, params={"broadcaster_id": "x"}), 400)
    assert_error(api.get("/helix/chat/badges/global", "bad-token"), 401)


async def test_chatters(api: ApiNode, clients: list[IrcClient]) -> None:
    owner, a, b, other = api.user(), api.user(), api.user(), api.user()
    await connect(api, clients, a, owner.login)
    await connect(api, clients, b, owner.login)
    await connect(api, clients, b, owner.login)  # a second connection: still one chatter
    await connect(api, clients, None, owner.login)  # anonymous readers are not listed
    params = settings_params(owner)
    body = (await http(api.get, "/helix/chat/chatters", owner, params=params)).json()
    assert body["total"] == 2
    assert sorted(c["user_id"] for c in body["data"]) == sorted([a.uid, b.uid])
    assert set(body["data"][0]) == {"user_id", "user_login", "user_name"}
    first = (await http(api.get, "/helix/chat/chatters", owner,
                        params={**params, "first": 1})).json()
    assert len(first["data"]) == 1 and first["total"] == 2 and first["pagination"]["cursor"]
    second = (await http(api.get, "/helix/chat/chatters", owner, params={
        **params, "first": 1, "after": first["pagination"]["cursor"]})).json()
    assert second["data"] != first["data"] and second["pagination"] == {}
    assert_error(api.get("/helix/chat/chatters", other, params=settings_params(owner, other)),
                 403)
    assert_error(api.get("/helix/chat/chatters", api.user(scopes=("chat:read",)),
                         params=params), 401, "moderator:read:chatters")
    assert_error(api.get("/helix/chat/chatters", owner,
                         params={"broadcaster_id": owner.uid}), 400, "moderator_id")


async def test_colors(api: ApiNode, clients: list[IrcClient]) -> None:
    me, other = api.user(), api.user()
    got = api.get("/helix/chat/color", other, params={"user_id": me.uid}).json()["data"]
    assert got == [{"user_id": me.uid, "user_login": me.login, "user_name": me.login,
                    "color": ""}]
    watcher = await connect(api, clients, None, other.login)
    talker = await connect(api, clients, me, other.login)
    r = await http(api.put, "/helix/chat/color", me,
                   params={"user_id": me.uid, "color": "hot_pink"})
    assert r.status_code == 204, r.text
    await talker.send(f"PRIVMSG #{other.login} :pink now")
    line = await watcher.expect(privmsg_from(me.login, "pink now"))
    assert line.tags["color"] == "#FF69B4"
    assert api.put("/helix/chat/color", me,
                   params={"user_id": me.uid, "color": "#12ab34"}).status_code == 204
    both = api.get("/helix/chat/color", other,
                   params=[("user_id", me.uid), ("user_id", other.uid)]).json()["data"]
    assert [(c["user_id"], c["color"]) for c in both] == [(me.uid, "#12AB34"), (other.uid, "")]
    assert_error(api.put("/helix/chat/color", me, params={"user_id": me.uid, "color": "plaid"}),
                 400, "color")
    assert_error(api.put("/helix/chat/color", me, params={"user_id": other.uid,
                                                          "color": "red"}), 403)
    assert_error(api.put("/helix/chat/color", api.user(scopes=("chat:read",)),
                         params={"user_id": me.uid, "color": "red"}), 401, "chat_color")
    assert_error(api.get("/helix/chat/color", me), 400, "user_id")
    assert_error(api.get("/helix/chat/color", me, params={"user_id": "abc"}), 400, "user_id")


async def test_announcements(api: ApiNode, clients: list[IrcClient]) -> None:
    owner, other = api.user(), api.user()
    watcher = await connect(api, clients, None, owner.login)
    params = settings_params(owner)
    r = await http(api.post, "/helix/chat/announcements", owner, params=params,
                   json={"message": "Big news", "color": "blue"})
    assert r.status_code == 204, r.text
    line = await watcher.expect(is_cmd("USERNOTICE", f"#{owner.login}", msg_id="announcement"))
    assert line.params[-1] == "Big news" and line.tags["msg-param-color"] == "BLUE"
    assert line.tags["login"] == owner.login and "broadcaster/1" in line.tags["badges"]
    r = await http(api.post, "/helix/chat/announcements", owner, params=params,
                   json={"message": "default color"})
    assert r.status_code == 204
    line = await watcher.expect(is_cmd("USERNOTICE", f"#{owner.login}", msg_id="announcement"))
    assert line.tags["msg-param-color"] == "PRIMARY"
    assert_error(api.post("/helix/chat/announcements", owner, params=params,
                          json={"message": "x", "color": "pink"}), 400, "color")
    assert_error(api.post("/helix/chat/announcements", owner, params=params,
                          json={"message": ""}), 400, "message")
    assert_error(api.post("/helix/chat/announcements", owner, params=params,
                          json={"message": "two\nlines"}), 400, "message")
    assert_error(api.post("/helix/chat/announcements", other, params=settings_params(
        owner, other), json={"message": "hi"}), 403)
    assert_error(api.post("/helix/chat/announcements", api.user(scopes=("chat:read",)),
                          params=params, json={"message": "hi"}), 401, "announcements")


async def test_send_chat_message(api: ApiNode, clients: list[IrcClient]) -> None:
    owner, me, other = api.user(), api.user(), api.user()
    watcher = await connect(api, clients, None, owner.login)
    mine = await connect(api, clients, me, owner.login)
    r = await http(api.post, "/helix/chat/messages", me, json={
        "broadcaster_id": owner.uid, "sender_id": me.uid, "message": "hello from the API"})
    assert r.status_code == 200, r.text
    sent = r.json()["data"][0]
    assert sent["is_sent"] is True and sent["drop_reason"] is None
    line = await watcher.expect(privmsg_from(me.login, "hello from the API"))
    assert line.tags["id"] == sent["message_id"] and line.tags["user-id"] == me.uid
    await mine.expect(privmsg_from(me.login, "hello from the API"))  # the sender sees it too
    r = await http(api.post, "/helix/chat/messages", other, json={
        "broadcaster_id": owner.uid, "sender_id": other.uid, "message": "a reply",
        "reply_parent_message_id": sent["message_id"]})
    assert r.json()["data"][0]["is_sent"] is True
    reply = await watcher.expect(privmsg_from(other.login, "a reply"))
    assert reply.tags["reply-parent-msg-id"] == sent["message_id"]
    assert reply.tags["reply-parent-user-login"] == me.login
    # bans apply
    ban = api.post("/helix/moderation/bans", owner, json={"data": {"user_id": other.uid}},
                   params={"broadcaster_id": owner.uid, "moderator_id": owner.uid})
    assert ban.status_code == 200
    r = api.post("/helix/chat/messages", other, json={
        "broadcaster_id": owner.uid, "sender_id": other.uid, "message": "banned?"})
    assert r.json()["data"][0] == {"message_id": "", "is_sent": False, "drop_reason": {
        "code": "msg_banned", "message": r.json()["data"][0]["drop_reason"]["message"]}}
    body = {"broadcaster_id": owner.uid, "sender_id": me.uid, "message": "x"}
    assert_error(api.post("/helix/chat/messages", other, json=body), 403, "sender_id")
    assert_error(api.post("/helix/chat/messages", api.user(scopes=("chat:read",)), json=body),
                 401, "user:write:chat")
    assert_error(api.post("/helix/chat/messages", None, json=body), 401)
    assert_error(api.post("/helix/chat/messages", me, json={**body, "message": ""}), 400,
                 "message")
    assert_error(api.post("/helix/chat/messages", me, json={**body, "message": "y" * 501}),
                 400, "message")
    assert_error(api.post("/helix/chat/messages", me, json={**body, "message": "a\r\nb"}),
                 400, "message")
    assert_error(api.post("/helix/chat/messages", me, json={
        **body, "reply_parent_message_id": "no spaces"}), 400, "reply_parent_message_id")
    assert_error(api.post("/helix/chat/messages", me, json={**body, "broadcaster_id": "99999"}),
                 400, "broadcaster_id")
    assert_error(api.post("/helix/chat/messages", me, json={"sender_id": me.uid,
                                                            "message": "x"}),
                 400, "broadcaster_id")
