"""Debian Chromium (Playwright): the broadcaster moderates from Dashboard > Moderation, and real
IRC clients see every action take effect in chat (CLEARCHAT, CLEARMSG, ROOMSTATE, refusals)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.browser.creator_support import (
    ChatLoop,
    chat_loop,
    create_account,
    is_cmd,
    notice,
    privmsg,
    start_node,
)
from tests.browser.support import chromium, log_in, screenshot
from tests.system.harness import NodeProcess

pytestmark = pytest.mark.browser

OWNER, CHATTER, HELPER, FRIEND = "modowner", "chatty", "helperbee", "vipfriend"
WAIT = 30_000


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    n = start_node(tmp_path_factory.mktemp("moderation-node"))
    yield n
    n.stop()


@pytest.fixture
def chat() -> Iterator[ChatLoop]:
    yield from chat_loop()


def helix(node: NodeProcess, token: str, path: str, **params: str) -> dict[str, Any]:
    r = httpx.get(f"{node.base_url}/helix{path}", params=params, timeout=30,
                  headers={"Authorization": f"Bearer {token}", "Client-Id": "tests"})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_moderation_tab_acts_in_chat(node: NodeProcess, chat: ChatLoop) -> None:
    owner = create_account(node, OWNER)
    chatter = create_account(node, CHATTER)
    for login in (HELPER, FRIEND):
        node.create_user(login)
    chatter_token = node.token(CHATTER, "chat:read", "chat:edit")
    watcher = chat.connect(node, None, None, OWNER)
    talker = chat.connect(node, CHATTER, chatter_token, OWNER)

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        log_in(page, node.base_url, OWNER)
        page.goto(f"{node.base_url}/dashboard/moderation")
        assert page.locator(".tabs a.active").inner_text() == "Moderation"
        page.wait_for_function(
            "() => document.getElementById('chat-conn').dataset.state === 'live'", timeout=WAIT)
        page.wait_for_function("() => /No room modes/.test("
                               "document.getElementById('modes-state').textContent)", timeout=WAIT)

        # the chatter's message shows in the live view
        chat.send(talker, f"PRIVMSG #{OWNER} :hello streamer")
        line = page.locator("#chat-view li.chat-line", has_text="hello streamer")
        line.wait_for(timeout=WAIT)
        assert line.get_attribute("data-login") == CHATTER

        # timeout with a custom duration and a reason
        page.fill("#mod-user", CHATTER)
        page.select_option("#mod-duration", "custom")
        page.fill("#mod-custom", "90")
        page.fill("#mod-reason", "calm down")
        page.click("#mod-timeout")
        page.wait_for_selector("#mod-status.ok >> text=timed out for 90 s", timeout=WAIT)
        clear = chat.expect(watcher, is_cmd("CLEARCHAT", f"#{OWNER}", CHATTER), "CLEARCHAT")
        assert clear.tags["ban-duration"] == "90"
        assert clear.tags["target-user-id"] == str(chatter["id"])
        chat.send(talker, f"PRIVMSG #{OWNER} :am I muted")
        refused = chat.expect(talker, notice("msg_timedout"), "timeout notice")
        assert "timed out" in refused.params[-1]
        row = page.locator("#banned tbody tr", has_text=CHATTER)
        row.wait_for(timeout=WAIT)
        assert "calm down" in row.inner_text()
        assert page.locator("#chat-view li.chat-line.gone", has_text="hello streamer").count() == 1

        # unban from the list
        row.locator("button.unban").click()
        page.wait_for_selector("#mod-status.ok >> text=is unbanned", timeout=WAIT)
        page.wait_for_selector("#banned-empty:not(.hidden)", timeout=WAIT)
        chat.send(talker, f"PRIVMSG #{OWNER} :free again")
        chat.expect(watcher, privmsg(CHATTER, "free again"), "PRIVMSG after unban")

        # delete one message from the live view
        chat.send(talker, f"PRIVMSG #{OWNER} :delete me please")
        msg = chat.expect(watcher, privmsg(CHATTER, "delete me please"), "PRIVMSG to delete")
        target = page.locator(f'#chat-view li[data-id="{msg.tags["id"]}"]')
        target.wait_for(timeout=WAIT)
        target.hover()
        target.locator("button.act-delete").click()
        cleared = chat.expect(watcher, is_cmd("CLEARMSG", f"#{OWNER}"), "CLEARMSG")
        assert cleared.tags["target-msg-id"] == msg.tags["id"]
        page.wait_for_selector(f'#chat-view li.gone[data-id="{msg.tags["id"]}"]', timeout=WAIT)

        # slow mode (10 s) and emote-only
        page.check("#mode-slow")
        page.fill("#mode-slow-seconds", "10")
        page.check("#mode-emote")
        page.click("#modes-save")
        page.wait_for_selector("#modes-status.ok", timeout=WAIT)
        slow = chat.expect(watcher, lambda m: m.command == "ROOMSTATE"
                           and m.tags.get("slow") == "10", "ROOMSTATE slow=10")
        if slow.tags.get("emote-only") != "1":  # one ROOMSTATE per changed mode
            chat.expect(watcher, lambda m: m.command == "ROOMSTATE"
                        and m.tags.get("emote-only") == "1", "ROOMSTATE emote-only=1")
        state = page.locator("#modes-state").inner_text()
        assert "Slow mode (10 s)" in state and "Emote-only" in state
        page.reload()
        page.wait_for_function("() => /Emote-only/.test("
                               "document.getElementById('modes-state').textContent)", timeout=WAIT)
        assert page.is_checked("#mode-slow") and page.is_checked("#mode-emote")
        page.wait_for_function(
            "() => document.getElementById('chat-conn').dataset.state === 'live'", timeout=WAIT)
        # the history came back with the page (the deleted message is left out)
        page.locator("#chat-view li.chat-line", has_text="free again").wait_for(timeout=WAIT)
        assert page.locator("#chat-view li", has_text="delete me please").count() == 0
        chat.send(talker, f"PRIVMSG #{OWNER} :plain words")
        chat.expect(talker, notice("msg_emoteonly"), "emote-only refusal")
        page.uncheck("#mode-slow")
        page.uncheck("#mode-emote")
        page.click("#modes-save")
        page.wait_for_function("() => /No room modes/.test("
                               "document.getElementById('modes-state').textContent)", timeout=WAIT)
        chat.expect(watcher, lambda m: m.command == "ROOMSTATE" and m.tags.get("emote-only") == "0",
                    "ROOMSTATE emote-only=0")

        # a blocked term refuses messages until it is removed
        page.fill("#term-text", "frobnicate")
        page.click("#terms-form button[type=submit]")
        term = page.locator('#terms-list li[data-term="frobnicate"]')
        term.wait_for(timeout=WAIT)
        chat.send(talker, f"PRIVMSG #{OWNER} :lets frobnicate now")
        chat.expect(talker, notice("msg_rejected_mandatory"), "blocked-term refusal")
        term.locator("button.remove").click()
        page.wait_for_selector('#terms-list li[data-term="frobnicate"]', state="detached",
                               timeout=WAIT)
        chat.send(talker, f"PRIVMSG #{OWNER} :frobnicate is fine again")
        chat.expect(watcher, privmsg(CHATTER, "frobnicate is fine again"), "allowed again")

        # permanent ban from the form
        page.fill("#mod-user", CHATTER)
        page.fill("#mod-reason", "spam bot")
        page.click("#mod-ban")
        page.wait_for_selector("#mod-status.ok >> text=is banned", timeout=WAIT)
        ban = chat.expect(watcher, is_cmd("CLEARCHAT", f"#{OWNER}", CHATTER), "CLEARCHAT ban")
        assert "ban-duration" not in ban.tags
        chat.send(talker, f"PRIVMSG #{OWNER} :still here")
        chat.expect(talker, notice("msg_banned"), "banned refusal")
        banned_row = page.locator("#banned tbody tr", has_text=CHATTER)
        banned_row.wait_for(timeout=WAIT)
        assert "permanent" in banned_row.inner_text()

        # a moderator and a VIP
        page.fill("#mods-login", HELPER)
        page.click("#mods-form button[type=submit]")
        page.locator(f'#mods-list li[data-login="{HELPER}"]').wait_for(timeout=WAIT)
        page.fill("#vips-login", FRIEND)
        page.click("#vips-form button[type=submit]")
        page.locator(f'#vips-list li[data-login="{FRIEND}"]').wait_for(timeout=WAIT)
        page.fill("#vips-login", "nobody_here")
        page.click("#vips-form button[type=submit]")
        page.wait_for_selector("#roles-status.error >> text=No user named nobody_here",
                               timeout=WAIT)
        token = node.token(OWNER, "moderation:read", "channel:read:vips")
        mods = helix(node, token, "/moderation/moderators", broadcaster_id=str(owner["id"]))
        vips = helix(node, token, "/channels/vips", broadcaster_id=str(owner["id"]))
        assert [m["user_login"] for m in mods["data"]] == [HELPER]
        assert [v["user_login"] for v in vips["data"]] == [FRIEND]

        # the moderation log: who, what, why
        page.click("#log-refresh")
        page.wait_for_selector('#modlog tr[data-action="add_vip"]', timeout=WAIT)
        rows = page.locator("#modlog tbody tr")
        actions = [rows.nth(i).get_attribute("data-action") for i in range(rows.count())]
        for wanted in ("timeout", "unban", "delete_message", "modes", "add_blocked_term",
                       "remove_blocked_term", "ban", "add_moderator", "add_vip"):
            assert wanted in actions, (wanted, actions)
        timeout_row = page.locator('#modlog tr[data-action="timeout"]')
        assert timeout_row.locator(".log-mod").inner_text() == OWNER
        assert timeout_row.locator(".log-user").inner_text() == CHATTER
        assert timeout_row.locator(".log-details").inner_text() == "calm down"
        assert page.locator('#modlog tr[data-action="ban"] .log-details').inner_text() == "spam bot"
        modes = page.locator('#modlog tr[data-action="modes"] .log-details')
        assert modes.nth(1).inner_text() in ("emote-only on, slow mode 10 s",
                                             "slow mode 10 s, emote-only on")
        assert re.search(r"slow mode off", modes.nth(0).inner_text())
        page.evaluate("() => window.scrollTo(0, 0)")
        screenshot(page, "dashboard-moderation")
        assert errors == []


def test_a_moderator_moderates_another_channel(node: NodeProcess) -> None:
    chan = create_account(node, "chanb")
    mod = create_account(node, "modb")
    create_account(node, "strangerb")
    target = node.create_user("chattyb")
    owner_token = node.token("chanb", "channel:manage:moderators", "moderation:read")
    r = httpx.post(f"{node.base_url}/helix/moderation/moderators", timeout=30,
                   params={"broadcaster_id": str(chan["id"]), "user_id": str(mod["id"])},
                   headers={"Authorization": f"Bearer {owner_token}", "Client-Id": "tests"})
    assert r.status_code == 204, r.text

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        log_in(page, node.base_url, "modb")
        page.goto(f"{node.base_url}/dashboard/moderation")
        page.click(".mod-channels a:has-text('chanb')")
        page.wait_for_url("**/dashboard/moderation?channel=chanb", timeout=WAIT)
        assert "chanb" in page.locator("#moderating-other").inner_text()
        assert page.locator("#mods-form").count() == 0  # moderators/VIPs: broadcaster only
        page.wait_for_function(
            "() => document.getElementById('chat-conn').dataset.state === 'live'", timeout=WAIT)
        page.fill("#mod-user", "chattyb")
        page.fill("#mod-reason", "mod at work")
        page.click("#mod-timeout")
        page.wait_for_selector("#mod-status.ok >> text=timed out for 10 min", timeout=WAIT)
        page.wait_for_selector('#modlog tr[data-action="timeout"]', timeout=WAIT)
        banned = helix(node, owner_token, "/moderation/banned", broadcaster_id=str(chan["id"]))
        (entry,) = banned["data"]
        assert entry["user_id"] == str(target["id"]) and entry["moderator_login"] == "modb"
        assert entry["reason"] == "mod at work"

        other = browser.new_page()
        log_in(other, node.base_url, "strangerb")
        answer = other.goto(f"{node.base_url}/dashboard/moderation?channel=chanb")
        assert answer is not None and answer.status == 403
        assert "not a moderator" in other.locator("main").inner_text()
        missing = other.goto(f"{node.base_url}/dashboard/moderation?channel=nobody_at_all")
        assert missing is not None and missing.status == 404


def test_moderation_tab_needs_login(node: NodeProcess) -> None:
    r = httpx.get(f"{node.base_url}/dashboard/moderation", follow_redirects=False, timeout=30)
    assert r.status_code in (302, 303) and "/login" in r.headers["location"]
