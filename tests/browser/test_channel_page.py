"""Debian Chromium (Playwright): the channel page `/<login>` offline (schedule, about, panels,
accent color), following and unfollowing, and live (playback, quality, theater mode, a title
changed through Helix showing without a reload)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.browser.creator_support import ChatLoop
from tests.browser.support import (
    PASSWORD,
    SAMPLE_JS,
    chromium,
    log_in,
    require_chromium,
    screenshot,
)
from tests.system.harness import NodeProcess, Publisher, wait_for

pytestmark = pytest.mark.browser

HOST = "page_host"
FAN = "page_fan"
WAIT = 30_000
ACCENT = "#E91E63"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    require_chromium()
    n = NodeProcess(tmp_path_factory.mktemp("channel-page"), transcode_mode="source_only")
    yield n
    n.stop()


def helix(node: NodeProcess, token: str, method: str, path: str, *,
          params: dict[str, Any] | None = None, body: Any = None) -> httpx.Response:
    r = httpx.request(method, f"{node.base_url}/helix{path}", params=params, json=body,
                      headers={"Authorization": f"Bearer {token}", "Client-Id": "page-test"},
                      timeout=30)
    assert r.status_code < 300, (path, r.status_code, r.text)
    return r


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A plain one-color PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def host(node: NodeProcess) -> dict[str, Any]:
    """The broadcaster, with a bio, accent color, panels, a social link and a schedule."""
    user = node.cli("user", "create", HOST, "--password", PASSWORD)
    node.cli("user", "create", FAN, "--password", PASSWORD)
    token = node.token(HOST, "user:edit", "channel:manage:broadcast", "channel:manage:schedule")
    bid = str(user["id"])
    helix(node, token, "PUT", "/users", params={"description": "I stream <b>code</b> & games."})
    for kind, image in (("profile_image", png(64, 64, (233, 30, 99))),
                        ("banner_image", png(320, 90, (40, 60, 120)))):
        r = httpx.put(f"{node.base_url}/helix/users/{kind}", content=image, timeout=30,
                      headers={"Authorization": f"Bearer {token}", "Client-Id": "page-test",
                               "Content-Type": "image/png"})
        assert r.status_code == 200, r.text
    helix(node, token, "PATCH", "/channels", params={"broadcaster_id": bid},
          body={"title": "Offline title", "accent_color": ACCENT, "tags": ["Python", "English"]})
    helix(node, token, "PUT", "/channels/panels", params={"broadcaster_id": bid}, body={"data": [
        {"title": "Rules", "body": "Be kind.\nNo <script>spam</script>.", "link_url": ""},
        {"title": "Setup", "body": "A laptop.", "link_url": "https://example.com/setup"},
    ]})
    helix(node, token, "PUT", "/channels/social_links", params={"broadcaster_id": bid},
          body={"data": [{"title": "Website", "url": "https://example.com/"}]})
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    helix(node, token, "POST", "/schedule/segment", params={"broadcaster_id": bid}, body={
        "start_time": start.isoformat().replace("+00:00", "Z"), "timezone": "UTC",
        "duration": "120", "is_recurring": True, "title": "Speedrun night"})
    return {**user, "token": token}


def test_offline_channel_shows_schedule_and_about(node: NodeProcess,
                                                  host: dict[str, Any]) -> None:
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{node.base_url}/{HOST}")
        page.wait_for_function("() => window.streamhubPlayer && window.streamhubChat"
                               " && window.streamhubChat.connected", timeout=WAIT)
        assert page.locator("#offline").is_visible()
        assert page.locator("#offline").inner_text().startswith(f"{HOST} is offline.")
        assert "Next stream:" in page.locator("#offline").inner_text()
        assert page.locator("#live-dot").inner_text() == "OFFLINE"
        assert page.locator("#player").get_attribute("data-master") == f"/hls/{HOST}/master.m3u8"
        items = page.locator("#schedule .schedule-item")
        assert items.count() >= 2  # weekly: the next two occurrences within 14 days
        assert "Speedrun night" in items.first.inner_text()
        assert page.locator("#title").inner_text() == "Offline title"
        assert page.locator("#tags .tag").all_inner_texts() == ["Python", "English"]
        assert page.locator(".bio").inner_text() == "I stream <b>code</b> & games."
        panels = page.locator(".panel")
        assert panels.count() == 2
        assert panels.first.locator(".panel-body").inner_text() == \
            "Be kind.\nNo <script>spam</script>."
        assert panels.nth(1).locator("a").get_attribute("href") == "https://example.com/setup"
        assert page.locator(".social-links a").get_attribute("href") == "https://example.com/"
        accent = page.evaluate(
            "() => getComputedStyle(document.documentElement).getPropertyValue('--accent').trim()")
        assert accent.upper() == ACCENT
        assert page.locator("#follow-login").count() == 1  # anonymous: a link to log in
        for image in ("img.channel-avatar", "img.offline-banner"):
            page.wait_for_function(
                f"() => {{ const i = document.querySelector('{image}');"
                " return i && i.complete && i.naturalWidth > 0; }", timeout=WAIT)
        screenshot(page, "channel-offline")


def test_follow_and_unfollow(node: NodeProcess, host: dict[str, Any]) -> None:
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        log_in(page, node.base_url, FAN)
        page.goto(f"{node.base_url}/{HOST}")
        button, count = page.locator("#follow"), page.locator("#followers")
        assert button.inner_text() == "Follow" and count.inner_text() == "0 followers"
        button.click()
        page.wait_for_function("() => document.getElementById('follow').textContent === "
                               "'Unfollow'", timeout=WAIT)
        assert count.inner_text() == "1 follower"
        token = node.token(FAN, "user:read:follows")
        got = helix(node, token, "GET", "/channels/followers",
                    params={"broadcaster_id": str(host["id"])}).json()
        assert got["total"] == 1
        page.reload()
        assert page.locator("#follow").inner_text() == "Unfollow"
        page.locator("#follow").click()
        page.wait_for_function("() => document.getElementById('follow').textContent === "
                               "'Follow'", timeout=WAIT)
        assert page.locator("#followers").inner_text() == "0 followers"
        got = helix(node, token, "GET", "/channels/followers",
                    params={"broadcaster_id": str(host["id"])}).json()
        assert got["total"] == 0


def test_live_channel_plays_with_controls(node: NodeProcess, host: dict[str, Any]) -> None:
    pub = Publisher(node.rtmp_url(host["stream_key"]), seconds=300, size="320x240", rate=15,
                    gop=15)
    try:
        node.wait_live(HOST)
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{node.base_url}/{HOST}")
            page.wait_for_function(
                "() => { const v = document.getElementById('video');"
                " return v.videoWidth > 0 && v.currentTime > 1; }", timeout=90_000)
            t0 = page.evaluate("() => document.getElementById('video').currentTime")
            page.wait_for_function(
                f"() => document.getElementById('video').currentTime > {t0 + 2}", timeout=60_000)
            sample = page.evaluate(SAMPLE_JS)
            assert sample["mean"] > 20 and sample["lit"] > 0.5, sample
            assert page.locator("#live-dot").inner_text() == "LIVE"
            assert page.locator("#offline").is_hidden()
            latency = wait_for(lambda: page.evaluate("() => window.streamhubPlayer.latency"),
                               timeout=30, what="latency readout")
            assert 0 < latency < 30
            assert page.locator("#latency").inner_text().endswith(" s")
            options = page.locator("#quality option").all_inner_texts()
            assert options[0] == "Auto" and len(options) == 2, options  # source_only
            assert options[1].startswith("240p")
            page.wait_for_function("() => /^\\d+:\\d\\d$/.test("
                                   "document.getElementById('uptime').textContent)",
                                   timeout=WAIT)
            page.wait_for_function("() => /^\\d+ viewers?$/.test("
                                   "document.getElementById('viewers').textContent)"
                                   " && !document.getElementById('viewers').textContent"
                                   ".startsWith('0')", timeout=WAIT)
            # play/pause and mute
            page.click("#play")
            # video.paused flips at once, the button follows on the queued "pause" event
            page.wait_for_function("() => document.getElementById('video').paused"
                                   " && document.getElementById('play').textContent === 'Play'",
                                   timeout=WAIT)
            page.click("#play")
            page.wait_for_function("() => !document.getElementById('video').paused",
                                   timeout=WAIT)
            page.click("#unmute")
            assert page.evaluate("() => document.getElementById('video').muted") is False
            assert page.locator("#unmute").inner_text() == "Mute"
            # chatters talking (real IRC clients) arrive in the panel as the video plays
            chat = ChatLoop()
            try:
                node.create_user("live_fan")
                fan = chat.connect(node, "live_fan", node.token("live_fan", "chat:read",
                                                                "chat:edit"), HOST)
                for text in ("first time here, hi!", "that latency is unreal Kappa",
                             "GG"):
                    chat.send(fan, f"PRIVMSG #{HOST} :{text}")
                page.wait_for_function(
                    "() => document.querySelectorAll('#chat .chat-message').length >= 3",
                    timeout=WAIT)
                assert page.locator("#chat .chat-message img").count() >= 1  # Kappa
            finally:
                chat.close()
            screenshot(page, "channel-live")

            # a title and category set through Helix show without a reload
            game = helix(node, host["token"], "GET", "/games",
                         params={"name": "Just Chatting"}).json()["data"][0]
            helix(node, host["token"], "PATCH", "/channels",
                  params={"broadcaster_id": str(host["id"])},
                  body={"title": "Now live: <i>speedrun</i>", "game_id": game["id"]})
            page.wait_for_function("() => document.getElementById('title').textContent === "
                                   "'Now live: <i>speedrun</i>'", timeout=WAIT)
            page.wait_for_function("() => document.getElementById('category').textContent === "
                                   "'Just Chatting'", timeout=WAIT)
            assert page.locator("#category").get_attribute("href") == \
                f"/directory/category/{game['id']}"

            # theater mode: the player takes the page width beside the chat, and back
            normal = page.locator("#player").bounding_box()
            page.click("#theater")
            assert "theater" in (page.locator("#channel-layout").get_attribute("class") or "")
            assert page.locator("#theater").get_attribute("aria-pressed") == "true"
            wide = page.locator("#player").bounding_box()
            assert normal is not None and wide is not None
            assert wide["height"] > normal["height"]
            assert page.locator("#chat").is_visible()
            screenshot(page, "theater")
            page.click("#theater")
            assert "theater" not in (page.locator("#channel-layout").get_attribute("class") or "")
    finally:
        pub.stop()
