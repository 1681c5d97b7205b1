"""Account pages over HTTP: sign up, log in/out, change password, delete account, CSRF,
login and signup rate limits, argon2 password storage, security headers."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import func, select

from streamhub.storage.db import make_engine, sessionmaker
from streamhub.storage.models import AccessToken, Channel, StreamKey, User, WebSession
from tests.api.conftest import ApiNode, run_sync, start_api_node
from tests.api.webclient import Browser

PASSWORD = "correct horse battery"
WINDOW = 4.0  # login failure window of this module's node (seconds)
SIGNUP_WINDOW = 3.0  # signup window of the `limited` node (2 accounts per IP)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
        ) -> Iterator[ApiNode]:
    """The module's node, with login limits small enough to trip and wait out in a test (and
    room for this module's many signups)."""
    node = start_api_node(request, tmp_path_factory.mktemp("api"), login_failures_account="3",
                          login_failures_ip="12", login_failure_window=str(WINDOW),
                          signup_limit_ip="1000")
    yield node
    node.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def limited(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            ) -> Iterator[ApiNode]:
    """A node allowing only 2 signups per IP (its own node: the other tests sign up freely)."""
    node = start_api_node(request, tmp_path_factory.mktemp("api"), signup_limit_ip="2",
                          signup_window=str(SIGNUP_WINDOW))
    yield node
    node.close()


@pytest.fixture
def browser(api: ApiNode) -> Iterator[Browser]:
    b = Browser(api.base_url)
    yield b
    b.close()


def new_login() -> str:
    return f"a{secrets.token_hex(5)}"


def count(api: ApiNode, model: type, **where: object) -> int:
    async def run() -> int:
        engine = make_engine(api.db_url)
        try:
            async with sessionmaker(engine)() as session:
                query = select(func.count()).select_from(model)
                for name, value in where.items():
                    query = query.where(getattr(model, name) == value)
                return int(await session.scalar(query) or 0)
        finally:
            await engine.dispose()

    return run_sync(run)


def password_hash(api: ApiNode, login: str) -> str | None:
    async def run() -> str | None:
        engine = make_engine(api.db_url)
        try:
            async with sessionmaker(engine)() as session:
                return await session.scalar(select(User.password_hash).where(User.login == login))
        finally:
            await engine.dispose()

    return run_sync(run)


def wait_until_login_works(browser: Browser, login: str, password: str) -> httpx.Response:
    deadline = time.monotonic() + WINDOW + 20
    while True:
        resp = browser.login(login, password)
        if resp.status_code != 429 or time.monotonic() > deadline:
            return resp
        time.sleep(0.25)


def test_signup_login_logout(api: ApiNode, browser: Browser) -> None:
    login = new_login()
    page = browser.get("/signup")
    assert page.status_code == 200 and 'name="csrf_token"' in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "form-action 'self';" in csp
    assert "unsafe-inline" not in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert "httponly" in page.headers["set-cookie"].lower()
    made = browser.signup(login.upper(), PASSWORD, next_path="/settings/password")
    assert made.status_code == 303 and made.headers["location"] == "/settings/password"
    cookie = made.headers["set-cookie"].lower()
    assert "streamhub_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" not in cookie  # plain http here
    settings = browser.get("/settings/password")
    assert settings.status_code == 200 and login.upper() in settings.text
    # logged in: the login page goes straight to `next`
    assert browser.get("/login?next=/x").headers["location"] == "/x"
    out = browser.post("/logout", {"csrf_token": browser.csrf()})
    assert out.status_code == 303 and out.headers["location"] == "/"
    away = browser.get("/settings/password")
    assert away.status_code == 303
    assert away.headers["location"] == f"/login?next={quote('/settings/password', safe='')}"
    back = browser.login(login, PASSWORD, next_path="/settings/delete")
    assert back.status_code == 303 and back.headers["location"] == "/settings/delete"
    assert browser.logged_in()


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x",
                                    "/\\evil.example", "javascript:alert(1)", "settings"])
def test_next_only_allows_local_paths(api: ApiNode, browser: Browser, target: str) -> None:
    login = new_login()
    assert browser.signup(login, PASSWORD).status_code == 303
    browser.post("/logout", {"csrf_token": browser.csrf()})
    resp = browser.login(login, PASSWORD, next_path=quote(target, safe=""))
    assert resp.status_code == 303 and resp.headers["location"] == "/"


def test_passwords_are_stored_as_argon2_hashes(api: ApiNode, browser: Browser) -> None:
    login = new_login()
    assert browser.signup(login, PASSWORD).status_code == 303
    stored = password_hash(api, login)
    assert stored is not None and stored.startswith("$argon2id$") and PASSWORD not in stored


