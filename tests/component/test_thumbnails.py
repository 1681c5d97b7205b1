"""Live thumbnails: a real node takes a JPEG of a real ffmpeg publish with ffmpeg, refreshes it,
serves it (also in Helix's template form) and drops it when the stream ends; the service
survives bad media and a hung ffmpeg."""

from __future__ import annotations

import asyncio
import logging
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from streamhub.channels.profile import jpeg_size
from streamhub.web.thumbnails import (
    ThumbnailService,
    lowest,
    parse_name,
    thumbnail_argv,
)
from tests.system.harness import FFMPEG, NodeProcess, Publisher, wait_for

LOGIN = "thumbed"


def test_argv_and_names() -> None:
    assert thumbnail_argv("ffmpeg") == [
        "ffmpeg", "-hide_banner", "-nostats", "-loglevel", "error",
        "-f", "mp4", "-i", "pipe:0", "-map", "0:v:0", "-frames:v", "1", "-an",
        "-vf", "scale=640:360:force_original_aspect_ratio=decrease:force_divisible_by=2",
        "-c:v", "mjpeg", "-q:v", "5", "-f", "image2pipe", "pipe:1",
    ]
    assert parse_name("some_one.jpg") == ("some_one", None, None)
    assert parse_name("some_one-440x248.jpg") == ("some_one", 440, 248)
    for bad in ("../x.jpg", "ab.jpg", "Caps.jpg", "x_y.png", "user-{width}x{height}.jpg",
                "user.jpg/..", "user-1x.jpg", "a/b.jpg", "user.jpg\x00"):
        assert parse_name(bad) is None, bad


class _R:
    def __init__(self, height: int | None, latest: tuple[int, bytes, bytes] | None) -> None:
        self._height, self._latest = height, latest

    @property
    def height(self) -> int | None:
        return self._height

    def latest_segment(self) -> tuple[int, bytes, bytes] | None:
        return self._latest


class _P:
    def __init__(self, renditions: Sequence[_R]) -> None:
        self._renditions = renditions

    @property
    def renditions(self) -> Sequence[_R]:
        return self._renditions


class _S:
    def __init__(self, login: str, packager: _P) -> None:
        self.login, self.session_id, self._packager = login, "s1", packager

    @property
    def packager(self) -> _P | None:
        return self._packager


class _Hub:
    def __init__(self, *streams: _S) -> None:
        self.live = list(streams)

    def streams(self) -> list[_S]:
        return self.live


def test_lowest_rendition() -> None:
    small, big, unknown = _R(360, None), _R(720, None), _R(None, None)
    assert lowest([big, unknown, small]) is small
    assert lowest([unknown]) is unknown
    assert lowest([]) is None


