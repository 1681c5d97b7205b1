"""Debian Chromium (Playwright): after a stream ends, the channel page's offline state lists its
recording, and the VOD page plays it (picture, progress, seeking, quality choice)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.browser.support import SAMPLE_JS, chromium, require_chromium, screenshot
from tests.system.harness import NodeProcess, Publisher, wait_for

pytestmark = pytest.mark.browser

LOGIN = "vod_browser"
SECONDS = 12


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    require_chromium()
    n = NodeProcess(tmp_path_factory.mktemp("vod-browser"), transcode_mode="source_only",
                    reconnect_grace=1.0)
    yield n
    n.stop()


def test_offline_channel_lists_and_plays_its_vod(node: NodeProcess) -> None:
    user = node.create_user(LOGIN)
    pub = Publisher(node.rtmp_url(user["stream_key"]), seconds=SECONDS, size="640x360",
                    rate=15, gop=15)
    try:
        state = node.wait_live(LOGIN)
        code, err = pub.wait(90)
        assert code == 0, err
    finally:
        pub.stop()
    wait_for(lambda: node.state(LOGIN).get("live") is False, timeout=60, what="offline")
    wait_for(lambda: node.http.get(f"/vod/{LOGIN}/{state['session_id']}/master.m3u8")
             .status_code == 200, timeout=30, what="the VOD to be served")

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{node.base_url}/{LOGIN}")
        link = page.locator("#offline-videos a").first
        link.wait_for(timeout=30_000)
        assert page.locator("#offline").is_visible()
        href = link.get_attribute("href")
        assert href is not None and re.fullmatch(r"/videos/\d+", href), href
        assert page.locator(f"#videos a.video-title[href='{href}']").count() == 1
        # the thumbnail is a real frame grabbed from the recording
        page.wait_for_function(
            "() => { const i = document.querySelector('#offline-videos img');"
            " return i && i.complete && i.naturalWidth > 0; }", timeout=60_000)
        screenshot(page, "vod_channel_offline")

        link.click()
        page.wait_for_url(f"**{href}", timeout=30_000)
        assert page.locator("#vod-channel").get_attribute("href") == f"/{LOGIN}"
        page.wait_for_function(
            "() => { const v = document.getElementById('video');"
            " return v.videoWidth > 0 && v.currentTime > 1; }", timeout=60_000)
        width = page.evaluate("() => document.getElementById('video').videoWidth")
        assert width == 640
        sample = page.evaluate(SAMPLE_JS)
        assert sample["mean"] > 20 and sample["lit"] > 0.5, sample
        duration = page.evaluate("() => document.getElementById('video').duration")
        assert SECONDS - 4 <= duration <= SECONDS + 2, duration
        options = page.locator("#quality option").all_inner_texts()
        assert options == ["Auto", "360p"], options
        screenshot(page, "vod")

        # seek near the end: playback continues from there and reaches the end
        target = duration - 3
        page.evaluate(f"() => {{ document.getElementById('video').currentTime = {target}; }}")
        page.wait_for_function(
            f"() => {{ const v = document.getElementById('video');"
            f" return !v.seeking && v.currentTime > {target + 0.5}; }}", timeout=30_000)
        page.wait_for_function("() => document.getElementById('video').ended", timeout=30_000)
        # and back to the start
        page.evaluate("() => { const v = document.getElementById('video');"
                      " v.currentTime = 0.5; v.play(); }")
        page.wait_for_function(
            "() => { const v = document.getElementById('video');"
            " return !v.seeking && v.currentTime > 1 && v.currentTime < 6; }", timeout=30_000)
        assert page.evaluate("() => window.streamhubVod.error") is None

        page.goto(f"{node.base_url}/videos/999999")
        assert page.locator("h1").inner_text() == "Not found"
