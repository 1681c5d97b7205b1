"""Debian Chromium (Playwright): a new user signs up, copies the stream key from the dashboard,
streams to it with ffmpeg; a second browser plays the channel; the dashboard shows the stream
live with health figures, charts and renditions; a title saved on the dashboard reaches the
channel page without reload; a key reset makes RTMP refuse the old key."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

import pytest

from tests.browser.support import SAMPLE_JS, chromium, screenshot, sign_up
from tests.system.harness import NodeProcess, Publisher

pytestmark = pytest.mark.browser

DOTS = "\u2022" * 20
# Points of a chart's first line (its path's M/L commands).
CHART_POINTS = """(id) => {
  const p = document.querySelector('#' + id + ' path.series');
  return p ? (p.getAttribute('d').match(/[ML]/g) || []).length : 0;
}"""


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    # a tiny ladder (one 144p rung under the 240p source) for the per-rendition rows
    n = NodeProcess(tmp_path_factory.mktemp("dashboard-node"), health_sample_interval="1",
                    ladder=[{"name": "144p", "height": 144, "fps": 15, "video_kbps": 150,
                             "audio_kbps": 64}])
    yield n
    n.stop()


def test_dashboard_stream_key_live_health_title_and_reset(node: NodeProcess) -> None:
    login = f"dash{secrets.token_hex(4)}"
    base = node.base_url
    with chromium() as browser:
        studio = browser.new_context(viewport={"width": 1440, "height": 1700})
        studio.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
        dash = studio.new_page()
        sign_up(dash, base, login)
        dash.goto(f"{base}/dashboard")
        assert dash.locator("#live-status").inner_text() == "OFFLINE"
        assert dash.input_value("#stream-key") == DOTS
        assert dash.input_value("#rtmp-url") == f"rtmp://127.0.0.1:{node.rtmp_port}/live"
        assert "Custom" in dash.locator(".obs-help").inner_text()
        dash.wait_for_function(
            "() => !document.getElementById('health-empty').classList.contains('hidden')",
            timeout=30_000)
        screenshot(dash, "dashboard")

        # reveal and copy the key; the clipboard holds exactly the revealed key
        dash.click("#key-show")
        dash.wait_for_function(
            f"() => document.getElementById('stream-key').value !== '{DOTS}'", timeout=30_000)
        shown = dash.input_value("#stream-key")
        assert dash.locator("#key-show").inner_text() == "Hide"
        dash.click("#key-copy")
        dash.wait_for_function(
            "() => /copied/.test(document.getElementById('key-message').textContent)",
            timeout=30_000)
        copied = dash.evaluate("() => navigator.clipboard.readText()")
        assert copied == shown and len(copied) >= 20
        dash.click("#key-show")  # hide again
        assert dash.input_value("#stream-key") == DOTS

        pub = Publisher(node.rtmp_url(copied), size="320x240", rate=15, gop=15, seconds=300)
        try:
            node.wait_live(login)

            # a second browser context (anonymous) plays the channel
            audience = browser.new_context(viewport={"width": 1280, "height": 900})
            watch = audience.new_page()
            watch.goto(f"{base}/{login}")
            watch.wait_for_function(
                "() => { const v = document.getElementById('video');"
                " return v && v.videoWidth > 0 && v.currentTime > 1; }", timeout=90_000)
            t0 = watch.evaluate("() => document.getElementById('video').currentTime")
            watch.wait_for_function(
                f"() => document.getElementById('video').currentTime > {t0 + 1.5}",
                timeout=60_000)
            assert watch.evaluate("() => document.getElementById('video').videoWidth") > 0
            sample = watch.evaluate(SAMPLE_JS)
            assert sample["mean"] > 20 and sample["lit"] > 0.5, sample
            watch.evaluate("() => { window.__noReload = 'still here'; }")

            # the dashboard: LIVE, figures, charts with points, one row per rendition
            dash.wait_for_function(
                "() => document.getElementById('live-status').textContent === 'LIVE'",
                timeout=30_000)
            for chart in ("chart-bitrate", "chart-fps", "chart-viewers", "chart-chat",
                          "chart-renditions"):
                dash.wait_for_function(f"() => ({CHART_POINTS})('{chart}') >= 2",
                                       timeout=60_000)
            dash.wait_for_function(
                "() => document.querySelectorAll('#renditions tbody tr').length === 2",
                timeout=60_000)
            dash.wait_for_function(
                "() => /^[0-9.]+k? kb\\/s$/.test(document.getElementById('stat-bitrate')"
                ".textContent) && /fps$/.test(document.getElementById('stat-fps').textContent)",
                timeout=30_000)
            rows = dash.locator("#renditions tbody tr").all_inner_texts()
            assert rows[0].startswith("source") and "320\u00d7240" in rows[0], rows
            assert rows[1].startswith("144p") and "192\u00d7144" in rows[1], rows
            assert re.fullmatch(r"[0-9.]+ s", dash.locator("#stat-keyframe").inner_text())
            assert re.fullmatch(r"\d+:\d\d:\d\d", dash.locator("#uptime").inner_text())
            assert dash.locator("#chart-renditions path.series").count() == 2
            screenshot(dash, "dashboard-live")

            # stream info: a bad tag shows the API's message; a good save reaches the channel
            dash.fill("#title-input", "First title")
            dash.fill("#tags-input", "speedrun bad-tag!")
            dash.click("#info-save")
            dash.wait_for_function(
                "() => { const m = document.getElementById('info-message');"
                " return m.classList.contains('error') && /tag/i.test(m.textContent); }",
                timeout=30_000)
            title = f"Dashboard title {secrets.token_hex(3)}"
            dash.fill("#title-input", title)
            dash.fill("#tags-input", "speedrun, English")
            dash.fill("#category-input", "just chat")
            dash.locator("#category-results button", has_text="Just Chatting").click(
                timeout=30_000)
            assert dash.locator("#category-current").inner_text() == "Category: Just Chatting"
            dash.click("#info-save")
            dash.wait_for_function(
                "() => document.getElementById('info-message').classList.contains('ok')",
                timeout=30_000)
            watch.wait_for_function(
                f"() => document.getElementById('title').textContent.trim() === {title!r}",
                timeout=30_000)
            assert watch.evaluate("() => window.__noReload") == "still here"
            state = node.state(login)
            assert state["title"] == title and state["game_name"] == "Just Chatting"
            assert state["tags"] == ["speedrun", "English"]

            # key reset with a confirm step: a new key shown, Helix agrees, RTMP refuses the old
            dash.click("#key-reset")
            assert dash.locator("#key-reset-confirm").is_visible()
            dash.click("#key-reset-no")
            assert not dash.locator("#key-reset-confirm").is_visible()
            dash.click("#key-show")
            dash.wait_for_function(
                f"() => document.getElementById('stream-key').value === {copied!r}",
                timeout=30_000)
            dash.click("#key-reset")
            dash.click("#key-reset-yes")
            dash.wait_for_function(
                "() => /New stream key/.test(document.getElementById('key-message').textContent)",
                timeout=30_000)
            fresh = dash.input_value("#stream-key")
            assert fresh != copied and len(fresh) >= 20
            from_api = dash.evaluate(
                "async (id) => (await StreamHub.helix('GET', '/streams/key',"
                " {broadcaster_id: id})).data[0].stream_key",
                dash.locator("#dashboard").get_attribute("data-broadcaster-id"))
            assert from_api == fresh
            old = Publisher(node.rtmp_url(copied), size="160x120", rate=5, gop=5, seconds=10)
            code, _ = old.wait(60)
            assert code != 0
            assert "unknown or revoked key" in node.log()
            audience.close()
        finally:
            pub.stop()
        studio.close()