def test_signup_validation(api: ApiNode, browser: Browser) -> None:
    taken = new_login()
    assert Browser(api.base_url).signup(taken, PASSWORD).status_code == 303
    fields = browser.form("/signup")
    cases = [
        ({"login": new_login(), "password": PASSWORD, "password_confirm": PASSWORD + "x"},
         "do not match"),
        ({"login": new_login(), "password": "short", "password_confirm": "short"},
         "at least 8"),
        ({"login": "no spaces!", "password": PASSWORD, "password_confirm": PASSWORD},
         "invalid login"),
        ({"login": "helix", "password": PASSWORD, "password_confirm": PASSWORD}, "reserved"),
        ({"login": taken, "password": PASSWORD, "password_confirm": PASSWORD}, "taken"),
    ]
    for form, message in cases:
        resp = browser.post("/signup", {**fields, **form})
        assert resp.status_code == 400, (form, resp.status_code)
        assert message in resp.text, (message, resp.text[:2000])
        assert "streamhub_session" not in resp.headers.get("set-cookie", "")
    # odd input is a plain failed login, never a server error
    for odd in ("a\x00b", "é" * 30, "x" * 5000):
        assert Browser(api.base_url).login(odd, "p\x00" * 3).status_code == 401
    # user content is escaped on the page
    resp = browser.post("/signup", {**fields, "login": "<b>x</b>", "password": PASSWORD,
                                    "password_confirm": PASSWORD})
    assert resp.status_code == 400 and "<b>x</b>" not in resp.text and "&lt;b&gt;" in resp.text


def test_forms_refuse_missing_or_wrong_csrf(api: ApiNode, browser: Browser) -> None:
    login = new_login()
    form = {"login": login, "password": PASSWORD, "password_confirm": PASSWORD}
    assert browser.post("/signup", form).status_code == 403
    browser.form("/signup")  # now the browser holds a CSRF cookie, but posts a wrong token
    assert browser.post("/signup", {**form, "csrf_token": "w" * 43}).status_code == 403
    assert count(api, User, login=login) == 0
    assert browser.signup(login, PASSWORD).status_code == 303
    assert browser.post("/settings/password", {
        "current_password": PASSWORD, "new_password": "n" * 12, "new_password_confirm": "n" * 12,
    }).status_code == 403
    assert browser.post("/settings/delete", {"password": PASSWORD,
                                             "csrf_token": "x"}).status_code == 403
    assert browser.post("/logout", {}).status_code == 403
    assert browser.logged_in() and count(api, User, login=login) == 1
    # a login form posted from another site (no CSRF cookie) is refused
    fresh = httpx.post(f"{api.base_url}/login", data={"login": login, "password": PASSWORD,
                                                      "csrf_token": "abc" * 10})
    assert fresh.status_code == 403
    assert password_hash(api, login) is not None
    assert Browser(api.base_url).login(login, PASSWORD).status_code == 303


def test_change_password_logs_out_other_sessions(api: ApiNode, browser: Browser) -> None:
    login = new_login()
    assert browser.signup(login, PASSWORD).status_code == 303
    other = Browser(api.base_url)
    assert other.login(login, PASSWORD).status_code == 303 and other.logged_in()
    old_hash = password_hash(api, login)
    csrf = browser.csrf()
    wrong = browser.post("/settings/password", {
        "csrf_token": csrf, "current_password": "not it at all", "new_password": "n" * 12,
        "new_password_confirm": "n" * 12})
    assert wrong.status_code == 400 and "current password is wrong" in wrong.text
    mismatch = browser.post("/settings/password", {
        "csrf_token": csrf, "current_password": PASSWORD, "new_password": "n" * 12,
        "new_password_confirm": "m" * 12})
    assert mismatch.status_code == 400
    assert other.logged_in() and password_hash(api, login) == old_hash
    new = "a new password 123"
    done = browser.post("/settings/password", {
        "csrf_token": csrf, "current_password": PASSWORD, "new_password": new,
        "new_password_confirm": new})
    assert done.status_code == 200 and "Password changed" in done.text
    assert browser.logged_in() and not other.logged_in()
    assert count(api, WebSession, user_id=_user_id(api, login)) == 1
    stored = password_hash(api, login)
    assert stored != old_hash and stored is not None and stored.startswith("$argon2id$")
    assert Browser(api.base_url).login(login, PASSWORD).status_code == 401
    assert Browser(api.base_url).login(login, new).status_code == 303


def _user_id(api: ApiNode, login: str) -> int:
    async def run() -> int:
        engine = make_engine(api.db_url)
        try:
            async with sessionmaker(engine)() as session:
                return int(await session.scalar(select(User.id).where(User.login == login)) or 0)
        finally:
            await engine.dispose()

    return run_sync(run)


