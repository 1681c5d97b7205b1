"""ffmpeg dies or stalls mid-stream: restarted with backoff, the stream continues after a
discontinuity, and the restart shows in the stream health."""

from __future__ import annotations

import contextlib
import os
import re
import signal
from collections.abc import Iterator

import pytest

from tests.system.harness import NodeProcess, Publisher, wait_for

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    n = NodeProcess(tmp_path_factory.mktemp("recovery"), transcoder_stall_timeout="4")
    yield n
    n.stop()


def _transcoder(node: NodeProcess, login: str) -> dict[str, object]:
    return dict(node.state(login)["health"]["transcoder"])


def _segments(node: NodeProcess, url: str) -> int:
    text = node.http.get(url).text
    seq = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text).group(1))  # type: ignore[union-attr]
    return seq + len(re.findall(r"^#EXTINF", text, re.M))


def _recovers(node: NodeProcess, login: str, old_pid: int) -> None:
    state = wait_for(
        lambda: (t := _transcoder(node, login))["restarts"] >= 1  # type: ignore[operator]
        and t["pid"] not in (None, old_pid) and t["state"] == "running" and t,
        timeout=60, what="a new ffmpeg",
    )
    assert state["restarts"] == 1
    s = node.state(login)
    assert s["live"] is True
    url = s["renditions"][0]["uri"]
    wait_for(lambda: "#EXT-X-DISCONTINUITY" in node.http.get(url).text, timeout=60,
             what="discontinuity in the playlist")
    text = node.http.get(url).text
    assert text.count("#EXT-X-MAP:") >= 2  # the new ffmpeg's init section
    before = _segments(node, url)
    wait_for(lambda: _segments(node, url) >= before + 2, timeout=60,
             what="segments after the restart")


def test_killed_ffmpeg_is_restarted(node: NodeProcess) -> None:
    user = node.create_user("crashy")
    pub = Publisher(node.rtmp_url(user["stream_key"]), size="640x360", seconds=300)
    try:
        node.wait_live("crashy")
        pid = int(_transcoder(node, "crashy")["pid"])  # type: ignore[call-overload]
        os.kill(pid, signal.SIGKILL)
        _recovers(node, "crashy", pid)
        assert pub.proc.poll() is None  # the encoder never noticed
    finally:
        pub.stop()


def test_stalled_ffmpeg_is_killed_and_restarted(node: NodeProcess) -> None:
    user = node.create_user("stally")
    pub = Publisher(node.rtmp_url(user["stream_key"]), size="640x360", seconds=300)
    pid = 0
    try:
        node.wait_live("stally")
        pid = int(_transcoder(node, "stally")["pid"])  # type: ignore[call-overload]
        os.kill(pid, signal.SIGSTOP)  # alive but producing nothing
        _recovers(node, "stally", pid)
        assert "stalled" in node.log()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
        pub.stop()
