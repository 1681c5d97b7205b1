"""Debian Chromium (Playwright): the home page, the directory, a category page and search list
live channels with their real thumbnail, title, category and viewer count; a logged-in fan
sees followed live channels first; hostile titles show as text."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.support import chromium, screenshot, sign_up
from tests.system.harness import NodeProcess, Publisher, wait_for

pytestmark = pytest.mark.browser

ALPHA, BETA, FAN = "dir_alpha", "dir_beta", "dir_fan"
EVIL = 'Alpha run <script>window.pwned=1</script><img src=x onerror="window.pwned=2">'


class Live:
    def __init__(self, node: NodeProcess, users: dict[str, dict[str, Any]],
                 categories: dict[str, str]) -> None:
        self.node, self.users, self.categories = node, users, categories


def _helix(node: NodeProcess, token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Client-Id": "directory-test"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    node = NodeProcess(tmp_path_factory.mktemp("directory-node"), transcode_mode="source_only",
                       thumbnail_interval="2")
    publishers: list[Publisher] = []
    viewer: socket.socket | None = None
    try:
        users = {login: node.create_user(login) for login in (ALPHA, BETA)}
        token = node.token(ALPHA, "channel:manage:broadcast")
        games = node.http.get("/helix/games", params={"name": ["Music", "Art"]},
                              headers=_helix(node, token)).json()["data"]
        categories = {g["name"]: g["id"] for g in games}
        for login, title, game in ((ALPHA, EVIL, "Music"), (BETA, "Beta chill stream", "Art")):
            t = node.token(login, "channel:manage:broadcast")
            r = node.http.patch("/helix/channels", params={"broadcaster_id": users[login]["id"]},
                                json={"title": title, "game_id": categories[game],
                                      "tags": ["Chill"] if login == BETA else []},
                                headers=_helix(node, t))
            assert r.status_code == 204, r.text
        publishers = [Publisher(node.rtmp_url(users[x]["stream_key"]), size="320x240", rate=15,
                                gop=15, seconds=300) for x in (ALPHA, BETA)]
        node.wait_live(ALPHA)
        node.wait_live(BETA)
        # one anonymous chat viewer on alpha: viewer counts are chat connections
        viewer = socket.create_connection(("127.0.0.1", node.chat_irc_port), timeout=30)
        viewer.sendall(f"NICK justinfan4242\r\nJOIN #{ALPHA}\r\n".encode())

        def listed() -> dict[str, int] | None:
            rows = node.http.get("/helix/streams", headers=_helix(node, token)).json()["data"]
            counts = {r["user_login"]: r["viewer_count"] for r in rows}
            return counts if counts.get(ALPHA) == 1 and BETA in counts else None

        wait_for(listed, timeout=60, what="both live, alpha with one viewer")
        for login in (ALPHA, BETA):
            wait_for(lambda login=login: node.http.get(
                f"/thumbnails/{login}.jpg").status_code == 200, timeout=90,
                what=f"{login}'s thumbnail")
        yield Live(node, users, categories)
    finally:
        if viewer is not None:
            viewer.close()
        for p in publishers:
            p.stop()
        node.stop()


def _watch_csp(page: Any) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


def _card_thumbnail_loaded(page: Any, login: str) -> None:
    page.wait_for_function(
        """login => { const img = document.querySelector(
              `.stream-card[data-login="${login}"] img.thumb-img`);
            return img && img.complete && img.naturalWidth > 0; }""",
        arg=login, timeout=60_000)


def test_directory_home_category_and_search(live: Live) -> None:
    base = live.node.base_url
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        problems = _watch_csp(page)

        # home, anonymous: both channels as cards, most viewed first, no followed row
        page.goto(f"{base}/")
        _card_thumbnail_loaded(page, ALPHA)
        _card_thumbnail_loaded(page, BETA)
        logins = page.eval_on_selector_all(".stream-card", "cs => cs.map(c => c.dataset.login)")
        assert logins == [ALPHA, BETA]
        assert page.locator("#followed-row").count() == 0
        alpha = page.locator(f'.stream-card[data-login="{ALPHA}"]')
        assert alpha.locator(".card-title").inner_text() == EVIL  # shown as text
        assert alpha.locator(".card-channel").inner_text() == ALPHA
        assert alpha.locator(".card-category").inner_text() == "Music"
        assert alpha.locator(".viewer-count").inner_text() == "1"
        assert page.evaluate("() => window.pwned") is None
        assert page.locator('img[src="x"]').count() == 0
        assert page.locator("script:not([src]):not([type='application/json'])").count() == 0
        beta = page.locator(f'.stream-card[data-login="{BETA}"]')
        assert beta.locator(".tag").inner_text() == "Chill"
        assert beta.locator(".viewer-count").inner_text() == "0"
        # the uptime ticks (the page's script runs under the CSP)
        uptime = alpha.locator(".thumb-uptime")
        first = uptime.inner_text()
        page.wait_for_function(
            "([sel, was]) => document.querySelector(sel).textContent !== was",
            arg=[f'.stream-card[data-login="{ALPHA}"] .thumb-uptime', first], timeout=30_000)
        screenshot(page, "home")
        # without a reload, the page's script swaps in the newer thumbnails
        src = alpha.locator("img.thumb-img").get_attribute("src")
        assert src is not None and src.startswith(f"/thumbnails/{ALPHA}.jpg?v=")
        page.wait_for_function(
            """([login, was]) => { const img = document.querySelector(
                  `.stream-card[data-login="${login}"] img.thumb-img`);
                return img.getAttribute("src") !== was && img.complete
                    && img.naturalWidth > 0; }""",
            arg=[ALPHA, src], timeout=60_000)

        # the directory: categories with box art and viewers, and every live channel
        page.goto(f"{base}/directory")
        _card_thumbnail_loaded(page, ALPHA)
        music = page.locator(f'.category-tile[data-category="{live.categories["Music"]}"]')
        assert music.locator(".category-name").inner_text() == "Music"
        assert music.locator(".viewer-count").inner_text() == "1"
        page.wait_for_function(
            """id => { const img = document.querySelector(
                  `.category-tile[data-category="${id}"] img.box-art`);
                return img && img.complete && img.naturalWidth > 0; }""",
            arg=live.categories["Music"], timeout=30_000)
        names = page.eval_on_selector_all("#categories .category-name",
                                          "ns => ns.map(n => n.textContent)")
        assert names[:2] == ["Music", "Art"]  # live viewers first
        assert page.eval_on_selector_all(
            "#live-channels .stream-card", "cs => cs.map(c => c.dataset.login)") == [ALPHA, BETA]
        screenshot(page, "directory")

        # a category page lists only its live channels
        music.click()
        page.wait_for_url(f"{base}/directory/category/{live.categories['Music']}",
                          timeout=30_000)
        assert page.locator("#category-name").inner_text() == "Music"
        _card_thumbnail_loaded(page, ALPHA)
        assert page.eval_on_selector_all(
            ".stream-card", "cs => cs.map(c => c.dataset.login)") == [ALPHA]
        assert page.locator("#category-viewers").inner_text() == "1"
        screenshot(page, "directory-category")
        page.goto(f"{base}/directory/category/999999")
        assert "no such category" in page.locator("main").inner_text().lower()

        # search through the header box: channels and categories
        page.goto(f"{base}/directory")
        page.fill(".site-search input[name=q]", "dir_")
        page.press(".site-search input[name=q]", "Enter")
        page.wait_for_url("**/search?q=dir_", timeout=30_000)
        rows = page.eval_on_selector_all("#search-channels .channel-row",
                                         "rs => rs.map(r => r.dataset.login)")
        assert rows == [ALPHA, BETA]
        assert page.locator(f'.channel-row[data-login="{ALPHA}"] .live-pill').count() == 1
        assert page.locator(f'.channel-row[data-login="{ALPHA}"] .channel-title'
                            ).inner_text() == EVIL
        page.goto(f"{base}/search?q=musi")
        assert page.locator("#search-categories .category-name").first.inner_text() == "Music"
        assert "No channel matches" in page.locator("#search-channels").inner_text()
        page.goto(f"{base}/search?q=art")
        assert "Art" in page.eval_on_selector_all("#search-categories .category-name",
                                                  "ns => ns.map(n => n.textContent)")
        page.goto(f"{base}/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
        assert page.locator("#search-query").inner_text() == "<script>alert(1)</script>"
        page.goto(f"{base}/search?q=dir_alpha")
        screenshot(page, "search")
        assert page.evaluate("() => window.pwned") is None
        assert not [p for p in problems if "Content Security Policy" in p], problems


def test_followed_live_channels_come_first(live: Live) -> None:
    base, node = live.node.base_url, live.node
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        sign_up(page, base, FAN)
        token = node.token(FAN, "user:edit:follows")
        me = node.http.get("/helix/users", headers=_helix(node, token)).json()["data"][0]
        r = node.http.post("/helix/users/follows", json={
            "from_id": me["id"], "to_id": str(live.users[BETA]["id"])},
            headers=_helix(node, token))
        assert r.status_code == 204, r.text

        page.goto(f"{base}/")
        _card_thumbnail_loaded(page, BETA)
        # beta has fewer viewers, but the fan follows it: it comes first, in its own row
        first = page.locator(".stream-card").first
        assert first.get_attribute("data-login") == BETA
        assert page.eval_on_selector_all(
            "#followed-row .stream-card", "cs => cs.map(c => c.dataset.login)") == [BETA]
        assert page.eval_on_selector_all(
            "#live-row .stream-card", "cs => cs.map(c => c.dataset.login)") == [ALPHA]
        assert "Followed channels" in page.locator("#followed-row h2").inner_text()
        screenshot(page, "home-followed")

        page.click(".site-nav a[href='/directory/following']")
        page.wait_for_url(f"{base}/directory/following", timeout=30_000)
        assert page.eval_on_selector_all(
            "#followed-live .stream-card", "cs => cs.map(c => c.dataset.login)") == [BETA]
        _card_thumbnail_loaded(page, BETA)
        screenshot(page, "directory-following")

        # logged out, the following page asks to log in and the home has no followed row
        anon = browser.new_page()
        anon.goto(f"{base}/directory/following")
        assert "/login" in anon.url
        anon.goto(f"{base}/")
        anon.wait_for_selector(".stream-card", timeout=30_000)
        assert anon.locator("#followed-row").count() == 0
