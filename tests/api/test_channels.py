"""Helix channels: GET/PATCH /helix/channels (broadcaster or editor), editors, panels, links."""

from __future__ import annotations

from sqlalchemy import insert

from streamhub.storage.db import make_engine, sessionmaker
from streamhub.storage.models import ChannelRole
from tests.api.conftest import ApiNode, assert_error, run_sync
from tests.api.conftest import TestUser as Member


def appoint(api: ApiNode, channel: Member, user: Member, role: str) -> None:
    async def go() -> None:
        engine = make_engine(api.db_url)
        try:
            async with sessionmaker(engine)() as session:
                await session.execute(insert(ChannelRole).values(
                    channel_id=channel.id, user_id=user.id, role=role))
                await session.commit()
        finally:
            await engine.dispose()
    run_sync(go)


def category_id(api: ApiNode, who: Member, name: str) -> str:
    found = api.get("/helix/games", who, params={"name": name}).json()["data"]
    return str(found[0]["id"])


def test_get_channels(api: ApiNode) -> None:
    a, b = api.user(), api.user()
    r = api.get("/helix/channels", a, params=[("broadcaster_id", a.uid),
                                              ("broadcaster_id", b.uid)])
    assert r.status_code == 200, r.text
    rows = r.json()["data"]
    assert [x["broadcaster_id"] for x in rows] == [a.uid, b.uid]
    assert rows[0] | {"broadcaster_login": a.login, "title": "", "game_id": "", "tags": [],
                      "broadcaster_language": "en", "delay": 0} == rows[0]
    assert_error(api.get("/helix/channels", a), 400, "broadcaster_id")
    assert_error(api.get("/helix/channels", a, params={"broadcaster_id": "x"}), 400,
                 "broadcaster_id")
    assert_error(api.get("/helix/channels", params={"broadcaster_id": a.uid}), 401)


def test_patch_channel_as_broadcaster(api: ApiNode) -> None:
    a = api.user()
    music = category_id(api, a, "music")
    r = api.patch("/helix/channels", a, params={"broadcaster_id": a.uid}, json={
        "title": "Late night synths", "game_id": music, "broadcaster_language": "DE",
        "tags": ["Synthwave", "music", "Music"], "is_mature": True, "accent_color": "#ff00aa"})
    assert r.status_code == 204, r.text
    row = api.get("/helix/channels", a, params={"broadcaster_id": a.uid}).json()["data"][0]
    assert row["title"] == "Late night synths" and row["game_id"] == music
    assert row["game_name"] == "Music" and row["broadcaster_language"] == "de"
    assert row["tags"] == ["Synthwave", "music"] and row["is_mature"] is True
    assert row["accent_color"] == "#FF00AA"
    # the watch page's state JSON shows the live settings too
    state = api.http.get(f"/api/streams/{a.login}").json()
    assert state["title"] == "Late night synths" and state["game_name"] == "Music"
    assert state["tags"] == ["Synthwave", "music"]
    # clearing the category
    api.patch("/helix/channels", a, params={"broadcaster_id": a.uid}, json={"game_id": ""})
    row = api.get("/helix/channels", a, params={"broadcaster_id": a.uid}).json()["data"][0]
    assert row["game_id"] == "" and row["game_name"] == ""


def test_patch_channel_validation(api: ApiNode) -> None:
    a = api.user()
    p = {"broadcaster_id": a.uid}
    for body, text in [
        ({}, "no fields"),
        ({"title": "x" * 141}, "title"),
        ({"title": "  "}, "empty"),
        ({"tags": ["has space"]}, "tag"),
        ({"tags": ["x" * 26]}, "tag"),
        ({"tags": [f"t{i}" for i in range(11)]}, "tags"),
        ({"broadcaster_language": "xx"}, "language"),
        ({"game_id": "99999999"}, "category"),
        ({"game_id": "99999999999"}, "category"),
        ({"game_id": "abc"}, "game_id"),
        ({"accent_color": "red"}, "accent_color"),
        ({"delay": 30}, "delay"),
        ({"unknown": 1}, "unknown"),
    ]:
        assert_error(api.patch("/helix/channels", a, params=p, json=body), 400, text)


def test_patch_channel_authorization(api: ApiNode) -> None:
    a, editor, stranger, mod = api.user(), api.user(), api.user(), api.user()
    appoint(api, a, editor, "editor")
    appoint(api, a, mod, "moderator")
    p = {"broadcaster_id": a.uid}
    r = api.patch("/helix/channels", editor, params=p, json={"title": "set by editor"})
    assert r.status_code == 204, r.text
    assert_error(api.patch("/helix/channels", stranger, params=p, json={"title": "no"}), 403)
    assert_error(api.patch("/helix/channels", mod, params=p, json={"title": "no"}), 403)
    weak = api.user(scopes=("chat:read",))
    assert_error(api.patch("/helix/channels", weak, params={"broadcaster_id": weak.uid},
                           json={"title": "no"}), 401, "channel:manage:broadcast")
    assert_error(api.patch("/helix/channels", None, params=p, json={"title": "no"}), 401)
    row = api.get("/helix/channels", a, params=p).json()["data"][0]
    assert row["title"] == "set by editor"


