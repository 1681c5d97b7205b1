"""EventSub revocations against a node process: deleting an account revokes the subscriptions
naming the user (user_removed); reusing a refresh token revokes the client's subscriptions that
rest on the user's grant (authorization_revoked). Webhook receivers get a `revocation`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.api.conftest import ApiNode
from tests.api.test_eventsub import App, Hook, webhook_body
from tests.api.test_oauth2 import authorize, exchange, refresh
from tests.api.webclient import Browser
from tests.system.harness import wait_for

PASSWORD = "a good long password"


@pytest.fixture(scope="module")
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.close()


@pytest.fixture
def browser(api: ApiNode) -> Iterator[Browser]:
    b = Browser(api.base_url)
    yield b
    b.close()


def statuses(api: ApiNode, client_id: str, app_token: str) -> dict[str, str]:
    r = api.http.get("/helix/eventsub/subscriptions", headers={
        "Authorization": f"Bearer {app_token}", "Client-Id": client_id})
    assert r.status_code == 200, r.text
    return {s["id"]: s["status"] for s in r.json()["data"]}


def subscribe(api: ApiNode, client_id: str, app_token: str, hook: Hook, type: str,
              condition: dict[str, str], version: str = "1") -> str:
    r = api.http.post("/helix/eventsub/subscriptions",
                      json=webhook_body(type, condition, hook.url, version),
                      headers={"Authorization": f"Bearer {app_token}", "Client-Id": client_id})
    assert r.status_code == 202, r.text
    sub_id: str = r.json()["data"][0]["id"]
    return sub_id


def revocation(hook: Hook, sub_id: str) -> dict[str, Any] | None:
    for _, raw in hook.of_type("revocation"):
        sub: dict[str, Any] = json.loads(raw)["subscription"]
        if sub["id"] == sub_id:
            return sub
    return None


def test_deleting_an_account_revokes_its_subscriptions(api: ApiNode, hook: Hook,
                                                       browser: Browser) -> None:
    app = App(api)
    leaving, staying = api.user(password=PASSWORD), api.user()
    online = subscribe(api, app.client_id, app.token, hook, "stream.online",
                       {"broadcaster_user_id": leaving.uid})
    raid_in = subscribe(api, app.client_id, app.token, hook, "channel.raid",
                        {"to_broadcaster_user_id": leaving.uid})
    other = subscribe(api, app.client_id, app.token, hook, "stream.online",
                      {"broadcaster_user_id": staying.uid})
    wait_for(lambda: set(statuses(api, app.client_id, app.token).values()) == {"enabled"},
             timeout=30, what="subscriptions enabled")

    assert browser.login(leaving.login, PASSWORD).status_code == 303
    browser.get("/settings/delete")
    gone = browser.post("/settings/delete", {"csrf_token": browser.csrf(), "password": PASSWORD})
    assert gone.status_code == 200 and "Account deleted" in gone.text

    now = statuses(api, app.client_id, app.token)
    assert now == {online: "user_removed", raid_in: "user_removed", other: "enabled"}
    for sub_id in (online, raid_in):
        sub = wait_for(lambda sub_id=sub_id: revocation(hook, sub_id), timeout=30,
                       what="revocation message")
        assert sub["status"] == "user_removed"
    assert revocation(hook, other) is None


def test_refresh_token_reuse_revokes_subscriptions_resting_on_the_grant(
    api: ApiNode, hook: Hook, browser: Browser,
) -> None:
    auth = authorize(api, browser, scope="moderator:read:followers")
    first = exchange(api, auth).json()
    user_id = api.http.get("/oauth2/validate", headers={
        "Authorization": f"OAuth {first['access_token']}"}).json()["user_id"]
    got = api.http.post("/oauth2/token?" + urlencode({
        "client_id": auth.app.client_id, "client_secret": auth.app.client_secret,
        "grant_type": "client_credentials"}))
    assert got.status_code == 200, got.text
    app_token = got.json()["access_token"]
    cid = auth.app.client_id
    # rests on the user's grant (the user is the moderator who authorized the client) ...
    follows = subscribe(api, cid, app_token, hook, "channel.follow",
                        {"broadcaster_user_id": user_id, "moderator_user_id": user_id}, "2")
    # ... needs no authorization at all: stays
    online = subscribe(api, cid, app_token, hook, "stream.online",
                       {"broadcaster_user_id": user_id})
    # another client's subscription is not touched either
    elsewhere = App(api)
    foreign = subscribe(api, elsewhere.client_id, elsewhere.token, hook, "stream.online",
                        {"broadcaster_user_id": user_id})
    wait_for(lambda: set(statuses(api, cid, app_token).values()) == {"enabled"},
             timeout=30, what="subscriptions enabled")

    assert refresh(api, auth, first["refresh_token"]).status_code == 200
    assert refresh(api, auth, first["refresh_token"]).status_code == 400  # reuse

    assert statuses(api, cid, app_token) == {follows: "authorization_revoked",
                                             online: "enabled"}
    sub = wait_for(lambda: revocation(hook, follows), timeout=30, what="revocation message")
    assert sub["status"] == "authorization_revoked" and sub["type"] == "channel.follow"
    assert revocation(hook, online) is None
    wait_for(lambda: statuses(api, elsewhere.client_id, elsewhere.token).get(foreign)
             == "enabled", timeout=30, what="the other client's subscription enabled")
