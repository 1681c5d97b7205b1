"""Helix streams with real RTMP publishes: listing, filters, viewer counts, followed streams,
stream sessions (rows and stream.online/offline events), stream keys and key reset."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from websockets.sync.client import connect

from streamhub.storage.db import make_engine, sessionmaker
from streamhub.storage.models import StreamSession
from tests.api.conftest import ApiNode, assert_error, run_sync, start_api_node
from tests.api.conftest import TestUser as Member
from tests.system.harness import NodeProcess, Publisher, wait_for


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def node(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
         ) -> Iterator[ApiNode]:
    """A node that ends a stream 1 s after its encoder leaves, transcoding source only."""
    api = start_api_node(request, tmp_path_factory.mktemp("streams"), reconnect_grace=1,
                         transcode_mode="source_only")
    yield api
    api.close()


def sessions_of(api: ApiNode, user: Member) -> list[tuple[str, bool]]:
    """(session id, still open) of the channel's rows in the streams table."""
    async def go() -> list[tuple[str, bool]]:
        engine = make_engine(api.db_url)
        try:
            async with sessionmaker(engine)() as session:
                rows = await session.execute(
                    select(StreamSession.session_id, StreamSession.ended_at)
                    .where(StreamSession.channel_id == user.id).order_by(StreamSession.id))
                return [(s, e is None) for s, e in rows]
        finally:
            await engine.dispose()
    return run_sync(go)


class EventSocket:
    """An EventSub WebSocket client collecting notifications in a thread."""

    def __init__(self, api: ApiNode) -> None:
        url = api.base_url.replace("http://", "ws://") + "/eventsub/ws"
        self._opened = connect(url, open_timeout=10)
        self.ws = self._opened.__enter__()
        welcome = json.loads(self.ws.recv(timeout=10))
        assert welcome["metadata"]["message_type"] == "session_welcome", welcome
        self.session_id = welcome["payload"]["session"]["id"]
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for raw in self.ws:
                msg = json.loads(raw)
                if msg["metadata"]["message_type"] == "notification":
                    self.events.append((msg["metadata"]["subscription_type"],
                                        msg["payload"]["event"]))
        except Exception:
            return

    def subscribe(self, api: ApiNode, who: Member, type: str, version: str,
                  condition: dict[str, str]) -> None:
        r = api.post("/helix/eventsub/subscriptions", who, json={
            "type": type, "version": version, "condition": condition,
            "transport": {"method": "websocket", "session_id": self.session_id}})
        assert r.status_code == 202, r.text

    def of(self, type: str) -> list[dict[str, Any]]:
        return [e for t, e in self.events if t == type]

    def close(self) -> None:
        self._opened.__exit__(None, None, None)


def chat_viewer(api: ApiNode, login: str) -> socket.socket:
    """An anonymous chat connection in the channel's room (what a watch page opens)."""
    sock = socket.create_connection(("127.0.0.1", api.proc.chat_irc_port), timeout=10)
    sock.sendall(f"NICK justinfan4242\r\nJOIN #{login}\r\n".encode())
    return sock


