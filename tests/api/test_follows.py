"""Follows: follow/unfollow (StreamHub extension), followers (with total), followed channels."""

from __future__ import annotations

import logging

from streamhub.chat.store import ChatStore
from streamhub.storage.db import make_engine, sessionmaker
from tests.api.conftest import ApiNode, assert_error, run_sync
from tests.api.conftest import TestUser as Member


def follow(api: ApiNode, fan: Member, from_id: str, to_id: str) -> int:
    r = api.post("/helix/users/follows", fan, json={"from_id": from_id, "to_id": to_id})
    return r.status_code


def test_follow_and_lists(api: ApiNode) -> None:
    channel = api.user()
    fans = [api.user() for _ in range(3)]
    for fan in fans:
        assert follow(api, fan, fan.uid, channel.uid) == 204
    assert follow(api, fans[0], fans[0].uid, channel.uid) == 204  # again: no change
    r = api.get("/helix/channels/followers", channel, params={"broadcaster_id": channel.uid,
                                                               "first": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 3 and len(body["data"]) == 2
    row = body["data"][0]
    assert row["user_id"] == fans[2].uid and row["user_login"] == fans[2].login
    assert row["followed_at"].endswith("Z")
    nxt = api.get("/helix/channels/followers", channel, params={
        "broadcaster_id": channel.uid, "first": 2, "after": body["pagination"]["cursor"]})
    assert [x["user_id"] for x in nxt.json()["data"]] == [fans[0].uid]
    assert nxt.json()["pagination"] == {}
    one = api.get("/helix/channels/followers", channel, params={
        "broadcaster_id": channel.uid, "user_id": fans[1].uid}).json()
    assert [x["user_id"] for x in one["data"]] == [fans[1].uid] and one["total"] == 3
    # someone else (not broadcaster or moderator) only sees the total
    outsider = api.get("/helix/channels/followers", fans[0],
                       params={"broadcaster_id": channel.uid}).json()
    assert outsider["total"] == 3 and outsider["data"] == []
    # followed list of a fan
    f = api.get("/helix/channels/followed", fans[0], params={"user_id": fans[0].uid}).json()
    assert f["total"] == 1 and f["data"][0]["broadcaster_id"] == channel.uid
    assert f["data"][0]["broadcaster_login"] == channel.login
    f2 = api.get("/helix/channels/followed", fans[0], params={
        "user_id": fans[0].uid, "broadcaster_id": fans[1].uid}).json()
    assert f2["data"] == [] and f2["total"] == 0


def test_unfollow(api: ApiNode) -> None:
    channel, fan = api.user(), api.user()
    assert follow(api, fan, fan.uid, channel.uid) == 204
    r = api.delete("/helix/users/follows", fan, params={"from_id": fan.uid,
                                                         "to_id": channel.uid})
    assert r.status_code == 204, r.text
    body = api.get("/helix/channels/followers", channel,
                   params={"broadcaster_id": channel.uid}).json()
    assert body["total"] == 0 and body["data"] == []


def test_follow_errors(api: ApiNode) -> None:
    channel, fan = api.user(), api.user()
    assert_error(api.post("/helix/users/follows", fan, json={"from_id": fan.uid,
                                                             "to_id": fan.uid}), 400, "themselves")
    assert_error(api.post("/helix/users/follows", fan, json={"from_id": channel.uid,
                                                             "to_id": fan.uid}), 403, "from_id")
    assert_error(api.post("/helix/users/follows", fan, json={"from_id": fan.uid,
                                                             "to_id": "99999999"}), 400, "to_id")
    assert_error(api.post("/helix/users/follows", fan, json={"from_id": fan.uid}), 400, "to_id")
    assert_error(api.post("/helix/users/follows", fan, json={"from_id": "x", "to_id": "1"}),
                 400, "from_id")
    weak = api.user(scopes=("chat:read",))
    assert_error(api.post("/helix/users/follows", weak, json={"from_id": weak.uid,
                                                              "to_id": channel.uid}),
                 401, "user:edit:follows")
    assert_error(api.post("/helix/users/follows", None, json={"from_id": fan.uid,
                                                              "to_id": channel.uid}), 401)
    assert_error(api.delete("/helix/users/follows", fan, params={"from_id": channel.uid,
                                                                  "to_id": fan.uid}), 403)
    assert_error(api.get("/helix/channels/followed", fan, params={"user_id": channel.uid}),
                 403, "user_id")
    assert_error(api.get("/helix/channels/followed", weak, params={"user_id": weak.uid}),
                 401, "user:read:follows")
    assert_error(api.get("/helix/channels/followers", fan, params={"broadcaster_id": "0"}),
                 400, "broadcaster_id")
    assert_error(api.get("/helix/channels/followers", fan, params={
        "broadcaster_id": channel.uid, "first": 0}), 400, "first")


def test_follow_age_feeds_followers_only_chat(api: ApiNode) -> None:
    """chat's followers-only mode reads the follow time written here (store.followed_at)."""
    channel, fan = api.user(), api.user()
    assert follow(api, fan, fan.uid, channel.uid) == 204

    async def age() -> float | None:
        engine = make_engine(api.db_url)
        try:
            store = ChatStore(sessionmaker(engine), logger=logging.getLogger("test"))
            return await store.followed_at(channel.id, fan.id)
        finally:
            await engine.dispose()

    followed_at = run_sync(age)
    assert followed_at is not None
