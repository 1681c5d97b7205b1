"""VODs from a real node: a published stream ends, then its recording is served as HLS VOD
(playlists, every segment byte for byte, ffmpeg reads it whole), and nothing else is served."""

from __future__ import annotations

import http.client
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streamhub.packaging import read_index
from tests.system.harness import FFMPEG, NodeProcess, Publisher, wait_for

SECONDS = 8


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    n = NodeProcess(tmp_path_factory.mktemp("vod-node"), transcode_mode="source_only",
                    reconnect_grace=1.0)
    yield n
    n.stop()


@pytest.fixture(scope="module")
def ended(node: NodeProcess) -> dict[str, Any]:
    """A channel that streamed ~8 s and went offline: {login, session_id, dir}."""
    user = node.create_user("vod_maker")
    pub = Publisher(node.rtmp_url(user["stream_key"]), seconds=SECONDS, size="320x240",
                    rate=15, gop=15)
    try:
        state = node.wait_live("vod_maker")
        code, err = pub.wait(60)
        assert code == 0, err
    finally:
        pub.stop()
    wait_for(lambda: node.state("vod_maker").get("live") is False, timeout=60,
             what="vod_maker offline after the grace period")
    session_id = state["session_id"]
    base = f"/vod/vod_maker/{session_id}"
    wait_for(lambda: node.http.get(f"{base}/master.m3u8").status_code == 200, timeout=30,
             what="the session to end in the database")
    return {"login": "vod_maker", "session_id": session_id, "base": base,
            "dir": node.data_dir / "media" / "vod_maker" / session_id}


def raw_get(node: NodeProcess, path: str) -> int:
    """GET `path` exactly as written (no client-side normalization of `..` or escapes)."""
    conn = http.client.HTTPConnection("127.0.0.1", node.http_port, timeout=30)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def test_vod_playlists_and_media(node: NodeProcess, ended: dict[str, Any]) -> None:
    base = ended["base"]
    res = node.http.get(f"{base}/master.m3u8")
    assert res.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    assert "max-age=" in res.headers["cache-control"]
    assert res.headers.get("access-control-allow-origin") is None  # only with an Origin
    cors = node.http.get(f"{base}/master.m3u8", headers={"Origin": "http://elsewhere"})
    assert cors.headers["access-control-allow-origin"] == "*"
    master = res.text.splitlines()
    assert master[0] == "#EXTM3U"
    infs = [line for line in master if line.startswith("#EXT-X-STREAM-INF:")]
    assert len(infs) == 1
    assert re.search(r"BANDWIDTH=\d+", infs[0]) and "AVERAGE-BANDWIDTH=" in infs[0]
    assert "RESOLUTION=320x240" in infs[0] and 'CODECS="avc1.' in infs[0]
    assert "FRAME-RATE=15.000" in infs[0]
    uri = master[master.index(infs[0]) + 1]
    assert uri == "source/index.m3u8"

    media = node.http.get(f"{base}/{uri}")
    assert media.status_code == 200
    text = media.text
    assert "#EXT-X-PLAYLIST-TYPE:VOD\n" in text and text.endswith("#EXT-X-ENDLIST\n")
    assert '#EXT-X-MAP:URI="init-0.mp4"' in text
    records = read_index(ended["dir"], "source")
    uris = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert uris == [r.uri for r in records] and len(uris) >= 3
    total = sum(r.duration for r in records)
    assert SECONDS - 3 <= total <= SECONDS + 2, total

    folder = ended["dir"] / "source"
    for name in ["init-0.mp4", *uris]:
        got = node.http.get(f"{base}/source/{name}")
        assert got.status_code == 200, name
        assert got.content == (folder / name).read_bytes(), name
        assert got.headers["cache-control"] == "public, max-age=31536000, immutable"

    # ffmpeg reads the whole VOD through its playlist and sees the recorded duration
    proc = subprocess.run(
        [FFMPEG, "-hide_banner", "-nostdin", "-i", f"{node.base_url}{base}/master.m3u8",
         "-map", "0:v:0", "-f", "null", "-"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = re.search(r"Duration: (\d+):(\d+):(\d+\.\d+)", proc.stderr)
    assert found is not None, proc.stderr[-2000:]
    h, m, s = found.groups()
    seconds = int(h) * 3600 + int(m) * 60 + float(s)
    target = max(r.duration for r in records)
    assert abs(seconds - total) <= target, (seconds, total)
    frames = re.findall(r"frame=\s*(\d+)", proc.stderr)
    assert frames and int(frames[-1]) >= (total - target) * 15, frames[-1:]


def test_vod_thumbnail(node: NodeProcess, ended: dict[str, Any]) -> None:
    res = node.http.get(f"{ended['base']}/thumb.jpg")
    assert res.status_code == 200 and res.content[:2] == b"\xff\xd8"
    assert (ended["dir"] / "thumb.jpg").is_file()


def test_bad_paths_are_404(node: NodeProcess, ended: dict[str, Any]) -> None:
    base, session = ended["base"], ended["session_id"]
    (node.data_dir / "media" / "secret.txt").write_text("nope")
    bad = [
        f"{base}/source/index.jsonl",  # on disk, but not a media file
        f"{base}/source/../../../streamhub.db",
        f"{base}/source/..%2F..%2F..%2Fstreamhub.db",
        f"{base}/source/%2e%2e%2fsecret.txt",
        f"{base}/..%2F..%2Fsecret.txt/index.m3u8",
        f"{base}/%2e%2e/init-0.mp4",
        f"{base}/../../secret.txt",
        "/vod/vod_maker/..%2F..%2F/master.m3u8",
        "/vod/vod_maker/..%2Fvod_maker%2F" + session + "/master.m3u8",
        f"/vod/vod_maker/{session}%2F..%2F{session}/master.m3u8",
        "/vod/vod_maker/not-a-session!/master.m3u8",
        "/vod/vod_maker/ABCDEF123/master.m3u8",
        f"/vod/nobody_here/{session}/master.m3u8",
        f"/vod/VOD_MAKER/{session}/master.m3u8",
        f"{base}/source/seg-999.m4s",
        f"{base}/source/init-0.mp4.tmp",
        f"{base}/no_such/index.m3u8",
        f"{base}/source/seg-0.m4s%00",
    ]
    for path in bad:
        assert raw_get(node, path) == 404, path
    assert raw_get(node, f"{base}/source/init-0.mp4") == 200


def test_live_session_is_not_a_vod(node: NodeProcess, ended: dict[str, Any]) -> None:
    user = node.create_user("vod_live")
    pub = Publisher(node.rtmp_url(user["stream_key"]), seconds=120, size="320x240",
                    rate=15, gop=15)
    try:
        state = node.wait_live("vod_live")
        base = f"/vod/vod_live/{state['session_id']}"
        folder: Path = node.data_dir / "media" / "vod_live" / state["session_id"] / "source"
        wait_for(lambda: read_index(folder.parent, "source"), timeout=30,
                 what="a recorded segment of the live session")
        for path in ["master.m3u8", "source/index.m3u8", "source/init-0.mp4",
                     "source/seg-0.m4s", "thumb.jpg"]:
            assert node.http.get(f"{base}/{path}").status_code == 404, path
        # another channel's session under this login is not served either
        assert node.http.get(
            f"/vod/vod_live/{ended['session_id']}/master.m3u8").status_code == 404
    finally:
        pub.stop()
