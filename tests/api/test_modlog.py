"""GET /helix/moderation/log (StreamHub extension): the channel's moderation log, newest first,
for the broadcaster, its moderators and site admins; cursor paging."""

from __future__ import annotations

from tests.api.conftest import ApiNode, assert_error
from tests.api.conftest import TestUser as ApiUser


def act(api: ApiNode, owner: ApiUser, target: ApiUser, duration: int | None = None,
        reason: str = "") -> None:
    data: dict[str, object] = {"user_id": target.uid, "reason": reason}
    if duration is not None:
        data["duration"] = duration
    r = api.post("/helix/moderation/bans", owner, json={"data": data},
                 params={"broadcaster_id": owner.uid, "moderator_id": owner.uid})
    assert r.status_code == 200, r.text


def unban(api: ApiNode, owner: ApiUser, target: ApiUser) -> None:
    r = api.delete("/helix/moderation/bans", owner, params={
        "broadcaster_id": owner.uid, "moderator_id": owner.uid, "user_id": target.uid})
    assert r.status_code == 204, r.text


def test_log_lists_who_did_what_to_whom_and_why_newest_first(api: ApiNode) -> None:
    owner, viewer = api.user(), api.user()
    act(api, owner, viewer, reason="spam links")
    unban(api, owner, viewer)
    act(api, owner, viewer, duration=60, reason="calm down")

    r = api.get("/helix/moderation/log", owner, params={"broadcaster_id": owner.uid})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["pagination"] == {}
    assert [e["action"] for e in body["data"]] == ["timeout", "unban", "ban"]
    newest = body["data"][0]
    assert newest["moderator_id"] == owner.uid and newest["moderator_login"] == owner.login
    assert newest["moderator_name"] == owner.login
    assert newest["user_id"] == viewer.uid and newest["user_login"] == viewer.login
    assert newest["details"] == "calm down" and newest["created_at"].endswith("Z")
    assert body["data"][2]["details"] == "spam links"
    assert int(body["data"][0]["id"]) > int(body["data"][1]["id"]) > int(body["data"][2]["id"])


def test_log_pages_with_a_cursor(api: ApiNode) -> None:
    owner, viewer = api.user(), api.user()
    for i in range(5):
        act(api, owner, viewer, duration=30 + i, reason=f"r{i}")
    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        params = {"broadcaster_id": owner.uid, "first": "2"}
        if after:
            params["after"] = after
        body = api.get("/helix/moderation/log", owner, params=params).json()
        pages += 1
        assert len(body["data"]) <= 2
        seen += [e["details"] for e in body["data"]]
        after = body["pagination"].get("cursor")
        if not after:
            break
    assert pages == 3 and seen == ["r4", "r3", "r2", "r1", "r0"]
    assert_error(api.get("/helix/moderation/log", owner, params={
        "broadcaster_id": owner.uid, "after": "garbage!"}), 400, "cursor")


def test_moderators_and_admins_may_read_others_may_not(api: ApiNode) -> None:
    owner, mod, other, viewer = api.user(), api.user(), api.user(), api.user()
    admin = api.user(admin=True)
    r = api.post("/helix/moderation/moderators", owner,
                 params={"broadcaster_id": owner.uid, "user_id": mod.uid})
    assert r.status_code == 204, r.text
    act(api, owner, viewer, reason="x")
    params = {"broadcaster_id": owner.uid}
    for reader in (mod, admin):
        got = api.get("/helix/moderation/log", reader, params=params)
        assert got.status_code == 200, got.text
        assert [e["action"] for e in got.json()["data"]] == ["ban", "add_moderator"]
    narrow = api.token(mod.login, ("moderator:read:banned_users",))
    assert api.get("/helix/moderation/log", narrow, params=params).status_code == 200

    assert_error(api.get("/helix/moderation/log", other, params=params), 403, "not the channel")
    assert_error(api.get("/helix/moderation/log", None, params=params), 401, "token")
    chat_only = api.token(owner.login, ("chat:read",))
    assert_error(api.get("/helix/moderation/log", chat_only, params=params), 401,
                 "missing scope")
    assert_error(api.get("/helix/moderation/log", owner, params={"broadcaster_id": "x"}), 400)
