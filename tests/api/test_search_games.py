"""Helix games (categories), top games, search/categories and search/channels."""

from __future__ import annotations

from tests.api.conftest import ApiNode, assert_error


def test_games_lookup_and_box_art(api: ApiNode) -> None:
    a = api.user()
    r = api.get("/helix/games", a, params=[("name", "just chatting"), ("name", "Minecraft"),
                                           ("igdb_id", "115")])
    assert r.status_code == 200, r.text
    rows = {g["name"]: g for g in r.json()["data"]}
    assert set(rows) == {"Just Chatting", "Minecraft", "League of Legends"}
    mc = rows["Minecraft"]
    assert mc["igdb_id"] == "121" and "{width}x{height}" in mc["box_art_url"]
    by_id = api.get("/helix/games", a, params={"id": mc["id"]}).json()["data"]
    assert [g["name"] for g in by_id] == ["Minecraft"]
    art = api.http.get(mc["box_art_url"].replace("{width}", "52").replace("{height}", "72"))
    assert art.status_code == 200 and art.headers["content-type"].startswith("image/svg+xml")
    assert "Minecraft" in art.text and art.headers["x-content-type-options"] == "nosniff"
    assert api.http.get("/images/boxart/999999-52x72.svg").status_code == 404
    assert api.http.get("/images/boxart/1-0x72.svg").status_code == 404


def test_games_errors(api: ApiNode) -> None:
    a = api.user()
    assert_error(api.get("/helix/games", a), 400, "at least one")
    assert_error(api.get("/helix/games", a, params={"id": "x"}), 400, "id")
    assert_error(api.get("/helix/games", params={"id": "1"}), 401)
    assert_error(api.get("/helix/games", a, params=[("id", str(i)) for i in range(1, 102)]),
                 400, "at most")


def test_top_games_paging(api: ApiNode) -> None:
    a = api.user()
    first = api.get("/helix/games/top", a, params={"first": 5})
    assert first.status_code == 200, first.text
    page1 = first.json()
    assert len(page1["data"]) == 5 and page1["pagination"]["cursor"]
    page2 = api.get("/helix/games/top", a, params={
        "first": 5, "after": page1["pagination"]["cursor"]}).json()
    ids1 = {g["id"] for g in page1["data"]}
    assert len(page2["data"]) == 5 and not ids1 & {g["id"] for g in page2["data"]}
    everything = api.get("/helix/games/top", a, params={"first": 100}).json()
    assert len(everything["data"]) >= 40 and everything["pagination"] == {}
    assert_error(api.get("/helix/games/top", a, params={"after": "garbage!"}), 400, "cursor")


def test_search_categories(api: ApiNode) -> None:
    a = api.user()
    r = api.get("/helix/search/categories", a, params={"query": "CRAFT"})
    assert r.status_code == 200, r.text
    names = [g["name"] for g in r.json()["data"]]
    assert "Minecraft" in names and "Makers & Crafting" in names
    # prefix matches first
    names = [g["name"] for g in api.get("/helix/search/categories", a,
                                         params={"query": "s"}).json()["data"]]
    assert names[0].lower().startswith("s")
    # LIKE wildcards are literal
    assert api.get("/helix/search/categories", a, params={"query": "%"}).json()["data"] == []
    paged = api.get("/helix/search/categories", a, params={"query": "a", "first": 3}).json()
    assert len(paged["data"]) == 3 and paged["pagination"]["cursor"]
    assert_error(api.get("/helix/search/categories", a), 400, "query")
    assert_error(api.get("/helix/search/categories", a, params={"query": "  "}), 400, "query")
    assert_error(api.get("/helix/search/categories", params={"query": "a"}), 401)


def test_search_channels(api: ApiNode) -> None:
    a = api.user()
    tag = a.login[-6:]
    others = [api.user(f"zz{tag}{i}") for i in range(3)]
    api.patch("/helix/channels", others[0], params={"broadcaster_id": others[0].uid},
              json={"title": "found me", "tags": ["Cozy"]})
    r = api.get("/helix/search/channels", a, params={"query": tag.upper()})
    assert r.status_code == 200, r.text
    rows = r.json()["data"]
    logins = [x["broadcaster_login"] for x in rows]
    assert logins[0] == a.login or set(logins) >= {o.login for o in others}
    row = next(x for x in rows if x["id"] == others[0].uid)
    assert row["title"] == "found me" and row["tags"] == ["Cozy"] and row["is_live"] is False
    assert row["started_at"] == ""
    paged = api.get("/helix/search/channels", a, params={"query": f"zz{tag}", "first": 2}).json()
    assert len(paged["data"]) == 2
    rest = api.get("/helix/search/channels", a, params={
        "query": f"zz{tag}", "first": 2, "after": paged["pagination"]["cursor"]}).json()
    assert len(rest["data"]) == 1 and rest["pagination"] == {}
    live = api.get("/helix/search/channels", a, params={"query": tag, "live_only": "true"})
    assert live.json()["data"] == []
    assert_error(api.get("/helix/search/channels", a, params={"query": "x",
                                                              "live_only": "maybe"}), 400,
                 "live_only")
    assert_error(api.get("/helix/search/channels", a), 400, "query")
