"""Debian Chromium (Playwright): a watch page on a channel that raids follows the raid to the
target channel's page, with a visible notice first and the viewer's sound settings kept."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.browser.support import CHROMIUM, CHROMIUM_ARGS
from tests.system.harness import NodeProcess, Publisher

pytestmark = pytest.mark.browser

SOURCE = "raid_source"
TARGET = "raid_target"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    n = NodeProcess(tmp_path_factory.mktemp("raid-node"), raid_delay="1",
                    transcode_mode="source_only")
    yield n
    n.stop()


def test_watch_page_follows_a_raid(node: NodeProcess) -> None:
    from playwright.sync_api import sync_playwright

    src, dst = node.create_user(SOURCE), node.create_user(TARGET)
    token = node.token(SOURCE, "channel:manage:raids")
    publishers = [Publisher(node.rtmp_url(u["stream_key"]), size="320x240", rate=15, gop=15,
                            seconds=120) for u in (src, dst)]
    try:
        node.wait_live(SOURCE)
        node.wait_live(TARGET)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 960, "height": 720})
                page.goto(f"{node.base_url}/{SOURCE}")
                # the first poll has come back (so the page knows the server's clock)
                page.wait_for_function("() => window.streamhubPlayer.live === true",
                                       timeout=30_000)
                page.click("#unmute")  # the viewer turns the sound on
                assert page.evaluate("() => document.getElementById('video').muted") is False
                assert page.locator("#raid-notice").count() == 0

                r = httpx.post(f"{node.base_url}/helix/raids", params={
                    "from_broadcaster_id": str(src["id"]), "to_broadcaster_id": str(dst["id"])},
                    headers={"Authorization": f"Bearer {token}", "Client-Id": "raid-test"},
                    timeout=30)
                assert r.status_code == 200, r.text

                notice = page.locator("#raid-notice")
                notice.wait_for(state="visible", timeout=30_000)
                assert notice.inner_text() == f"Raiding {TARGET}\u2026"
                assert page.url == f"{node.base_url}/{SOURCE}"  # the notice shows first
                page.wait_for_url(f"{node.base_url}/{TARGET}", timeout=30_000)
                assert page.locator("#channel-name").inner_text() == TARGET
                page.wait_for_function("() => window.streamhubPlayer.live === true",
                                       timeout=30_000)
                # the target page does not follow anything itself, and keeps the sound on
                assert page.locator("#raid-notice").count() == 0
                assert page.evaluate("() => document.getElementById('video').muted") is False

                # a page opened on the source after the raid went out stays there
                late = browser.new_page()
                late.goto(f"{node.base_url}/{SOURCE}")
                late.wait_for_function("() => window.streamhubPlayer.live === true",
                                       timeout=30_000)
                state = node.state(SOURCE)
                assert state["raid"]["to_login"] == TARGET  # the raid is still announced
                assert late.evaluate("() => window.streamhubPlayer.raid") is None
                assert late.locator("#raid-notice").count() == 0
                assert late.evaluate("() => document.getElementById('video').muted") is True
            finally:
                browser.close()
    finally:
        for pub in publishers:
            pub.stop()
