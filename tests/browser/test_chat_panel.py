"""Debian Chromium (Playwright): the channel page's chat panel, with the broadcaster (a
moderator of their own room) and a viewer in two browser contexts, and an anonymous reader."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from tests.browser.support import PASSWORD, chromium, log_in, require_chromium, screenshot
from tests.system.harness import NodeProcess

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

pytestmark = pytest.mark.browser

HOST = "chat_host"
VIEWER = "chat_viewer"
WAIT = 30_000


@dataclass
class Room:
    node: NodeProcess
    browser: Browser
    host: Page
    viewer: Page
    dialogs: list[str]


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Room]:
    require_chromium()
    node = NodeProcess(tmp_path_factory.mktemp("chat-panel"), transcode_mode="source_only")
    try:
        for login in (HOST, VIEWER):
            node.cli("user", "create", login, "--password", PASSWORD)
        with chromium() as browser:
            dialogs: list[str] = []
            pages = []
            for login in (HOST, VIEWER):
                page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
                page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
                log_in(page, node.base_url, login)
                page.goto(f"{node.base_url}/{HOST}")
                joined(page)
                pages.append(page)
            yield Room(node, browser, pages[0], pages[1], dialogs)
    finally:
        node.stop()


def joined(page: Page) -> None:
    """The chat panel is logged in and has joined the room (its input is enabled)."""
    page.wait_for_function("() => window.streamhubChat && window.streamhubChat.joined === true"
                           " && !document.getElementById('chat-input').disabled", timeout=WAIT)


def say(page: Page, text: str) -> None:
    page.fill("#chat-input", text)
    page.press("#chat-input", "Enter")


def line(page: Page, text: str) -> Locator:
    """The chat message whose body contains `text` (waits for exactly one)."""
    found = page.locator("#chat-log .chat-message", has=page.locator(".chat-body", has_text=text))
    found.first.wait_for(state="attached", timeout=WAIT)
    return found


def test_two_users_chat_with_colors_badges_and_emotes(room: Room) -> None:
    say(room.host, "hello from the host")
    seen = line(room.viewer, "hello from the host")
    assert seen.locator(".chat-name").inner_text() == HOST
    badge = seen.locator("img.badge[data-badge=broadcaster]")
    assert badge.count() == 1
    room.viewer.wait_for_function(
        "() => [...document.querySelectorAll('#chat-log img.badge')].some("
        "i => i.complete && i.naturalWidth > 0)", timeout=WAIT)
    color = seen.locator(".chat-name").evaluate("e => e.style.color")
    assert color.startswith("rgb"), color
    line(room.host, "hello from the host")  # the sender's own copy, after the server's ack

    say(room.viewer, "nice stream Kappa")
    got = line(room.host, "nice stream")
    assert got.locator(".chat-name").inner_text() == VIEWER
    assert got.locator(".chat-name").evaluate("e => e.style.color").startswith("rgb")
    emote = got.locator("img.emote")
    assert emote.get_attribute("alt") == "Kappa"
    room.host.wait_for_function(
        "() => [...document.querySelectorAll('#chat-log img.emote')].some("
        "i => i.complete && i.naturalWidth > 0)", timeout=WAIT)
    assert got.locator(".chat-body").text_content() == "nice stream "  # + the image
    assert line(room.viewer, "nice stream").locator("img.emote").count() == 1


def test_markup_in_a_message_is_text(room: Room) -> None:
    raw = "<script>alert(1)</script> <img src=x onerror=alert(1)>"
    say(room.viewer, raw)
    got = line(room.host, "alert(1)")
    assert got.locator(".chat-body").text_content() == raw
    assert got.locator("img").count() == 0 and got.locator("script").count() == 0
    mine = line(room.viewer, "alert(1)")
    assert mine.locator(".chat-body").text_content() == raw
    assert mine.locator("img").count() == 0
    assert room.dialogs == []


def test_me_and_reply(room: Room) -> None:
    say(room.host, "/me waves at everyone")
    action = line(room.viewer, "waves at everyone")
    assert "action" in (action.get_attribute("class") or "")
    assert action.locator(".chat-body").text_content() == "waves at everyone"
    assert action.locator(".chat-body").evaluate("e => getComputedStyle(e).fontStyle") == "italic"

    action.hover()
    action.locator(".chat-reply-btn").click()
    assert "Replying to @" in room.viewer.locator("#chat-reply-text").inner_text()
    say(room.viewer, "waving back")
    reply = line(room.host, "waving back")
    parent = reply.locator(".chat-reply-parent")
    assert parent.inner_text() == f"Replying to @{HOST}: waves at everyone"  # no \x01ACTION
    mine = line(room.viewer, "waving back")
    assert mine.locator(".chat-reply-parent").count() == 1
    screenshot(room.host, "chat-panel")


def test_moderator_deletes_one_message(room: Room) -> None:
    say(room.viewer, "please delete this one")
    say(room.viewer, "but keep this one")
    line(room.host, "but keep this one")
    target = line(room.host, "please delete this one")
    target.locator(".chat-name").click()
    card = room.host.locator("#chat-card")
    card.wait_for(state="visible", timeout=WAIT)
    assert card.locator("#chat-card-name").inner_text() == VIEWER
    card.locator("button[data-action=delete]").click()
    for page in (room.host, room.viewer):
        page.locator("#chat-log .chat-message", has_text="please delete this one").wait_for(
            state="detached", timeout=WAIT)
        assert line(page, "but keep this one").count() == 1


def test_slow_mode_banner_and_countdown(room: Room) -> None:
    say(room.host, "/slow 10")
    banner = room.viewer.locator("#chat-banners .chat-banner", has_text="Slow mode (10s)")
    banner.wait_for(state="visible", timeout=WAIT)
    # the viewer spoke less than 10 s ago: the server may refuse this one (NOTICE
    # msg_slowmode) or take it; either way the send button counts down afterwards
    say(room.viewer, "a slow message")
    room.viewer.wait_for_function(
        "() => /^Chat \\(\\d+s\\)$/.test(document.getElementById('chat-send').textContent)",
        timeout=WAIT)
    assert room.viewer.locator("#chat-send").is_disabled()
    screenshot(room.viewer, "chat-slow-mode")
    room.viewer.wait_for_function(
        "() => document.getElementById('chat-send').textContent === 'Chat'", timeout=WAIT)
    say(room.viewer, "slow but sure")
    line(room.host, "slow but sure")
    room.viewer.wait_for_function(
        "() => /^Chat \\(\\d+s\\)$/.test(document.getElementById('chat-send').textContent)",
        timeout=WAIT)
    say(room.host, "/slowoff")
    banner.wait_for(state="detached", timeout=WAIT)


def test_moderator_times_out_the_viewer(room: Room) -> None:
    room.viewer.wait_for_function(
        "() => document.getElementById('chat-send').textContent === 'Chat'", timeout=WAIT)
    say(room.viewer, "something rude")
    target = line(room.host, "something rude")
    line(room.viewer, "something rude")
    target.locator(".chat-name").click()
    room.host.locator("#chat-card button[data-action=timeout]").click()
    for page in (room.host, room.viewer):
        page.locator("#chat-log .chat-message", has_text="something rude").wait_for(
            state="detached", timeout=WAIT)
        page.locator("#chat-log .chat-system", has_text=f"{VIEWER} has been timed out").wait_for(
            timeout=WAIT)
    status = room.viewer.locator("#chat-status")
    room.viewer.wait_for_function(
        "() => /You are timed out for \\d+ more seconds\\./.test("
        "document.getElementById('chat-status').textContent)", timeout=WAIT)
    assert status.is_visible()
    assert room.viewer.locator("#chat-input").is_disabled()
    assert room.viewer.locator("#chat-send").is_disabled()
    screenshot(room.viewer, "chat-timed-out")
    # a second tab of the timed-out viewer: the server refuses its message with a NOTICE
    other = room.viewer.context.new_page()
    other.goto(f"{room.node.base_url}/{HOST}")
    joined(other)
    say(other, "am I still timed out")
    other.locator("#chat-log .chat-system.notice", has_text="You are timed out for").wait_for(
        timeout=WAIT)
    other.wait_for_function("() => document.getElementById('chat-input').disabled", timeout=WAIT)
    assert other.locator("#chat-log .chat-message", has_text="am I still timed out").count() == 0
    other.close()


def test_anonymous_reader(room: Room) -> None:
    page = room.browser.new_context().new_page()
    page.goto(f"{room.node.base_url}/{HOST}")
    page.wait_for_function("() => window.streamhubChat && window.streamhubChat.connected",
                           timeout=WAIT)
    # history from before the page was opened, then live messages
    line(page, "hello from the host")
    say(room.host, "for the lurkers")
    line(page, "for the lurkers")
    chat_input = page.locator("#chat-input")
    assert chat_input.is_disabled()
    assert chat_input.get_attribute("placeholder") == "Log in to chat"
    assert page.locator("#chat-send").is_disabled()
    assert page.locator(".chat-form a", has_text="Log in to chat").count() == 1
    page.context.close()


def test_scrolling_up_pauses_auto_scroll(room: Room) -> None:
    page = room.host
    for i in range(30):
        say(page, f"filler line {i}")
    line(page, "filler line 29")
    page.evaluate("() => { const l = document.getElementById('chat-log'); l.scrollTop = 0;"
                  " l.dispatchEvent(new Event('scroll')); }")
    say(room.host, "while scrolled up")
    line(page, "while scrolled up")
    more = page.locator("#chat-more")
    more.wait_for(state="visible", timeout=WAIT)
    assert page.evaluate("() => document.getElementById('chat-log').scrollTop") == 0
    more.click()
    page.wait_for_function("() => { const l = document.getElementById('chat-log');"
                           " return l.scrollHeight - l.scrollTop - l.clientHeight < 40; }",
                           timeout=WAIT)
    assert more.is_hidden()