def test_editors(api: ApiNode) -> None:
    a, editor = api.user(), api.user()
    appoint(api, a, editor, "editor")
    r = api.get("/helix/channels/editors", a, params={"broadcaster_id": a.uid})
    assert r.status_code == 200, r.text
    assert [x["user_id"] for x in r.json()["data"]] == [editor.uid]
    assert_error(api.get("/helix/channels/editors", editor, params={"broadcaster_id": a.uid}),
                 403)
    assert_error(api.get("/helix/channels/editors", api.user(scopes=("chat:read",)),
                         params={"broadcaster_id": a.uid}), 401, "channel:read:editors")


def test_add_and_remove_editor(api: ApiNode) -> None:
    a, editor = api.user(), api.user()
    p = {"broadcaster_id": a.uid, "user_id": editor.uid}
    only_a = {"broadcaster_id": a.uid}
    assert_error(api.patch("/helix/channels", editor, params=only_a, json={"title": "no"}), 403)
    r = api.post("/helix/channels/editors", a, params=p)
    assert r.status_code == 204, r.text
    listed = api.get("/helix/channels/editors", a, params=only_a).json()["data"]
    assert [x["user_id"] for x in listed] == [editor.uid]
    assert listed[0]["user_name"].lower() == editor.login
    r = api.patch("/helix/channels", editor, params=only_a, json={"title": "by the new editor"})
    assert r.status_code == 204, r.text
    assert api.get("/helix/channels", a, params=only_a).json()["data"][0]["title"] == (
        "by the new editor")
    assert_error(api.post("/helix/channels/editors", a, params=p), 400, "already an editor")
    r = api.delete("/helix/channels/editors", a, params=p)
    assert r.status_code == 204, r.text
    assert api.get("/helix/channels/editors", a, params=only_a).json()["data"] == []
    assert_error(api.patch("/helix/channels", editor, params=only_a, json={"title": "no"}), 403)
    assert_error(api.delete("/helix/channels/editors", a, params=p), 400, "not an editor")


def test_editor_changes_refused(api: ApiNode) -> None:
    a, b, weak = api.user(), api.user(), api.user(scopes=("channel:read:editors",))
    p = {"broadcaster_id": a.uid, "user_id": b.uid}
    for method in (api.post, api.delete):
        assert_error(method("/helix/channels/editors", a,
                            params={"broadcaster_id": a.uid, "user_id": a.uid}), 400,
                     "broadcaster")
        assert_error(method("/helix/channels/editors", a,
                            params={"broadcaster_id": a.uid, "user_id": "999999999"}), 400,
                     "no user")
        assert_error(method("/helix/channels/editors", a,
                            params={"broadcaster_id": a.uid, "user_id": "abc"}), 400, "user_id")
        assert_error(method("/helix/channels/editors", a, params={"broadcaster_id": a.uid}),
                     400, "user_id")
        assert_error(method("/helix/channels/editors", b, params=p), 403)
        assert_error(method("/helix/channels/editors", None, params=p), 401)
        assert_error(method("/helix/channels/editors", weak,
                            params={"broadcaster_id": weak.uid, "user_id": b.uid}), 401,
                     "channel:manage:editors")
    # an editor cannot appoint more editors
    api.post("/helix/channels/editors", a, params=p)
    c = api.user()
    assert_error(api.post("/helix/channels/editors", b,
                          params={"broadcaster_id": a.uid, "user_id": c.uid}), 403)
    assert [x["user_id"] for x in api.get("/helix/channels/editors", a,
                                          params={"broadcaster_id": a.uid}).json()["data"]] == [
        b.uid]


def test_panels_and_social_links(api: ApiNode) -> None:
    a, other = api.user(), api.user()
    p = {"broadcaster_id": a.uid}
    r = api.put("/helix/channels/panels", a, params=p, json={"data": [
        {"title": "About", "body": "Line one\nline two"},
        {"title": "Donate", "body": "", "link_url": "https://example.com/tip"}]})
    assert r.status_code == 200, r.text
    got = api.get("/helix/channels/panels", other, params=p).json()["data"]
    assert [(x["title"], x["link_url"]) for x in got] == [
        ("About", ""), ("Donate", "https://example.com/tip")]
    assert_error(api.put("/helix/channels/panels", a, params=p, json={"data": [
        {"title": "x", "link_url": "javascript:alert(1)"}]}), 400, "link_url")
    assert_error(api.put("/helix/channels/panels", a, params=p,
                         json={"data": [{"title": "x"}] * 21}), 400, "data")
    assert_error(api.put("/helix/channels/panels", other, params=p, json={"data": []}), 403)
    r = api.put("/helix/channels/social_links", a, params=p, json={"data": [
        {"title": "Site", "url": "https://example.org"}]})
    assert r.status_code == 200, r.text
    got = api.get("/helix/channels/social_links", other, params=p).json()["data"]
    assert [(x["title"], x["url"]) for x in got] == [("Site", "https://example.org")]
    assert_error(api.put("/helix/channels/social_links", a, params=p, json={"data": [
        {"title": "Site", "url": "ftp://example.org"}]}), 400, "url")
    assert_error(api.put("/helix/channels/social_links", a, params=p, json={
        "data": [{"title": "s", "url": "https://e.org"}] * 6}), 400, "data")
    # the old lists stay when a replacement is refused
    assert len(api.get("/helix/channels/panels", a, params=p).json()["data"]) == 2
