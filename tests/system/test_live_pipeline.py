"""End to end: RTMP publish -> ffmpeg ladder -> LL-HLS origin, with real ffmpeg and sockets."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.system.harness import FFMPEG, NodeProcess, Publisher, wait_for

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    n = NodeProcess(tmp_path_factory.mktemp("node"), reconnect_grace="6")
    yield n
    n.stop()


@pytest.fixture(scope="module")
def live(node: NodeProcess) -> Iterator[tuple[str, Publisher]]:
    """One channel live for the whole module: 720p30 source -> source, 480p, 360p."""
    user = node.create_user("alpha")
    pub = Publisher(node.rtmp_url(user["stream_key"]), seconds=600)
    node.wait_live("alpha")
    yield "alpha", pub
    pub.stop()


def media_playlist_urls(node: NodeProcess, login: str) -> dict[str, str]:
    text = node.http.get(f"/hls/{login}/master.m3u8").text
    lines = text.splitlines()
    urls = {}
    for i, line in enumerate(lines):
        if line.startswith("#EXT-X-STREAM-INF"):
            uri = lines[i + 1]
            urls[uri.split("/")[-2]] = f"/hls/{login}/{uri}"
    return urls


def test_multivariant_lists_every_rendition(node: NodeProcess, live: tuple[str, Publisher]) -> None:
    login, _ = live
    res = node.http.get(f"/hls/{login}/master.m3u8", headers={"Origin": "http://player.example"})
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    assert res.headers["cache-control"] == "no-cache"
    assert res.headers["access-control-allow-origin"] == "*"
    infs = [line for line in res.text.splitlines() if line.startswith("#EXT-X-STREAM-INF")]
    assert len(infs) == 3
    for attr in ("BANDWIDTH=", "AVERAGE-BANDWIDTH=", "RESOLUTION=", 'CODECS="avc1.', "FRAME-RATE="):
        assert all(attr in inf for inf in infs), (attr, infs)
    resolutions = sorted(re.search(r"RESOLUTION=(\d+x\d+)", i).group(1) for i in infs)  # type: ignore[union-attr]
    assert resolutions == ["1280x720", "640x360", "854x480"]
    assert all("mp4a.40.2" in inf for inf in infs)
    assert set(media_playlist_urls(node, login)) == {"source", "480p", "360p"}


def test_media_playlists_have_parts_and_preload_hint(
    node: NodeProcess, live: tuple[str, Publisher]
) -> None:
    login, _ = live
    for name, url in media_playlist_urls(node, login).items():
        res = node.http.get(url)
        assert res.status_code == 200, name
        text = res.text
        assert "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES" in text
        assert "PART-HOLD-BACK=" in text and "CAN-SKIP-UNTIL=" in text
        assert "#EXT-X-PART-INF:PART-TARGET=" in text
        assert "#EXT-X-PART:" in text and "INDEPENDENT=YES" in text
        assert "#EXT-X-PRELOAD-HINT:TYPE=PART" in text
        assert "#EXT-X-PROGRAM-DATE-TIME:" in text
        assert "#EXT-X-MAP:URI=" in text
        assert text.count("#EXT-X-RENDITION-REPORT") == 2
        # the parts and segments it lists are served, immutable
        part = re.search(r'#EXT-X-PART:.*URI="([^"]+)"', text).group(1)  # type: ignore[union-attr]
        base = url.rsplit("/", 1)[0]
        got = node.http.get(f"{base}/{part}")
        assert got.status_code == 200 and got.content[4:8] == b"moof"
        assert "immutable" in got.headers["cache-control"]
        init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', text).group(1)  # type: ignore[union-attr]
        assert node.http.get(f"{base}/{init}").content[4:8] == b"ftyp"


def _last_part(text: str) -> tuple[int, int]:
    """(msn, part index) of the newest complete part in a media playlist."""
    msn = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text).group(1))  # type: ignore[union-attr]
    msn += len(re.findall(r"^#EXTINF", text, re.M))
    skipped = re.search(r"SKIPPED-SEGMENTS=(\d+)", text)
    if skipped:
        msn += int(skipped.group(1))
    tail = text.split("#EXTINF")[-1] if "#EXTINF" in text else text
    after = tail.split("\n", 1)[1] if "\n" in tail else ""
    return msn, len(re.findall(r"^#EXT-X-PART:", after, re.M)) - 1


def test_blocking_reload_returns_when_next_part_appears(
    node: NodeProcess, live: tuple[str, Publisher]
) -> None:
    login, _ = live
    url = media_playlist_urls(node, login)["480p"]
    text = node.http.get(url).text
    hint = re.search(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part-(\d+)-(\d+)\.m4s"', text)
    assert hint is not None
    msn, part = int(hint.group(1)), int(hint.group(2))
    started = time.monotonic()
    res = node.http.get(url, params={"_HLS_msn": msn, "_HLS_part": part})
    waited = time.monotonic() - started
    assert res.status_code == 200
    assert f'URI="part-{msn}-{part}.m4s"' in res.text
    assert "max-age" in res.headers["cache-control"]
    assert waited < 10
    # a request far ahead is refused per RFC 8216bis, without waiting
    far = node.http.get(url, params={"_HLS_msn": msn + 50, "_HLS_part": 0})
    assert far.status_code == 400
    assert node.http.get(url, params={"_HLS_part": 1}).status_code == 400
    assert node.http.get(url, params={"_HLS_msn": "x"}).status_code == 400
    # the hinted part itself blocks until it is complete
    text = node.http.get(url).text
    hint = re.search(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="(part-\d+-\d+\.m4s)"', text)
    assert hint is not None
    got = node.http.get(url.rsplit("/", 1)[0] + "/" + hint.group(1))
    assert got.status_code == 200 and got.content[4:8] == b"moof"


def test_delta_update(node: NodeProcess, live: tuple[str, Publisher]) -> None:
    login, _ = live
    url = media_playlist_urls(node, login)["360p"]
    wait_for(lambda: len(re.findall(r"^#EXTINF", node.http.get(url).text, re.M)) >= 7,
             timeout=60, what="a full live window")
    res = node.http.get(url, params={"_HLS_skip": "YES"})
    assert res.status_code == 200
    assert "#EXT-X-SKIP:SKIPPED-SEGMENTS=" in res.text
    assert node.http.get(url, params={"_HLS_skip": "maybe"}).status_code == 400


@pytest.mark.parametrize("rendition", ["source", "480p", "360p"])
def test_ffmpeg_decodes_each_rendition(
    node: NodeProcess, live: tuple[str, Publisher], rendition: str
) -> None:
    login, _ = live
    url = node.base_url + media_playlist_urls(node, login)[rendition]
    res = subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-i", url, "-t", "4",
         "-map", "0:v:0", "-map", "0:a:0", "-f", "framemd5", "-"],
        capture_output=True, text=True, timeout=120,
    )
    assert res.returncode == 0, res.stderr
    video_frames = [ln for ln in res.stdout.splitlines() if ln.startswith("0,")]
    audio_packets = [ln for ln in res.stdout.splitlines() if ln.startswith("1,")]
    assert len(video_frames) >= 100  # 4 s at 30 fps, decoded
    assert len(audio_packets) >= 100


def test_stream_state_api(node: NodeProcess, live: tuple[str, Publisher]) -> None:
    login, _ = live
    s = node.state(login)
    assert s["live"] is True and s["state"] == "live"
    assert s["started_at"].endswith("Z")
    assert [r["name"] for r in s["renditions"]] == ["source", "480p", "360p"]
    wait_for(lambda: (node.state(login)["health"]["transcoder"] or {}).get("speed"),
             timeout=30, what="transcoder progress")
    h = node.state(login)["health"]
    assert h["input"]["bitrate_kbps"] > 0 and h["input"]["fps"] > 20
    assert h["input"]["keyframe_interval_s"] == pytest.approx(2.0, abs=0.1)
    assert h["transcoder"]["state"] == "running" and h["transcoder"]["speed"] > 0
    assert node.http.get("/api/streams").json()["data"][0]["login"] == login
    assert node.http.get("/api/streams/nobody_here").status_code == 404


def test_segments_written_to_data_dir(node: NodeProcess, live: tuple[str, Publisher]) -> None:
    login, _ = live
    session = node.state(login)["session_id"]
    root = node.data_dir / "media" / login / session
    segs = wait_for(lambda: sorted((root / "480p").glob("seg-*.m4s")), timeout=30,
                    what="segments on disk")
    assert segs[0].stat().st_size > 1000
    assert list((root / "480p").glob("init-*.mp4"))
    assert not list(root.rglob("*.tmp"))


def test_wrong_key_refused_and_not_logged(node: NodeProcess) -> None:
    bad = "live_999_ThisKeyDoesNotExist0000000000"
    pub = Publisher(node.rtmp_url(bad), seconds=5)
    code, _ = pub.wait(60)
    assert code != 0
    assert bad not in node.log()
    assert "refused publish" in node.log()


def test_second_publisher_refused(node: NodeProcess, live: tuple[str, Publisher]) -> None:
    login, first = live
    res = subprocess.run(
        [sys.executable, "-m", "streamhub.cli", "user", "show", login],
        env=node.env, capture_output=True, text=True, timeout=60, check=True,
    )
    stream_key = json.loads(res.stdout)["stream_key"]
    second = Publisher(node.rtmp_url(stream_key), seconds=5)
    code, _ = second.wait(60)
    assert code != 0
    assert first.proc.poll() is None
    assert node.state(login)["live"] is True


def test_two_channels_live_at_once(node: NodeProcess, live: tuple[str, Publisher]) -> None:
    user = node.create_user("beta")
    pub = Publisher(node.rtmp_url(user["stream_key"]), size="640x360", seconds=120)
    try:
        s = node.wait_live("beta")
        assert [r["name"] for r in s["renditions"]] == ["source"]  # never upscaled
        assert node.state(live[0])["live"] is True
        assert {x["login"] for x in node.http.get("/api/streams").json()["data"]} == {
            "alpha", "beta"}
        text = node.http.get(media_playlist_urls(node, "beta")["source"]).text
        assert "#EXT-X-PART:" in text
    finally:
        pub.stop()


def test_encoder_reconnect_continues_session(node: NodeProcess) -> None:
    user = node.create_user("gamma")
    url = node.rtmp_url(user["stream_key"])
    pub = Publisher(url, size="640x360", seconds=120)
    state = node.wait_live("gamma")
    session = state["session_id"]
    playlist = media_playlist_urls(node, "gamma")["source"]
    pub.stop()
    wait_for(lambda: node.state("gamma")["state"] == "reconnecting", timeout=30,
             what="reconnecting state")
    pub2 = Publisher(url, size="640x360", seconds=120)
    try:
        wait_for(lambda: "#EXT-X-DISCONTINUITY" in node.http.get(playlist).text, timeout=60,
                 what="discontinuity after reconnect")
        s = node.state("gamma")
        assert s["session_id"] == session and s["reconnects"] == 1 and s["state"] == "live"
        # and segments keep coming after it
        first = _last_part(node.http.get(playlist).text)[0]
        wait_for(lambda: _last_part(node.http.get(playlist).text)[0] > first + 1, timeout=30,
                 what="new segments after reconnect")
    finally:
        pub2.stop()
    # after the grace period the stream goes offline
    wait_for(lambda: node.state("gamma")["live"] is False, timeout=60, what="offline")
    assert node.http.get("/hls/gamma/master.m3u8").status_code == 404


def test_garbage_does_not_affect_live_streams(
    node: NodeProcess, live: tuple[str, Publisher]
) -> None:
    login, _ = live
    for payload in (b"\x03" + b"\xff" * 3000, b"GET / HTTP/1.1\r\n\r\n", b"\x06abc"):
        with socket.create_connection(("127.0.0.1", node.rtmp_port), timeout=10) as s:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            s.settimeout(15)
            try:
                while s.recv(4096):
                    pass
            except (ConnectionResetError, TimeoutError):
                pass
    assert node.proc.poll() is None
    assert node.state(login)["live"] is True


def test_watch_page_served(node: NodeProcess, live: tuple[str, Publisher]) -> None:
    login, _ = live
    res = node.http.get(f"/{login}")
    assert res.status_code == 200 and "hls.min.js" in res.text
    assert node.http.get("/static/vendor/hls.min.js").status_code == 200
    assert node.http.get("/nobody_here").status_code == 404
    assert node.http.get("/static/../pyproject.toml").status_code == 404


def test_revoked_key_refused(node: NodeProcess) -> None:
    user = node.create_user("revoked_ch")
    res = subprocess.run(
        [sys.executable, "-m", "streamhub.cli", "user", "reset-key", "revoked_ch"],
        env=node.env, capture_output=True, text=True, timeout=60, check=True,
    )
    assert json.loads(res.stdout)["stream_key"] != user["stream_key"]
    code, _ = Publisher(node.rtmp_url(user["stream_key"]), seconds=5).wait(60)
    assert code != 0
    assert node.state("revoked_ch")["live"] is False
    assert user["stream_key"] not in node.log()
