"""Stream-health history: samples from snapshots, the bounded ring, chat rate, sessions."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streamhub.channels.health import ChatRate, HealthHistory, SessionHistory, make_sample


def snapshot(session: str = "s1", **over: Any) -> dict[str, Any]:
    snap: dict[str, Any] = {
        "login": "alice", "live": True, "state": "live", "session_id": session,
        "started_at": "2026-11-24T02:00:00Z", "reconnects": 1,
        "renditions": [
            {"name": "source", "width": 320, "height": 240, "frame_rate": 15.0,
             "bandwidth": 400_000, "average_bandwidth": 350_000},
            {"name": "144p", "width": 192, "height": 144, "frame_rate": 15.0,
             "bandwidth": None, "average_bandwidth": None},
        ],
        "health": {
            "input": {"bitrate_kbps": 512.5, "fps": 15.0, "keyframe_interval_s": 1.0,
                      "total_bytes": 1},
            "transcoder": {"state": "running", "restarts": 2, "fps": 15.0, "speed": 1.01,
                           "drop_frames": 3, "dup_frames": 0, "dropped_input_tags": 1},
        },
    }
    snap.update(over)
    return snap


class Stream:
    def __init__(self, login: str, session_id: str) -> None:
        self.login = login
        self.session_id = session_id
        self.snap = snapshot(session_id)

    def snapshot(self) -> dict[str, Any]:
        return self.snap


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_sample_from_snapshot() -> None:
    s = make_sample(snapshot(), seq=7, at=1234.5678, viewers=4, chat_per_min=12.345)
    assert (s.seq, s.t, s.state) == (7, 1234.568, "live")
    assert (s.bitrate_kbps, s.fps, s.keyframe_interval_s) == (512.5, 15.0, 1.0)
    assert (s.speed, s.drop_frames, s.dropped_input_tags, s.restarts) == (1.01, 3, 1, 2)
    assert (s.reconnects, s.viewers, s.chat_per_min) == (1, 4, 12.35)
    assert [r.name for r in s.renditions] == ["source", "144p"]
    assert s.renditions[0].kbps == 350.0 and s.renditions[0].width == 320
    assert s.renditions[1].kbps is None
    assert s.to_json()["renditions"][0] == {"name": "source", "kbps": 350.0, "width": 320,
                                            "height": 240, "fps": 15.0}


def test_sample_tolerates_missing_and_bad_figures() -> None:
    snap = snapshot(health={"input": None, "transcoder": {"speed": "fast", "fps": float("nan"),
                                                          "restarts": True}})
    del snap["renditions"]
    s = make_sample(snap, seq=1, at=0.0, viewers=None, chat_per_min=0.0)
    assert s.bitrate_kbps is None and s.speed is None and s.transcoder_fps is None
    assert s.restarts is None and s.renditions == ()


def test_ring_keeps_newest_and_serves_since() -> None:
    ring = SessionHistory("alice", "s1", None, capacity=5)
    assert ring.since(0) == [] and ring.last_seq == 0
    for i in range(8):
        ring.add(make_sample(snapshot(), seq=ring.next_seq(), at=float(i), viewers=i,
                             chat_per_min=0))
    assert [s.seq for s in ring.samples] == [4, 5, 6, 7, 8]
    assert [s.seq for s in ring.since(0)] == [4, 5, 6, 7, 8]
    assert [s.seq for s in ring.since(2)] == [4, 5, 6, 7, 8]  # older ones dropped
    assert [s.seq for s in ring.since(6)] == [7, 8]
    assert ring.since(8) == [] and ring.since(100) == []
    with pytest.raises(ValueError):
        SessionHistory("a", "s", None, capacity=0)


def test_chat_rate_over_the_last_minute_survives_counter_restart() -> None:
    rate = ChatRate(window=60)
    assert rate.update(0, 5) == 0.0  # one point: no rate yet
    assert rate.update(30, 35) == pytest.approx(60.0)  # 30 messages in 30 s
    assert rate.update(60, 35) == pytest.approx(30.0)  # 30 in the last 60 s
    assert rate.update(90, 35) == pytest.approx(0.0)
    # the room was closed and reopened: its counter starts at 0 again
    assert rate.update(120, 4) == pytest.approx(4.0)


async def test_history_samples_live_streams_and_starts_new_sessions() -> None:
    clock = Clock()
    streams = [Stream("alice", "s1")]
    chat = {"alice": 0}

    async def viewers(login: str) -> int:
        return 3

    history = HealthHistory(lambda: streams, viewers=viewers, chat_messages=chat.__getitem__,
                            interval=5, span=20, keep_ended=100, clock=clock)
    assert history.capacity == 4
    for _ in range(6):
        await history.sample()
        clock.now += 5
        chat["alice"] += 10
    ring = history.get("alice")
    assert ring is not None and ring.session_id == "s1"
    assert [s.seq for s in ring.samples] == [3, 4, 5, 6]
    assert ring.started_at == "2026-11-24T02:00:00Z"
    last = ring.samples[-1]
    assert last.viewers == 3 and last.chat_per_min == pytest.approx(120.0)
    probe = await history.probe(streams[0])  # right now, not stored
    assert probe.seq == 0 and probe.chat_per_min == pytest.approx(120.0)
    assert ring.last_seq == 6

    streams[0] = Stream("alice", "s2")  # a new live session: a new ring
    await history.sample()
    ring2 = history.get("alice")
    assert ring2 is not None and ring2 is not ring and [s.seq for s in ring2.samples] == [1]

    streams.clear()  # offline: the last session stays for keep_ended seconds
    await history.sample()
    assert history.get("alice") is ring2 and ring2.ended_at == clock.now
    clock.now += 50
    await history.sample()
    assert history.get("alice") is ring2
    clock.now += 60
    await history.sample()
    assert history.get("alice") is None


async def test_viewer_count_failure_leaves_the_figure_out() -> None:
    async def broken(login: str) -> int:
        raise ConnectionError("redis away")

    history = HealthHistory(lambda: [Stream("bob", "x")], viewers=broken,
                            chat_messages=lambda login: 0, interval=1)
    await history.sample()
    ring = history.get("bob")
    assert ring is not None and ring.samples[-1].viewers is None


async def test_runner_samples_every_interval_and_stops() -> None:
    calls: list[str] = []

    async def viewers(login: str) -> int:
        calls.append(login)
        return 0

    history = HealthHistory(lambda: [Stream("carol", "x")], viewers=viewers,
                            chat_messages=lambda login: 0, interval=0.01)
    history.start()
    for _ in range(500):
        if len(calls) >= 3:
            break
        await asyncio.sleep(0.01)
    await history.stop()
    seen = len(calls)
    assert seen >= 3
    await asyncio.sleep(0.05)
    assert len(calls) == seen
    with pytest.raises(ValueError):
        HealthHistory(lambda: [], viewers=viewers, chat_messages=lambda login: 0, interval=0)


def test_sample_interval_setting_is_bounded() -> None:
    from pydantic import ValidationError

    from streamhub.config import Settings

    assert Settings().health_sample_interval == 5.0
    assert Settings(health_sample_interval=0.5).health_sample_interval == 0.5
    for bad in (0, 0.1, 301):
        with pytest.raises(ValidationError):
            Settings(health_sample_interval=bad)
