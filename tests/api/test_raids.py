"""Helix raids against a real node: a live channel (real ffmpeg publishing over RTMP) raids
another; the target's chat gets the raid USERNOTICE and the source's chat a HOSTTARGET."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from streamhub.storage.db import make_engine, sessionmaker
from streamhub.storage.models import Raid
from tests.api.chat_helpers import (
    NODE_SETTINGS,
    EventSubSocket,
    clients,
    connect,
    http,
    is_cmd,
)
from tests.api.conftest import ApiNode, assert_error, node_fixture, run_sync
from tests.api.conftest import TestUser as ApiUser
from tests.system.harness import Publisher, wait_for
from tests.system.irc_client import IrcClient

__all__ = ["clients"]


# a 2 s countdown leaves time to cancel, even on a busy machine
api = node_fixture(**{**NODE_SETTINGS, "raid_delay": "2"}, transcode_mode="source_only")


def raid(api: ApiNode, who: ApiUser | str | None, src: ApiUser | str, dst: ApiUser | str,
         ) -> httpx.Response:
    return api.post("/helix/raids", who, params={
        "from_broadcaster_id": src if isinstance(src, str) else src.uid,
        "to_broadcaster_id": dst if isinstance(dst, str) else dst.uid})


def statuses(api: ApiNode, from_id: int) -> list[str]:
    async def read() -> list[str]:
        engine = make_engine(api.db_url)
        try:
            async with sessionmaker(engine)() as session:
                return list(await session.scalars(
                    select(Raid.status).where(Raid.from_id == from_id).order_by(Raid.id)))
        finally:
            await engine.dispose()

    return run_sync(read)


def stream_state(api: ApiNode, login: str) -> dict[str, Any]:
    r = api.http.get(f"/api/streams/{login}")
    assert r.status_code == 200, r.text
    return dict(r.json())


def add_raid(api: ApiNode, src: ApiUser, dst: ApiUser, status: str,
             executed_at: datetime | None) -> None:
    async def write() -> None:
        engine = make_engine(api.db_url)
        try:
            async with sessionmaker(engine)() as session, session.begin():
                session.add(Raid(from_id=src.id, to_id=dst.id, viewer_count=3, status=status,
                                 created_at=datetime.now(UTC) - timedelta(seconds=300),
                                 executed_at=executed_at))
        finally:
            await engine.dispose()

    run_sync(write)


def test_watch_state_follows_recent_raids_only(api: ApiNode) -> None:
    src, dst, other = api.user(), api.user(), api.user()
    assert stream_state(api, src.login)["raid"] is None  # offline channel, never raided
    now = datetime.now(UTC)
    add_raid(api, src, other, "done", now - timedelta(seconds=125))  # too long ago
    add_raid(api, src, other, "canceled", None)
    add_raid(api, src, other, "pending", None)
    assert stream_state(api, src.login)["raid"] is None
    add_raid(api, src, dst, "done", now - timedelta(seconds=100))
    # written straight to the database, as another node would: seen within the cache's ttl
    got = wait_for(lambda: stream_state(api, src.login)["raid"], timeout=10,
                   what="the raid in the stream state")
    assert got["to_login"] == dst.login and got["to_name"] == dst.login
    at = datetime.fromisoformat(got["at"].replace("Z", "+00:00"))
    assert got["at"].endswith("Z") and abs(at - (now - timedelta(seconds=100))) < \
        timedelta(milliseconds=2)
    assert stream_state(api, dst.login)["raid"] is None  # the target did not raid anyone


def test_raid_validation_and_authorization(api: ApiNode) -> None:
    src, dst = api.user(), api.user()
    assert_error(raid(api, src, src, dst), 400, "live")
    assert_error(raid(api, src, src, src), 400, "themselves")
    assert_error(raid(api, src, src, "987654321"), 404, "not found")
    assert_error(raid(api, src, src, "abc"), 400, "to_broadcaster_id")
    assert_error(raid(api, src, src, "99999999999"), 400, "to_broadcaster_id")
    assert_error(raid(api, dst, src, dst), 403, "from_broadcaster_id")
    assert_error(raid(api, None, src, dst), 401)
    weak = api.user(scopes=("chat:read",))
    assert_error(raid(api, weak, weak, dst), 401, "channel:manage:raids")
    assert_error(api.post("/helix/raids", src, params={"from_broadcaster_id": src.uid}), 400,
                 "to_broadcaster_id")
    assert_error(api.delete("/helix/raids", src, params={"broadcaster_id": src.uid}), 404,
                 "pending")
    assert_error(api.delete("/helix/raids", dst, params={"broadcaster_id": src.uid}), 403)
    assert_error(api.delete("/helix/raids", weak, params={"broadcaster_id": weak.uid}), 401)


async def test_raid_from_a_live_channel(api: ApiNode, clients: list[IrcClient]) -> None:
    src, dst = api.user(), api.user()
    publisher = Publisher(api.proc.rtmp_url(src.stream_key), size="320x240", rate=15, gop=15)
    try:
        await http(api.proc.wait_live, src.login)
        in_source = await connect(api, clients, None, src.login)
        await connect(api, clients, api.user(), src.login)
        in_target = await connect(api, clients, None, dst.login)
        socket = await EventSubSocket.open(api)
        await http(socket.subscribe, dst, (), "channel.raid",
                   {"to_broadcaster_user_id": dst.uid})

        # a raid can be canceled during its countdown
        first = await http(raid, api, src, src, dst)
        assert first.status_code == 200, first.text
        assert (await http(stream_state, api, src.login))["raid"] is None  # still pending
        assert_error(await http(raid, api, src, src, dst), 409, "already")
        cancel = await http(api.delete, "/helix/raids", src, params={"broadcaster_id": src.uid})
        assert cancel.status_code == 204
        assert statuses(api, src.id) == ["canceled"]
        assert (await http(stream_state, api, src.login))["raid"] is None
        before = datetime.now(UTC).replace(microsecond=0)

        r = await http(raid, api, src, src, dst)
        assert r.status_code == 200, r.text
        (started,) = r.json()["data"]
        assert started["created_at"].endswith("Z") and started["is_mature"] is False
        notice = await in_target.expect(is_cmd("USERNOTICE", f"#{dst.login}", msg_id="raid"))
        assert notice.tags["msg-param-login"] == src.login
        assert notice.tags["msg-param-displayName"] == src.login
        assert notice.tags["msg-param-viewerCount"] == "2"  # the two connections in src chat
        assert notice.tags["login"] == src.login and notice.tags["user-id"] == src.uid
        assert "raiders from" in notice.tags["system-msg"]
        host = await in_source.expect(is_cmd("HOSTTARGET", f"#{src.login}"))
        assert host.params[-1] == f"{dst.login} 2"
        assert statuses(api, src.id) == ["canceled", "done"]
        # the source's watch pages learn where their viewers went
        state = await http(stream_state, api, src.login)
        assert state["live"] is True
        assert {k: state["raid"][k] for k in ("to_login", "to_name")} == {
            "to_login": dst.login, "to_name": dst.login}
        at = datetime.fromisoformat(state["raid"]["at"].replace("Z", "+00:00"))
        assert before < at <= datetime.now(UTC)
        assert (await http(stream_state, api, dst.login))["raid"] is None
        event = await socket.event("channel.raid")
        assert event == {
            "from_broadcaster_user_id": src.uid, "from_broadcaster_user_login": src.login,
            "from_broadcaster_user_name": src.login, "to_broadcaster_user_id": dst.uid,
            "to_broadcaster_user_login": dst.login, "to_broadcaster_user_name": dst.login,
            "viewers": 2}
        await socket.close()
        assert_error(api.delete("/helix/raids", src, params={"broadcaster_id": src.uid}), 404)
    finally:
        publisher.stop()
