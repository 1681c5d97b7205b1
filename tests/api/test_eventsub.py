"""EventSub over HTTP against a node process: subscriptions CRUD (auth, validation, 409,
paging), WebSocket sessions (welcome, keepalive, notification) and a webhook end to end."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest
from websockets.sync.client import ClientConnection, connect

from streamhub.channels.tokens import TokenService
from streamhub.storage.db import make_engine, sessionmaker
from streamhub.storage.models import OAuthApp
from tests.api.conftest import ApiNode, assert_error, run_sync
from tests.system.harness import wait_for

if TYPE_CHECKING:
    from tests.api.conftest import TestUser

PATH = "/helix/eventsub/subscriptions"
SECRET = "a-webhook-secret"


class Hook:
    """A threaded webhook receiver on 127.0.0.1:0 that answers challenges."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k: v for k, v in self.headers.items()}
                hook.received.append((headers, raw))
                reply = b""
                if headers.get("Twitch-Eventsub-Message-Type") == "webhook_callback_verification":
                    reply = json.loads(raw)["challenge"].encode()
                self.send_response(200 if reply else 204)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of_type(self, kind: str) -> list[tuple[dict[str, str], bytes]]:
        return [(h, b) for h, b in self.received
                if h.get("Twitch-Eventsub-Message-Type") == kind]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.close()


class App:
    """A registered OAuth app with an app access token, made in the node's database."""

    def __init__(self, api: ApiNode) -> None:
        self.api = api
        self.client_id = "es" + secrets.token_hex(8)

        async def make() -> str:
            engine = make_engine(api.db_url)
            try:
                sessions = sessionmaker(engine)
                async with sessions() as session:
                    session.add(OAuthApp(client_id=self.client_id, name="eventsub tests",
                                         client_secret_hash=hashlib.sha256(b"x").hexdigest()))
                    await session.commit()
                token, _ = await TokenService(sessions).create_app_token(self.client_id)
                return token
            finally:
                await engine.dispose()

        self.token = run_sync(make)

    def grant(self, user: TestUser, *scopes: str) -> str:
        """A user token of this client (the user authorized the app with `scopes`)."""
        return self.api.token(user.login, scopes, client_id=self.client_id)

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}", "Client-Id": self.client_id}

    def post(self, body: dict[str, Any], token: str | None = None) -> Any:
        return self.api.http.post(PATH, json=body, headers=self.headers(token))

    def get(self, token: str | None = None, **params: Any) -> Any:
        return self.api.http.get(PATH, params=params, headers=self.headers(token))

    def delete(self, sub_id: str, token: str | None = None) -> Any:
        return self.api.http.delete(PATH, params={"id": sub_id}, headers=self.headers(token))


def webhook_body(type: str, condition: dict[str, str], callback: str, version: str = "1",
                 secret: str = SECRET) -> dict[str, Any]:
    return {"type": type, "version": version, "condition": condition,
            "transport": {"method": "webhook", "callback": callback, "secret": secret}}


def test_create_list_page_delete_webhook_subscriptions(api: ApiNode, hook: Hook) -> None:
    app = App(api)
    users = [api.user() for _ in range(3)]
    made = []
    for user in users:
        resp = app.post(webhook_body("stream.online", {"broadcaster_user_id": user.uid},
                                     hook.url))
        assert resp.status_code == 202, resp.text
        body = resp.json()
        [sub] = body["data"]
        assert sub["type"] == "stream.online" and sub["version"] == "1"
        assert sub["status"] == "webhook_callback_verification_pending"
        assert sub["condition"] == {"broadcaster_user_id": user.uid}
        assert sub["transport"] == {"method": "webhook", "callback": hook.url}
        assert sub["cost"] == 1 and body["max_total_cost"] == 10000
        made.append(sub["id"])
    assert body["total_cost"] == 3 and body["total"] == 3
    # duplicate
    assert_error(app.post(webhook_body("stream.online", {"broadcaster_user_id": users[0].uid},
                                       hook.url)), 409, "already exists")
    # verification happens in the background
    wait_for(lambda: all(s["status"] == "enabled" for s in app.get().json()["data"]),
             timeout=30, what="subscriptions enabled")
    first = app.get(first=2).json()
    assert [s["id"] for s in first["data"]] == made[:2]
    assert first["total"] == 3 and first["total_cost"] == 3
    assert first["max_total_cost"] == 10000
    rest = app.get(first=2, after=first["pagination"]["cursor"]).json()
    assert [s["id"] for s in rest["data"]] == made[2:] and rest["pagination"] == {}
    assert [s["id"] for s in app.get(user_id=users[1].uid).json()["data"]] == [made[1]]
    assert [s["id"] for s in app.get(subscription_id=made[2]).json()["data"]] == [made[2]]
    assert app.get(type="channel.follow").json()["data"] == []
    assert len(app.get(status="enabled").json()["data"]) == 3
    assert_error(app.get(status="nonsense"), 400, "status")
    # another client sees none of them and cannot delete them
    other = App(api)
    assert other.get().json()["data"] == [] and other.get().json()["total"] == 0
    assert_error(other.delete(made[0]), 404, "not found")
    resp = app.delete(made[0])
    assert resp.status_code == 204, resp.text
    assert_error(app.delete(made[0]), 404, "not found")
    assert [s["id"] for s in app.get().json()["data"]] == made[1:]