def test_delete_account_cascades(api: ApiNode, browser: Browser) -> None:
    user = api.user(password=PASSWORD)
    assert api.http.get("/oauth2/validate",
                        headers={"Authorization": f"OAuth {user.token}"}).status_code == 200
    assert browser.login(user.login, PASSWORD).status_code == 303
    page = browser.get("/settings/delete")
    assert page.status_code == 200 and user.login in page.text
    csrf = browser.csrf()
    wrong = browser.post("/settings/delete", {"csrf_token": csrf, "password": "not the one"})
    assert wrong.status_code == 400 and count(api, User, id=user.id) == 1
    gone = browser.post("/settings/delete", {"csrf_token": csrf, "password": PASSWORD})
    assert gone.status_code == 200 and "Account deleted" in gone.text
    for model, column in ((User, "id"), (Channel, "user_id"), (StreamKey, "channel_id"),
                          (AccessToken, "user_id"), (WebSession, "user_id")):
        assert count(api, model, **{column: user.id}) == 0, model
    assert api.http.get("/oauth2/validate",
                        headers={"Authorization": f"OAuth {user.token}"}).status_code == 401
    assert not browser.logged_in()
    assert Browser(api.base_url).login(user.login, PASSWORD).status_code == 401
    assert Browser(api.base_url).signup(user.login, PASSWORD).status_code == 303


def test_login_rate_limit_per_account_then_resets(api: ApiNode, browser: Browser) -> None:
    login = new_login()
    assert Browser(api.base_url).signup(login, PASSWORD).status_code == 303
    for _ in range(3):
        assert browser.login(login, "wrong password!").status_code == 401
    # the account is locked, even with the right password and from a fresh browser
    blocked = Browser(api.base_url).login(login, PASSWORD)
    assert blocked.status_code == 429 and "Too many failed logins" in blocked.text
    assert int(blocked.headers["retry-after"]) >= 1
    # other accounts from the same address still log in
    other = new_login()
    assert Browser(api.base_url).signup(other, PASSWORD).status_code == 303
    assert Browser(api.base_url).login(other, PASSWORD).status_code == 303
    # after the window the account logs in again (and success clears its failures)
    assert wait_until_login_works(browser, login, PASSWORD).status_code == 303


def test_login_rate_limit_per_ip_then_resets(api: ApiNode, browser: Browser) -> None:
    login = new_login()
    assert Browser(api.base_url).signup(login, PASSWORD).status_code == 303
    # different (even unknown) accounts: only the address is common; at most 12 failures
    # (fewer if earlier tests left some in the window)
    for _ in range(13):
        resp = browser.login(new_login(), "guessing")
        if resp.status_code == 429:
            break
        assert resp.status_code == 401
    assert resp.status_code == 429 and "your network address" in resp.text
    blocked = Browser(api.base_url).login(login, PASSWORD)
    assert blocked.status_code == 429 and "your network address" in blocked.text
    assert wait_until_login_works(Browser(api.base_url), login, PASSWORD).status_code == 303


def test_signup_rate_limit_per_ip_then_resets(limited: ApiNode) -> None:
    first, second, third = new_login(), new_login(), new_login()
    assert Browser(limited.base_url).signup(first, PASSWORD).status_code == 303
    # an invalid signup is not counted
    assert Browser(limited.base_url).signup("no spaces!", PASSWORD).status_code == 400
    assert Browser(limited.base_url).signup(second, PASSWORD).status_code == 303
    blocked = Browser(limited.base_url).signup(third, PASSWORD)
    assert blocked.status_code == 429, blocked.text[:500]
    assert "Too many accounts were created from your network address" in blocked.text
    assert 1 <= int(blocked.headers["retry-after"]) <= SIGNUP_WINDOW
    assert "streamhub_session" not in blocked.headers.get("set-cookie", "")
    assert count(limited, User, login=third) == 0
    # logins are not limited by it; another address may still sign up
    assert Browser(limited.base_url).login(first, PASSWORD).status_code == 303
    elsewhere = Browser(limited.base_url)
    elsewhere.http.close()
    elsewhere.http = httpx.Client(base_url=limited.base_url, timeout=30, follow_redirects=False,
                                  transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    try:
        assert elsewhere.signup(new_login(), PASSWORD).status_code == 303
    finally:
        elsewhere.close()
    # once the oldest signup leaves the window, the address may sign up again
    deadline = time.monotonic() + SIGNUP_WINDOW + 20
    while True:
        resp = Browser(limited.base_url).signup(third, PASSWORD)
        if resp.status_code != 429 or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert resp.status_code == 303 and count(limited, User, login=third) == 1