def streams(api: ApiNode, who: Member, **params: Any) -> dict[str, Any]:
    r = api.get("/helix/streams", who, params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_live_stream_lifecycle(node: ApiNode) -> None:
    api = node
    a, b, fan = api.user(), api.user(), api.user()
    events = EventSocket(api)
    try:
        events.subscribe(api, a, "stream.online", "1", {"broadcaster_user_id": a.uid})
        events.subscribe(api, a, "stream.offline", "1", {"broadcaster_user_id": a.uid})
        events.subscribe(api, a, "channel.update", "2", {"broadcaster_user_id": a.uid})
        music = api.get("/helix/games", a, params={"name": "Music"}).json()["data"][0]["id"]
        assert api.patch("/helix/channels", a, params={"broadcaster_id": a.uid}, json={
            "title": "Before live", "game_id": music, "broadcaster_language": "fr",
            "tags": ["Synth"]}).status_code == 204
        api.post("/helix/users/follows", fan, json={"from_id": fan.uid, "to_id": a.uid})
        assert streams(api, a, user_id=a.uid)["data"] == []

        pub_a = Publisher(api.proc.rtmp_url(a.stream_key), size="320x240", seconds=300)
        pub_b = Publisher(api.proc.rtmp_url(b.stream_key), size="320x240", seconds=300)
        try:
            api.proc.wait_live(a.login)
            api.proc.wait_live(b.login)
            both = wait_for(lambda: (s := streams(api, a))["data"] and len(
                [x for x in s["data"] if x["user_id"] in (a.uid, b.uid)]) == 2 and s,
                timeout=30, what="both streams listed")
            row = next(x for x in both["data"] if x["user_id"] == a.uid)
            assert row["type"] == "live" and row["user_login"] == a.login
            assert row["title"] == "Before live" and row["game_id"] == music
            assert row["game_name"] == "Music" and row["language"] == "fr"
            assert row["tags"] == ["Synth"] and row["started_at"].endswith("Z")
            assert "{width}x{height}" in row["thumbnail_url"]
            # filters
            assert [x["user_id"] for x in streams(api, a, game_id=music)["data"]] == [a.uid]
            assert [x["user_id"] for x in streams(api, a, language="fr")["data"]] == [a.uid]
            assert [x["user_id"] for x in streams(api, a, user_login=b.login.upper())[
                "data"]] == [b.uid]
            assert streams(api, a, type="live", user_id=[a.uid, b.uid])["data"]
            # paging: one per page
            p1 = streams(api, a, user_id=[a.uid, b.uid], first=1)
            p2 = streams(api, a, user_id=[a.uid, b.uid], first=1,
                         after=p1["pagination"]["cursor"])
            assert {p1["data"][0]["user_id"], p2["data"][0]["user_id"]} == {a.uid, b.uid}
            assert p2["pagination"] == {}
            # a chat viewer in b's room puts b first (sorted by viewers)
            viewer = chat_viewer(api, b.login)
            try:
                top = wait_for(lambda: (d := streams(api, a, user_id=[a.uid, b.uid])[
                    "data"])[0]["viewer_count"] == 1 and d, timeout=30, what="viewer counted")
                assert top[0]["user_id"] == b.uid and top[1]["viewer_count"] == 0
            finally:
                viewer.close()
            # followed live streams
            followed = api.get("/helix/streams/followed", fan, params={"user_id": fan.uid})
            assert [x["user_id"] for x in followed.json()["data"]] == [a.uid]
            # changes while live reach viewers (helix and the watch page state)
            api.patch("/helix/channels", a, params={"broadcaster_id": a.uid},
                      json={"title": "Now live!"})
            assert streams(api, a, user_id=a.uid)["data"][0]["title"] == "Now live!"
            assert api.proc.state(a.login)["title"] == "Now live!"
            [(session_id, open_)] = sessions_of(api, a)
            assert open_ and session_id == api.proc.state(a.login)["session_id"]
            # search shows it live
            found = api.get("/helix/search/channels", a, params={
                "query": a.login, "live_only": "true"}).json()["data"]
            assert found[0]["id"] == a.uid and found[0]["is_live"] is True
            # top games counts the live channel's category first
            top_games = api.get("/helix/games/top", a).json()["data"]
            assert top_games[0]["id"] == music
        finally:
            pub_a.stop()
            pub_b.stop()
        wait_for(lambda: streams(api, a, user_id=[a.uid, b.uid])["data"] == [], timeout=30,
                 what="streams gone after the grace period")
        wait_for(lambda: sessions_of(api, a) == [(session_id, False)], timeout=10,
                 what="session row ended")
        wait_for(lambda: events.of("stream.offline"), timeout=20, what="stream.offline event")
        online = events.of("stream.online")
        assert len(online) == 1 and online[0]["broadcaster_user_id"] == a.uid
        assert online[0]["type"] == "live" and online[0]["broadcaster_user_login"] == a.login
        offline = events.of("stream.offline")
        assert offline[0]["broadcaster_user_id"] == a.uid and len(offline) == 1
        update = events.of("channel.update")[-1]
        assert update["title"] == "Now live!" and update["category_id"] == music
        assert update["category_name"] == "Music" and update["language"] == "fr"
    finally:
        events.close()


def test_stream_key_and_reset(node: ApiNode) -> None:
    api = node
    a, other = api.user(), api.user()
    r = api.get("/helix/streams/key", a, params={"broadcaster_id": a.uid})
    assert r.status_code == 200, r.text
    assert r.json()["data"] == [{"stream_key": a.stream_key}]
    assert_error(api.get("/helix/streams/key", other, params={"broadcaster_id": a.uid}), 403)
    weak = api.user(scopes=("chat:read",))
    assert_error(api.get("/helix/streams/key", weak, params={"broadcaster_id": weak.uid}), 401,
                 "channel:read:stream_key")
    assert_error(api.get("/helix/streams/key", None, params={"broadcaster_id": a.uid}), 401)
    assert_error(api.post("/helix/streams/key/reset", other, params={"broadcaster_id": a.uid}),
                 403)
    reset = api.post("/helix/streams/key/reset", a, params={"broadcaster_id": a.uid})
    assert reset.status_code == 200, reset.text
    new_key = reset.json()["data"][0]["stream_key"]
    assert new_key != a.stream_key
    assert api.get("/helix/streams/key", a, params={"broadcaster_id": a.uid}).json()[
        "data"][0]["stream_key"] == new_key
    # the old key is refused at once
    old = Publisher(api.proc.rtmp_url(a.stream_key), size="320x240", seconds=30)
    code, _ = old.wait(60)
    assert code != 0
    assert api.proc.state(a.login)["live"] is False


def test_streams_validation(node: ApiNode) -> None:
    api = node
    a, b = api.user(), api.user()
    assert_error(api.get("/helix/streams", a, params={"type": "bogus"}), 400, "type")
    assert_error(api.get("/helix/streams", a, params={"user_id": "x"}), 400, "user_id")
    assert_error(api.get("/helix/streams", a, params={"first": 101}), 400, "first")
    assert_error(api.get("/helix/streams"), 401)
    assert_error(api.get("/helix/streams/followed", a, params={"user_id": b.uid}), 403)
    weak = api.user(scopes=("chat:read",))
    assert_error(api.get("/helix/streams/followed", weak, params={"user_id": weak.uid}), 401,
                 "user:read:follows")
    assert api.get("/helix/streams/followed", a, params={"user_id": a.uid}).json() == {
        "data": [], "pagination": {}}


def test_sessions_left_open_by_a_crash_are_closed_at_start(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    tmp = tmp_path_factory.mktemp("crash")
    db_url = f"sqlite+aiosqlite:///{tmp / 'streamhub.db'}"
    first = ApiNode(NodeProcess(tmp, database_url=db_url, transcode_mode="source_only"), db_url)
    try:
        a = first.user()
        pub = Publisher(first.proc.rtmp_url(a.stream_key), size="320x240", seconds=300)
        try:
            first.proc.wait_live(a.login)
            wait_for(lambda: sessions_of(first, a) and sessions_of(first, a)[0][1], timeout=20,
                     what="open session row")
            first.proc.proc.kill()  # a crash: no chance to end the session
            first.proc.proc.wait(20)
        finally:
            pub.stop()
        assert sessions_of(first, a)[0][1] is True
    finally:
        first.close()
    again = ApiNode(NodeProcess(tmp, database_url=db_url), db_url)
    try:
        assert [open_ for _, open_ in sessions_of(again, a)] == [False]
        assert streams(again, a)["data"] == []
    finally:
        again.close()
