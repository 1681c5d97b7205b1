"""Debian Chromium (Playwright) plays /<login> while a stream is live."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.support import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, SAMPLE_JS
from tests.system.harness import NodeProcess, Publisher, wait_for

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    n = NodeProcess(tmp_path_factory.mktemp("browser-node"))
    yield n
    n.stop()


def test_chromium_plays_live_channel(node: NodeProcess, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    user = node.create_user("viewer_test")
    pub = Publisher(node.rtmp_url(user["stream_key"]), seconds=300)
    try:
        node.wait_live("viewer_test")
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS,
            )
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(f"{node.base_url}/viewer_test")
                page.wait_for_function(
                    "() => { const v = document.getElementById('video');"
                    " return v.videoWidth > 0 && v.currentTime > 1; }",
                    timeout=90_000,
                )
                t0 = page.evaluate("() => document.getElementById('video').currentTime")
                page.wait_for_function(
                    f"() => document.getElementById('video').currentTime > {t0 + 2}",
                    timeout=60_000,
                )
                width = page.evaluate("() => document.getElementById('video').videoWidth")
                assert width > 0
                sample = page.evaluate(SAMPLE_JS)
                assert sample["mean"] > 20 and sample["lit"] > 0.5, sample
                latency = wait_for(
                    lambda: page.evaluate("() => window.streamhubPlayer.latency"),
                    timeout=30, what="latency readout",
                )
                assert 0 < latency < 30
                assert page.locator("#latency").inner_text().endswith(" s")
                options = page.locator("#quality option").all_inner_texts()
                assert options[0] == "Auto" and len(options) == 4  # auto + 3 renditions
                low = page.locator("#quality option", has_text="360p").get_attribute("value")
                assert low is not None
                page.select_option("#quality", value=low)
                page.wait_for_function(
                    "() => { const h = window.streamhubPlayer.hls;"
                    " return h && h.levels[h.currentLevel] && h.levels[h.currentLevel].height"
                    " === 360 && document.getElementById('video').videoHeight === 360; }",
                    timeout=60_000,
                )
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "watch-page.png"))
            finally:
                browser.close()
    finally:
        pub.stop()