def test_create_validation_and_authorization(api: ApiNode, hook: Hook) -> None:
    app = App(api)
    broadcaster, moderator = api.user(), api.user()
    follow = {"broadcaster_user_id": broadcaster.uid, "moderator_user_id": moderator.uid}
    online = {"broadcaster_user_id": broadcaster.uid}
    # 401: no token, bad token
    assert_error(api.http.post(PATH, json=webhook_body("stream.online", online, hook.url),
                               headers={"Client-Id": app.client_id}), 401, "missing")
    assert_error(app.post(webhook_body("stream.online", online, hook.url), token="nope"),
                 401, "invalid")
    # 400: bad input
    for body, text in [
        (webhook_body("stream.nothing", online, hook.url), "unsupported subscription type"),
        (webhook_body("channel.follow", follow, hook.url, version="1"), "unsupported version"),
        (webhook_body("channel.follow", online, hook.url, version="2"), "moderator_user_id"),
        (webhook_body("stream.online", {"broadcaster_user_id": "abc"}, hook.url), "user id"),
        (webhook_body("stream.online", {"user_id": broadcaster.uid}, hook.url), "not valid"),
        (webhook_body("stream.online", online, "ftp://127.0.0.1/x"), "http"),
        (webhook_body("stream.online", online, hook.url, secret="short"), "secret"),
        (webhook_body("channel.raid", {}, hook.url), "exactly one of"),
        ({"type": "stream.online", "version": "1", "condition": online}, "transport"),
        ({"type": "stream.online", "version": "1", "condition": online,
          "transport": {"method": "carrier-pigeon"}}, "method"),
    ]:
        assert_error(app.post(body), 400, text)
    # webhook needs an app token; websocket a user token
    user_token = app.grant(moderator, "chat:read")
    assert_error(app.post(webhook_body("stream.online", online, hook.url), token=user_token),
                 400, "app access token")
    assert_error(app.post({"type": "stream.online", "version": "1", "condition": online,
                           "transport": {"method": "websocket", "session_id": "abc"}}),
                 400, "user access token")
    # 403: the moderator has not authorized this client (a token of another client does not
    # count, nor does one of this client without the scope)
    api.token(moderator.login, ("moderator:read:followers",))
    assert_error(app.post(webhook_body("channel.follow", follow, hook.url, version="2")),
                 403, "moderator_user_id")
    app.grant(moderator, "moderator:read:followers")
    resp = app.post(webhook_body("channel.follow", follow, hook.url, version="2"))
    assert resp.status_code == 202, resp.text
    assert resp.json()["data"][0]["cost"] == 0


def recv(ws: ClientConnection, timeout: float = 15.0) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(ws.recv(timeout=timeout))
    return value


def ws_url(api: ApiNode, query: str = "") -> str:
    return api.base_url.replace("http://", "ws://") + "/eventsub/ws" + query