async def test_bad_media_and_hung_ffmpeg_are_survived(tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    hub = _Hub(_S("broken", _P([_R(240, (0, b"not an mp4", b"at all"))])))
    service = ThumbnailService(hub, folder=tmp_path / "thumbs", ffmpeg=lambda: FFMPEG,
                               interval=0.5, timeout=30)
    with caplog.at_level(logging.WARNING):
        await service.round()
    assert service.captures == 0 and not (tmp_path / "thumbs" / "broken.jpg").exists()
    assert "thumbnail ffmpeg failed" in caplog.text

    hung = tmp_path / "hung-ffmpeg"
    hung.write_text("#!/bin/sh\nexec sleep 60\n")
    hung.chmod(0o755)
    slow = ThumbnailService(hub, folder=tmp_path / "thumbs", ffmpeg=lambda: str(hung),
                            interval=0.5, timeout=0.5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await slow.capture(b"x" * 100, "broken") is None
    assert loop.time() - started < 10  # killed at the timeout, not after sleep's 60 s

    missing = ThumbnailService(hub, folder=tmp_path / "thumbs",
                               ffmpeg=lambda: str(tmp_path / "no-such-ffmpeg"), interval=0.5)
    missing.start()  # the loop keeps going (errors logged) and stops cleanly
    await asyncio.sleep(0.3)
    await missing.stop()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    n = NodeProcess(tmp_path_factory.mktemp("thumb-node"), transcode_mode="source_only",
                    thumbnail_interval="1", reconnect_grace="1")
    yield n
    n.stop()


def _get(node: NodeProcess, path: str) -> httpx.Response:
    return node.http.get(path)


def test_live_thumbnail_appears_refreshes_and_goes_away(node: NodeProcess) -> None:
    user = node.create_user(LOGIN)
    folder = node.data_dir / "thumbnails"
    assert _get(node, f"/thumbnails/{LOGIN}.jpg").status_code == 404  # not live: none
    pub = Publisher(node.rtmp_url(user["stream_key"]), size="320x240", rate=15, gop=15,
                    seconds=120)
    try:
        node.wait_live(LOGIN)
        first = wait_for(lambda: (r := _get(node, f"/thumbnails/{LOGIN}.jpg")).status_code == 200
                         and r, timeout=60, what="the first thumbnail")
        assert first.headers["content-type"] == "image/jpeg"
        assert "max-age=30" in first.headers["cache-control"]
        body = first.content
        assert body[:3] == b"\xff\xd8\xff" and body[-2:] == b"\xff\xd9"
        assert jpeg_size(body) == (480, 360)  # 4:3 source, fit into 640x360
        decoded = subprocess.run([FFMPEG, "-v", "error", "-f", "image2pipe", "-i", "pipe:0",
                                  "-f", "null", "-"], input=body, capture_output=True,
                                 timeout=60)
        assert decoded.returncode == 0 and not decoded.stderr, decoded.stderr
        # no half-written file is ever visible: only the finished JPEG in the folder
        assert [p.name for p in folder.glob("*.jpg")] == [f"{LOGIN}.jpg"]

        # Helix's template form answers with the same image
        token = node.token(LOGIN)
        streams = node.http.get("/helix/streams", params={"user_login": LOGIN}, headers={
            "Authorization": f"Bearer {token}", "Client-Id": "thumb-test"}).json()["data"]
        template = streams[0]["thumbnail_url"]
        assert template == f"{node.base_url}/thumbnails/{LOGIN}-{{width}}x{{height}}.jpg"
        sized = node.http.get(template.replace("{width}", "440").replace("{height}", "248"))
        assert sized.status_code == 200 and sized.content[:3] == b"\xff\xd8\xff"

        # refreshed: a later frame of the moving test pattern
        wait_for(lambda: _get(node, f"/thumbnails/{LOGIN}.jpg").content != body, timeout=60,
                 what="a refreshed thumbnail")
    finally:
        pub.stop()
    wait_for(lambda: _get(node, f"/thumbnails/{LOGIN}.jpg").status_code == 404, timeout=60,
             what="the thumbnail gone after the stream ended")
    assert not (folder / f"{LOGIN}.jpg").exists()
    assert "thumbnail round failed" not in node.log()


def test_thumbnail_names_are_strict(node: NodeProcess) -> None:
    (node.data_dir / "secret.jpg").write_bytes(b"\xff\xd8\xff not for you")
    for path in ("/thumbnails/..%2Fsecret.jpg", "/thumbnails/%2e%2e%2fsecret.jpg",
                 "/thumbnails/..%5Csecret.jpg", "/thumbnails/nobody_here.jpg",
                 "/thumbnails/NODE.jpg", "/thumbnails/ab.jpg", "/thumbnails/user-0x0.jpg",
                 "/thumbnails/user-9999x9999.jpg", "/thumbnails/user.jpg%00.png"):
        r = _get(node, path)
        assert r.status_code == 404, (path, r.status_code)
        assert b"not for you" not in r.content
    raw = httpx.get(f"{node.base_url}/thumbnails/../secret.jpg", timeout=30)
    assert raw.status_code == 404 and b"not for you" not in raw.content
