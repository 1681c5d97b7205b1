"""The site layer: the browser's API token (/web/token), the page CSP, and the profile
settings page (display name, bio, chat name color)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from tests.api.conftest import ApiNode, api
from tests.api.webclient import Browser

PASSWORD = "correct horse battery"
__all__ = ["api"]


@pytest.fixture
def browser(api: ApiNode) -> Iterator[Browser]:
    b = Browser(api.base_url)
    yield b
    b.close()


def signed_up(browser: Browser) -> str:
    login = f"w{secrets.token_hex(5)}"
    assert browser.signup(login, PASSWORD).status_code == 303
    return login


def web_token(browser: Browser) -> dict[str, str]:
    r = browser.http.post("/web/token", headers={"X-CSRF-Token": browser.csrf()})
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body: dict[str, str] = r.json()
    return body


def helix(browser: Browser, token: dict[str, str], path: str) -> dict[str, object]:
    r = browser.http.get(f"/helix{path}", headers={
        "Authorization": f"Bearer {token['access_token']}", "Client-Id": token["client_id"]})
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def test_web_token_needs_session_and_csrf_and_ends_at_logout(
        api: ApiNode, browser: Browser) -> None:
    anonymous = browser.http.post("/web/token")
    assert anonymous.status_code == 401
    login = signed_up(browser)
    no_csrf = browser.http.post("/web/token")
    assert no_csrf.status_code == 403 and "CSRF" in no_csrf.json()["message"]
    wrong = browser.http.post("/web/token", headers={"X-CSRF-Token": "x" * 40})
    assert wrong.status_code == 403
    token = web_token(browser)
    assert token["login"] == login and token["client_id"] == "streamhub-web"
    users = helix(browser, token, "/users")
    assert users["data"][0]["login"] == login  # type: ignore[index]
    # the same token logs into chat? It holds chat scopes, like every web token
    validated = browser.http.get("/oauth2/validate", headers={
        "Authorization": f"OAuth {token['access_token']}"}).json()
    assert "chat:edit" in validated["scopes"] and validated["login"] == login
    assert browser.post("/logout", {"csrf_token": browser.csrf()}).status_code == 303
    after = browser.http.get("/helix/users", headers={
        "Authorization": f"Bearer {token['access_token']}", "Client-Id": "streamhub-web"})
    assert after.status_code == 401


def test_pages_carry_a_strict_csp(api: ApiNode, browser: Browser) -> None:
    for path in ("/signup", "/login"):
        page = browser.get(path)
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp, csp
        assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert page.headers["x-frame-options"] == "DENY"
        assert "<script>" not in page.text  # no inline code anywhere
        assert '<link rel="stylesheet" href="/static/site.css">' in page.text
    signed_up(browser)
    page = browser.get("/settings/profile")
    assert page.status_code == 200 and "<script>" not in page.text
    assert '<script src="/static/settings.js"></script>' in page.text
    assert "unsafe-inline" not in page.headers["content-security-policy"]


def test_profile_settings_change_name_bio_and_color(api: ApiNode, browser: Browser) -> None:
    login = signed_up(browser)
    page = browser.get("/settings/profile")
    assert page.status_code == 200 and 'name="color"' in page.text
    csrf = browser.csrf()
    saved = browser.post("/settings/profile", {
        "csrf_token": csrf, "display_name": login.upper(),
        "description": "Speedruns <b>daily</b>", "color": "#1E90FF"})
    assert saved.status_code == 200 and "Profile saved." in saved.text
    assert "Speedruns &lt;b&gt;daily&lt;/b&gt;" in saved.text  # escaped, kept as typed
    token = web_token(browser)
    me = helix(browser, token, "/users")["data"][0]  # type: ignore[index]
    assert me["display_name"] == login.upper()
    assert me["description"] == "Speedruns <b>daily</b>"
    colors = helix(browser, token, f"/chat/color?user_id={me['id']}")["data"]
    assert colors[0]["color"] == "#1E90FF"  # type: ignore[index]
    named = browser.post("/settings/profile", {
        "csrf_token": csrf, "display_name": login, "description": "", "color": "HotPink"})
    assert named.status_code == 200 and "Profile saved." in named.text
    colors = helix(browser, token, f"/chat/color?user_id={me['id']}")["data"]
    assert colors[0]["color"] == "#FF69B4"  # type: ignore[index]


def test_profile_settings_refuse_bad_input_and_keep_it(api: ApiNode, browser: Browser) -> None:
    login = signed_up(browser)
    csrf = browser.csrf()
    bad_name = browser.post("/settings/profile", {
        "csrf_token": csrf, "display_name": "someone_else", "description": "kept bio",
        "color": "#00FF00"})
    assert bad_name.status_code == 400 and "capitalization" in bad_name.text
    assert "kept bio" in bad_name.text  # what was typed comes back in the form
    bad_color = browser.post("/settings/profile", {
        "csrf_token": csrf, "display_name": login, "description": "x", "color": "notacolor!"})
    assert bad_color.status_code == 400 and "Usage: /color" in bad_color.text
    token = web_token(browser)
    me = helix(browser, token, "/users")["data"][0]  # type: ignore[index]
    assert me["description"] == ""  # nothing saved from refused forms
    forged = browser.post("/settings/profile", {
        "csrf_token": "forged" * 8, "display_name": login, "description": "x", "color": "Red"})
    assert forged.status_code == 403
    browser.http.cookies.clear()
    logged_out = browser.get("/settings/profile")
    assert logged_out.status_code == 303 and logged_out.headers["location"].startswith("/login")
