"""OAuth2 like Twitch's, end to end over HTTP: consent page, code/implicit/client-credentials
flows, refresh rotation, validate, revoke, and OAuth tokens logging into chat."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from sqlalchemy import update

from streamhub.channels.tokens import hash_token
from streamhub.storage.db import make_engine, sessionmaker
from streamhub.storage.models import OAuthCode, utcnow
from tests.api.conftest import ApiNode, run_sync
from tests.api.webclient import Browser, hidden_fields, location_params
from tests.system.irc_client import IrcClient

REDIRECT = "http://localhost:7777/callback"
PASSWORD = "a good long password"


@dataclass
class App:
    client_id: str
    client_secret: str
    name: str


@dataclass
class Authorized:
    browser: Browser
    login: str
    app: App
    code: str
    scope: str


def make_app(api: ApiNode, *uris: str) -> App:
    name = f"Test App {secrets.token_hex(3)}"
    args = [a for uri in (uris or (REDIRECT,)) for a in ("--redirect-uri", uri)]
    out = api.proc.cli("app", "create", name, *args)
    assert len(out["client_id"]) == 30 and out["client_secret"]
    return App(out["client_id"], out["client_secret"], out["name"])


@pytest.fixture
def browser(api: ApiNode) -> Iterator[Browser]:
    b = Browser(api.base_url)
    yield b
    b.close()


def new_login() -> str:
    return f"o{secrets.token_hex(5)}"


def authorize_query(app: App, scope: str, *, response_type: str = "code",
                    state: str = "st4te", redirect_uri: str = REDIRECT) -> str:
    return "/oauth2/authorize?" + urlencode({
        "response_type": response_type, "client_id": app.client_id,
        "redirect_uri": redirect_uri, "scope": scope, "state": state})


def consent(browser: Browser, query: str, decision: str = "approve") -> httpx.Response:
    page = browser.get(query)
    assert page.status_code == 200, page.text[:400]
    assert "Content-Security-Policy" in page.headers
    return browser.post("/oauth2/authorize", {**hidden_fields(page.text), "decision": decision})


def authorize(api: ApiNode, browser: Browser,
              scope: str = "chat:read chat:edit channel:manage:broadcast") -> Authorized:
    login = new_login()
    assert browser.signup(login, PASSWORD).status_code == 303
    app = make_app(api)
    done = consent(browser, authorize_query(app, scope))
    assert done.status_code == 302, done.text[:400]
    assert done.headers["location"].startswith(REDIRECT + "?")
    params = location_params(done)
    assert params["state"] == "st4te" and params["scope"] == scope
    return Authorized(browser, login, app, params["code"], scope)


def token(api: ApiNode, **form: str) -> httpx.Response:
    return api.http.post("/oauth2/token", data=form)


def exchange(api: ApiNode, auth: Authorized, code: str | None = None,
             redirect_uri: str = REDIRECT) -> httpx.Response:
    return token(api, client_id=auth.app.client_id, client_secret=auth.app.client_secret,
                 grant_type="authorization_code", code=code or auth.code,
                 redirect_uri=redirect_uri)


def refresh(api: ApiNode, auth: Authorized, refresh_token: str) -> httpx.Response:
    return token(api, client_id=auth.app.client_id, client_secret=auth.app.client_secret,
                 grant_type="refresh_token", refresh_token=refresh_token)


def validate(api: ApiNode, access_token: str, kind: str = "OAuth") -> httpx.Response:
    return api.http.get("/oauth2/validate", headers={"Authorization": f"{kind} {access_token}"})


def assert_invalid(resp: httpx.Response) -> None:
    assert resp.status_code == 401, resp.text
    assert resp.json() == {"status": 401, "message": "invalid access token"}


def assert_oauth_error(resp: httpx.Response, status: int, text: str) -> dict[str, Any]:
    assert resp.status_code == status, (resp.status_code, resp.text)
    body: dict[str, Any] = resp.json()
    assert body["status"] == status and text.lower() in body["message"].lower(), body
    return body


def test_authorization_code_flow_end_to_end(api: ApiNode, browser: Browser) -> None:
    login = new_login()
    app = make_app(api)
    query = authorize_query(app, "chat:read channel:manage:broadcast")
    # not logged in: off to the login page, coming back to the same authorize URL
    first = browser.get(query)
    assert first.status_code == 303
    assert first.headers["location"] == f"/login?next={quote(query, safe='')}"
    signup = browser.signup(login, PASSWORD, next_path=quote(query, safe=""))
    assert signup.status_code == 303 and signup.headers["location"] == query
    page = browser.get(query)
    assert page.status_code == 200
    assert app.name in page.text and "channel:manage:broadcast" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "http://localhost:7777" in page.headers["content-security-policy"]
    done = browser.post("/oauth2/authorize", {**hidden_fields(page.text), "decision": "approve"})
    assert done.status_code == 302
    params = location_params(done)
    assert set(params) == {"code", "scope", "state"}
    got = token(api, client_id=app.client_id, client_secret=app.client_secret,
                grant_type="authorization_code", code=params["code"], redirect_uri=REDIRECT)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 4 * 3600
    assert body["scope"] == ["chat:read", "channel:manage:broadcast"]
    assert len(body["refresh_token"]) == 50 and got.headers["cache-control"] == "no-store"
    info = validate(api, body["access_token"])
    assert info.status_code == 200, info.text
    user = info.json()
    assert user["login"] == login and user["client_id"] == app.client_id
    assert user["user_id"].isdigit()
    assert sorted(user["scopes"]) == ["channel:manage:broadcast", "chat:read"]
    assert 4 * 3600 - 60 < user["expires_in"] <= 4 * 3600
    assert validate(api, body["access_token"], "Bearer").json()["login"] == login


def test_refresh_rotates_and_reuse_revokes_the_family(api: ApiNode, browser: Browser) -> None:
    auth = authorize(api, browser)
    first = exchange(api, auth).json()
    second = refresh(api, auth, first["refresh_token"])
    assert second.status_code == 200, second.text
    pair = second.json()
    assert pair["refresh_token"] != first["refresh_token"]
    assert pair["access_token"] != first["access_token"]
    assert pair["scope"] == auth.scope.split()
    assert validate(api, pair["access_token"]).status_code == 200
    # the spent refresh token is refused; presenting it revokes every token of the family
    assert_oauth_error(refresh(api, auth, first["refresh_token"]), 400, "invalid refresh token")
    assert_invalid(validate(api, pair["access_token"]))
    assert_oauth_error(refresh(api, auth, pair["refresh_token"]), 400, "invalid refresh token")
    # wrong client secret and unknown refresh tokens
    other = make_app(api)
    assert_oauth_error(token(api, client_id=auth.app.client_id, client_secret="x" * 30,
                             grant_type="refresh_token", refresh_token="abc"),
                       403, "invalid client secret")
    assert_oauth_error(token(api, client_id=other.client_id, client_secret=other.client_secret,
                             grant_type="refresh_token", refresh_token=pair["refresh_token"]),
                       400, "invalid refresh token")


def test_code_is_single_use_and_bound_to_redirect_uri(api: ApiNode, browser: Browser) -> None:
    auth = authorize(api, browser)
    wrong = exchange(api, auth, redirect_uri="http://localhost:7777/other")
    assert_oauth_error(wrong, 400, "redirect_uri")
    auth2 = authorize(api, Browser(api.base_url))
    got = exchange(api, auth2)
    assert got.status_code == 200
    access = got.json()["access_token"]
    # a second exchange fails and revokes what the code produced
    assert_oauth_error(exchange(api, auth2), 400, "invalid authorization code")
    assert_invalid(validate(api, access))
    # codes are bound to their client
    other = make_app(api)
    auth3 = authorize(api, Browser(api.base_url))
    assert_oauth_error(token(api, client_id=other.client_id, client_secret=other.client_secret,
                             grant_type="authorization_code", code=auth3.code,
                             redirect_uri=REDIRECT), 400, "invalid authorization code")
    assert_oauth_error(exchange(api, auth3, code="nosuchcode"), 400, "invalid authorization code")


def test_expired_code_is_refused(api: ApiNode, browser: Browser) -> None:
    auth = authorize(api, browser)

    async def expire() -> None:
        engine = make_engine(api.db_url)
        try:
            async with sessionmaker(engine)() as session:
                await session.execute(update(OAuthCode)
                                      .where(OAuthCode.code_hash == hash_token(auth.code))
                                      .values(expires_at=utcnow() - timedelta(seconds=1)))
                await session.commit()
        finally:
            await engine.dispose()

    run_sync(expire)
    assert_oauth_error(exchange(api, auth), 400, "invalid authorization code")


def test_revoke_access_and_refresh_tokens(api: ApiNode, browser: Browser) -> None:
    auth = authorize(api, browser)
    pair = exchange(api, auth).json()
    cid = auth.app.client_id
    assert_oauth_error(api.http.post("/oauth2/revoke", data={"client_id": "nope" * 5,
                                                             "token": pair["access_token"]}),
                       404, "client does not exist")
    assert_oauth_error(api.http.post("/oauth2/revoke", data={"client_id": cid, "token": "bogus"}),
                       400, "invalid token")
    other = make_app(api)
    assert_oauth_error(api.http.post("/oauth2/revoke", data={"client_id": other.client_id,
                                                             "token": pair["access_token"]}),
                       400, "invalid token")
    helix = {"Authorization": f"Bearer {pair['access_token']}", "Client-Id": cid}
    me = api.http.get("/helix/users", headers=helix)
    assert me.status_code == 200 and me.json()["data"][0]["login"] == auth.login
    ok = api.http.post("/oauth2/revoke", data={"client_id": cid, "token": pair["access_token"]})
    assert ok.status_code == 200 and ok.content == b""
    assert_invalid(validate(api, pair["access_token"]))
    assert api.http.get("/helix/users", headers=helix).status_code == 401
    again = api.http.post("/oauth2/revoke", data={"client_id": cid, "token": pair["access_token"]})
    assert_oauth_error(again, 400, "invalid token")
    # query parameters work too (as Twitch); a revoked refresh token cannot refresh
    ok = api.http.post(f"/oauth2/revoke?client_id={cid}&token={pair['refresh_token']}")
    assert ok.status_code == 200
    assert_oauth_error(refresh(api, auth, pair["refresh_token"]), 400, "invalid refresh token")


def test_client_credentials_app_token(api: ApiNode) -> None:
    app = make_app(api)
    got = api.http.post("/oauth2/token?" + urlencode({
        "client_id": app.client_id, "client_secret": app.client_secret,
        "grant_type": "client_credentials"}))
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["token_type"] == "bearer" and body["expires_in"] > 86400
    assert "refresh_token" not in body
    info = validate(api, body["access_token"]).json()
    assert info["client_id"] == app.client_id and info["scopes"] == []
    assert "login" not in info and "user_id" not in info and info["expires_in"] > 86400
    assert_oauth_error(token(api, client_id=app.client_id, client_secret="wrong",
                             grant_type="client_credentials"), 403, "invalid client secret")
    for bad_id in ("x" * 30, "a\x00b", "é" * 40, "x" * 5000):
        assert_oauth_error(token(api, client_id=bad_id, client_secret=app.client_secret,
                                 grant_type="client_credentials"), 400, "invalid client")
    assert_oauth_error(api.http.post("/oauth2/token", json={"grant_type": "x"}), 400, "grant")
    assert_oauth_error(token(api, client_id=app.client_id, client_secret=app.client_secret),
                       400, "grant_type")
    assert_oauth_error(token(api, client_id=app.client_id, client_secret=app.client_secret,
                             grant_type="password"), 400, "unsupported grant_type")
    assert_oauth_error(token(api, client_id=app.client_id, client_secret=app.client_secret,
                             grant_type="client_credentials", scope="not:a:scope:x:y"),
                       400, "scope")
    ok = api.http.post(f"/oauth2/revoke?client_id={app.client_id}&token={body['access_token']}")
    assert ok.status_code == 200
    assert_invalid(validate(api, body["access_token"]))


def test_validate_refuses_bad_tokens(api: ApiNode) -> None:
    assert_oauth_error(api.http.get("/oauth2/validate"), 401, "missing")
    assert_invalid(validate(api, "nosuchtoken"))
    assert_invalid(validate(api, "x" * 500))
    assert_invalid(api.http.get("/oauth2/validate", headers={"Authorization": "Basic abc"}))
    assert_invalid(api.http.get("/oauth2/validate", headers={"Authorization": "OAuth"}))


def test_bad_client_or_redirect_uri_is_shown_not_redirected(api: ApiNode,
                                                            browser: Browser) -> None:
    assert browser.signup(new_login(), PASSWORD).status_code == 303
    app = make_app(api)
    for query in (
        authorize_query(app, "chat:read", redirect_uri="http://localhost:7777/callback/x"),
        authorize_query(app, "chat:read", redirect_uri="https://evil.example/callback"),
        authorize_query(App("z" * 30, "", ""), "chat:read"),
        "/oauth2/authorize?response_type=code&scope=chat:read",
    ):
        page = browser.get(query)
        assert page.status_code == 400, (query, page.status_code)
        assert "location" not in page.headers
        assert "Authorization failed" in page.text
    # the POST re-checks too (a tampered consent form)
    page = browser.get(authorize_query(app, "chat:read"))
    fields = {**hidden_fields(page.text), "decision": "approve",
              "redirect_uri": "https://evil.example/cb"}
    tampered = browser.post("/oauth2/authorize", fields)
    assert tampered.status_code == 400 and "location" not in tampered.headers


def test_bad_scope_and_response_type_go_back_with_an_error(api: ApiNode,
                                                           browser: Browser) -> None:
    assert browser.signup(new_login(), PASSWORD).status_code == 303
    app = make_app(api)
    for scope, error in (("chat:read channel:fly:away", "invalid_scope"),
                         ("CHAT:READ", "invalid_scope"), ("chat:read <script>", "invalid_scope")):
        back = browser.get(authorize_query(app, scope))
        assert back.status_code == 302 and back.headers["location"].startswith(REDIRECT)
        params = location_params(back)
        assert params["error"] == error and params["state"] == "st4te"
    back = browser.get(authorize_query(app, "chat:read", response_type="id_token"))
    assert location_params(back)["error"] == "unsupported_response_type"


def test_deny_goes_back_with_access_denied(api: ApiNode, browser: Browser) -> None:
    assert browser.signup(new_login(), PASSWORD).status_code == 303
    app = make_app(api)
    done = consent(browser, authorize_query(app, "chat:read", state="s&t=1"), decision="deny")
    assert done.status_code == 302
    params = location_params(done)
    assert params == {"error": "access_denied", "error_description": "The user denied you access",
                      "state": "s&t=1"}


def test_consent_post_needs_session_and_csrf(api: ApiNode, browser: Browser) -> None:
    assert browser.signup(new_login(), PASSWORD).status_code == 303
    app = make_app(api)
    page = browser.get(authorize_query(app, "chat:read"))
    fields = {**hidden_fields(page.text), "decision": "approve"}
    forged = browser.post("/oauth2/authorize", {**fields, "csrf_token": "forged"})
    assert forged.status_code == 403 and "location" not in forged.headers
    missing = browser.post("/oauth2/authorize", {k: v for k, v in fields.items()
                                                 if k != "csrf_token"})
    assert missing.status_code == 403
    stranger = api.http.post("/oauth2/authorize", data=fields, follow_redirects=False)
    assert stranger.status_code == 401 and "location" not in stranger.headers


def test_implicit_flow_returns_the_token_in_the_fragment(api: ApiNode,
                                                         browser: Browser) -> None:
    login = new_login()
    assert browser.signup(login, PASSWORD).status_code == 303
    app = make_app(api, "https://app.example/cb?keep=1")
    query = authorize_query(app, "user:read:email", response_type="token",
                            redirect_uri="https://app.example/cb?keep=1")
    done = consent(browser, query)
    assert done.status_code == 302
    location = done.headers["location"]
    assert location.startswith("https://app.example/cb?keep=1#access_token=")
    params = location_params(done)
    assert params["token_type"] == "bearer" and params["scope"] == "user:read:email"
    assert params["state"] == "st4te" and "refresh_token" not in params
    info = validate(api, params["access_token"]).json()
    assert info["login"] == login and info["client_id"] == app.client_id


async def test_oauth_token_logs_into_chat(api: ApiNode, browser: Browser) -> None:
    auth = authorize(api, browser, scope="chat:read chat:edit")
    access = exchange(api, auth).json()["access_token"]
    irc = await IrcClient.tcp(api.proc.chat_irc_port)
    try:
        await irc.login(auth.login, access)
        welcome = irc.seen(lambda m: m.command == "001")
        assert welcome and welcome[0].params[0] == auth.login
    finally:
        await irc.close()
    # once revoked, the token no longer logs in
    assert api.http.post("/oauth2/revoke", data={"client_id": auth.app.client_id,
                                                 "token": access}).status_code == 200
    irc = await IrcClient.tcp(api.proc.chat_irc_port)
    try:
        await irc.send("CAP REQ :twitch.tv/tags twitch.tv/commands", f"PASS oauth:{access}",
                       f"NICK {auth.login}")
        failed = await irc.expect(lambda m: m.command == "NOTICE", what="NOTICE")
        assert "authentication failed" in failed.params[-1].lower()
    finally:
        await irc.close()
