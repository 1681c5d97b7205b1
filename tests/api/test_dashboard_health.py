"""The dashboard page and its stream-health JSON: login required, owner (and admins) only,
samples of a real live session with a sequence to ask for the new ones."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.conftest import ApiNode, assert_error, start_api_node
from tests.api.webclient import Browser
from tests.system.harness import Publisher, wait_for

PASSWORD = "correct horse battery"
HEALTH = "/api/dashboard/health"


@pytest.fixture(scope="module")
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
        ) -> Iterator[ApiNode]:
    node = start_api_node(request, tmp_path_factory.mktemp("api"), transcode_mode="source_only",
                          health_sample_interval="0.5")
    yield node
    node.close()


def logged_in(api: ApiNode, *, admin: bool = False) -> tuple[Browser, Any]:
    user = api.user(f"d{secrets.token_hex(5)}", password=PASSWORD, admin=admin)
    browser = Browser(api.base_url)
    assert browser.login(user.login, PASSWORD).status_code == 303
    return browser, user


def test_page_needs_login_and_shows_the_server_not_the_key(api: ApiNode) -> None:
    anonymous = Browser(api.base_url)
    try:
        r = anonymous.get("/dashboard")
        assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fdashboard"
    finally:
        anonymous.close()
    browser, user = logged_in(api)
    try:
        page = browser.get("/dashboard")
        assert page.status_code == 200
        assert f"rtmp://127.0.0.1:{api.proc.rtmp_port}/live" in page.text
        assert user.stream_key not in page.text  # fetched from Helix only when asked
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert 'id="stream-key"' in page.text and "/static/dashboard.js" in page.text
    finally:
        browser.close()


def test_health_is_for_the_owner_and_admins_only(api: ApiNode) -> None:
    assert_error(api.http.get(HEALTH), 401, "not logged in")
    owner_browser, owner = logged_in(api)
    other_browser, _ = logged_in(api)
    admin_browser, _ = logged_in(api, admin=True)
    try:
        mine = owner_browser.get(HEALTH)
        assert mine.status_code == 200 and mine.headers["cache-control"] == "no-store"
        body = mine.json()
        assert body["login"] == owner.login and body["broadcaster_id"] == owner.uid
        assert body["live"] is False and body["current"] is None and body["history"] is None
        assert body["interval"] == 0.5
        assert owner_browser.get(HEALTH, params={"channel": owner.login}).status_code == 200
        assert_error(other_browser.get(HEALTH, params={"channel": owner.login}), 403,
                     "only the broadcaster")
        as_admin = admin_browser.get(HEALTH, params={"channel": owner.login})
        assert as_admin.status_code == 200 and as_admin.json()["login"] == owner.login
        assert_error(admin_browser.get(HEALTH, params={"channel": "nobody_here_x"}), 404)
        # a Helix token is not a session: the endpoint reads the cookie only
        assert_error(api.get(HEALTH, owner), 401)
    finally:
        for b in (owner_browser, other_browser, admin_browser):
            b.close()


def test_live_session_is_sampled(api: ApiNode) -> None:
    browser, user = logged_in(api)
    pub = Publisher(api.proc.rtmp_url(user.stream_key), seconds=120, size="320x240", rate=15,
                    gop=15)
    try:
        api.proc.wait_live(user.login)

        def sampled() -> dict[str, Any] | None:
            body: dict[str, Any] = browser.get(HEALTH).json()
            history = body["history"]
            if body["live"] and history and len(history["samples"]) >= 3 and any(
                    (s["bitrate_kbps"] or 0) > 0 for s in history["samples"]):
                return body
            return None

        body = wait_for(sampled, timeout=60, what="three health samples")
        history = body["history"]
        assert history["session_id"] == body["session_id"] and not history["ended"]
        seqs = [s["seq"] for s in history["samples"]]
        assert seqs == sorted(seqs) and seqs[0] == 1
        last = history["samples"][-1]
        assert last["fps"] and last["fps"] > 5 and last["state"] == "live"
        assert [r["name"] for r in last["renditions"]] == ["source"]
        current = body["current"]
        assert current["seq"] == 0 and current["renditions"][0]["width"] == 320
        assert current["viewers"] == 0 and current["chat_per_min"] == 0
        # only newer samples for a client that holds the session
        newer = browser.get(HEALTH, params={"session": history["session_id"],
                                            "after": seqs[-1]}).json()["history"]
        assert all(s["seq"] > seqs[-1] for s in newer["samples"])
        again = browser.get(HEALTH, params={"session": "other", "after": seqs[-1]}).json()
        assert again["history"]["samples"][0]["seq"] == 1
        assert_error(browser.get(HEALTH, params={"after": -1}), 400)
    finally:
        pub.stop()
        browser.close()