def test_websocket_welcome_keepalive_and_chat_notification(api: ApiNode) -> None:
    app = App(api)
    broadcaster, reader, chatter = api.user(), api.user(), api.user()
    token = app.grant(reader, "user:read:chat")
    with connect(ws_url(api)) as ws:
        welcome = recv(ws)
        assert welcome["metadata"]["message_type"] == "session_welcome"
        session = welcome["payload"]["session"]
        assert session["status"] == "connected" and session["keepalive_timeout_seconds"] == 10
        body = {"type": "channel.chat.message", "version": "1",
                "condition": {"broadcaster_user_id": broadcaster.uid, "user_id": reader.uid},
                "transport": {"method": "websocket", "session_id": session["id"]}}
        # an app token cannot make websocket subscriptions; an unknown session is refused
        assert_error(app.post(body), 400, "user access token")
        assert_error(app.post({**body, "transport": {"method": "websocket",
                                                     "session_id": "no-such-session"}},
                              token=token), 400, "session")
        # the token's own user with the scope authorizes it
        resp = app.post(body, token=token)
        assert resp.status_code == 202, resp.text
        sub = resp.json()["data"][0]
        assert sub["status"] == "enabled" and sub["transport"]["session_id"] == session["id"]
        assert resp.json()["max_total_cost"] == 10
        assert_error(app.post(body, token=token), 409, "already exists")
        listed = app.get(token=token).json()
        assert [s["id"] for s in listed["data"]] == [sub["id"]]
        # nothing happens: a keepalive arrives before keepalive_timeout_seconds
        started = time.monotonic()
        keepalive = recv(ws, timeout=12)
        assert keepalive["metadata"]["message_type"] == "session_keepalive"
        assert time.monotonic() - started < 10.5
        # a chat message in the broadcaster's channel is delivered
        sent = api.post("/helix/chat/messages", chatter, json={
            "broadcaster_id": broadcaster.uid, "sender_id": chatter.uid, "message": "hi there"})
        assert sent.status_code == 200, sent.text
        while True:
            note = recv(ws)
            if note["metadata"]["message_type"] != "session_keepalive":
                break
        assert note["metadata"]["message_type"] == "notification"
        assert note["metadata"]["subscription_type"] == "channel.chat.message"
        assert note["payload"]["subscription"]["id"] == sub["id"]
        event = note["payload"]["event"]
        assert event["broadcaster_user_id"] == broadcaster.uid
        assert event["chatter_user_id"] == chatter.uid
    wait_for(lambda: app.get(token=token).json()["data"][0]["status"]
             == "websocket_disconnected", timeout=15, what="websocket_disconnected")


def test_webhook_end_to_end_with_signed_chat_notification(api: ApiNode, hook: Hook) -> None:
    app = App(api)
    broadcaster, reader, chatter = api.user(), api.user(), api.user()
    app.grant(reader, "user:read:chat")
    resp = app.post(webhook_body("channel.chat.message", {
        "broadcaster_user_id": broadcaster.uid, "user_id": reader.uid}, hook.url))
    assert resp.status_code == 202, resp.text
    sub_id = resp.json()["data"][0]["id"]
    wait_for(lambda: app.get(subscription_id=sub_id).json()["data"][0]["status"] == "enabled",
             timeout=30, what="verified")
    sent = api.post("/helix/chat/messages", chatter, json={
        "broadcaster_id": broadcaster.uid, "sender_id": chatter.uid, "message": "webhooked"})
    assert sent.status_code == 200, sent.text

    def delivered() -> tuple[dict[str, str], bytes] | None:
        for headers, raw in hook.of_type("notification"):
            if json.loads(raw)["subscription"]["id"] == sub_id:
                return headers, raw
        return None

    headers, raw = wait_for(delivered, timeout=30, what="webhook notification")
    stamp = headers["Twitch-Eventsub-Message-Timestamp"]
    expected = "sha256=" + hmac.new(
        SECRET.encode(), headers["Twitch-Eventsub-Message-Id"].encode() + stamp.encode() + raw,
        hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, headers["Twitch-Eventsub-Message-Signature"])
    assert headers["Twitch-Eventsub-Subscription-Type"] == "channel.chat.message"
    assert headers["Twitch-Eventsub-Subscription-Version"] == "1"
    assert headers["Twitch-Eventsub-Message-Retry"] == "0"
    event = json.loads(raw)["event"]
    assert event["chatter_user_id"] == chatter.uid
    assert event["message"]["text"] == "webhooked"
