"""Debian Chromium (Playwright): the broadcaster customizes the channel from Dashboard >
Customize (images, accent color, bio, panels, links, emotes, schedule) and the API, the image
URLs and chat reflect every change."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.browser.creator_support import ChatLoop, chat_loop, create_account, start_node
from tests.browser.support import chromium, log_in, screenshot
from tests.system.harness import NodeProcess

if TYPE_CHECKING:
    from playwright.sync_api import FilePayload

pytestmark = pytest.mark.browser

OWNER, CHATTER = "custowner", "custfan"
WAIT = 30_000
BROWSER_ZONE = "America/New_York"
XSS_TITLE = "<script>window.pwned = 1</script><img src=x onerror=alert(1)>"


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real RGB PNG of one color (zlib-compressed scanlines, CRC-checked chunks)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    row = b"\x00" + bytes(rgb) * width
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b""))


def upload(name: str, data: bytes) -> FilePayload:
    return {"name": name, "mimeType": "image/png", "buffer": data}


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    n = start_node(tmp_path_factory.mktemp("customize-node"))
    yield n
    n.stop()


@pytest.fixture
def chat() -> Iterator[ChatLoop]:
    yield from chat_loop()


class Helix:
    def __init__(self, node: NodeProcess, token: str) -> None:
        self.http = httpx.Client(base_url=node.base_url, timeout=30, headers={
            "Authorization": f"Bearer {token}", "Client-Id": "tests"})

    def get(self, path: str, **params: str) -> Any:
        r = self.http.get(f"/helix{path}", params=params)
        assert r.status_code == 200, r.text
        return r.json()


def test_customize_tab_changes_the_channel(node: NodeProcess, chat: ChatLoop) -> None:
    owner = create_account(node, OWNER)
    node.create_user(CHATTER)
    uid = str(owner["id"])
    api = Helix(node, node.token(OWNER))
    avatar, banner, emote = png(64, 64, (200, 40, 160)), png(600, 150, (30, 90, 200)), png(
        56, 56, (250, 200, 0))

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1100},
                                timezone_id=BROWSER_ZONE)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        log_in(page, node.base_url, OWNER)
        page.goto(f"{node.base_url}/dashboard/customize")
        assert page.locator(".tabs a.active").inner_text() == "Customize"
        page.wait_for_selector("#dashboard[data-ready='1']", state="attached", timeout=WAIT)

        # profile image and banner: the API serves the new images
        page.set_input_files("#profile-file", files=upload("me.png", avatar))
        page.click("#profile-upload")
        page.wait_for_selector("#images-status.ok >> text=Profile image updated", timeout=WAIT)
        page.set_input_files("#banner-file", files=upload("banner.png", banner))
        page.click("#banner-upload")
        page.wait_for_selector("#images-status.ok >> text=Banner updated", timeout=WAIT)
        user = api.get("/users", id=uid)["data"][0]
        for url, data in ((user["profile_image_url"], avatar), (user["offline_image_url"], banner)):
            assert url.startswith(node.base_url + "/images/"), url
            got = httpx.get(url, timeout=30)
            assert got.status_code == 200 and got.content == data
            assert got.headers["content-type"] == "image/png"
        page.wait_for_function(
            "() => document.getElementById('profile-preview').naturalWidth === 64"
            " && document.getElementById('banner-preview').naturalWidth === 600", timeout=WAIT)
        # a file that is no image: the API's message is shown
        page.set_input_files("#profile-file", files=upload("notes.png", b"just some text"))
        page.click("#profile-upload")
        page.wait_for_selector("#images-status.error >> text=not a PNG", timeout=WAIT)

        # accent color and bio
        page.fill("#accent-color", "#ff8800")
        page.click("#accent-save")
        page.wait_for_selector("#accent-status.ok", timeout=WAIT)
        assert api.get("/channels", broadcaster_id=uid)["data"][0]["accent_color"].lower() == (
            "#ff8800")
        page.fill("#bio", "Speedruns & <b>chill</b>")
        page.click("#bio-save")
        page.wait_for_selector("#bio-status.ok", timeout=WAIT)
        assert api.get("/users", id=uid)["data"][0]["description"] == "Speedruns & <b>chill</b>"

        # two panels, then reorder; a bad link shows the API's error
        page.click("#panel-add")
        first = page.locator("#panels-list li.editor-row").nth(0)
        first.locator("[name=title]").fill(XSS_TITLE)
        first.locator("[name=body]").fill("line one\nline two")
        page.click("#panel-add")
        second = page.locator("#panels-list li.editor-row").nth(1)
        second.locator("[name=title]").fill("Rules")
        second.locator("[name=link_url]").fill("ftp://example.com/rules")
        page.click("#panels-save")
        page.wait_for_selector("#panels-status.error", timeout=WAIT)
        second.locator("[name=link_url]").fill("https://example.com/rules")
        page.click("#panels-save")
        page.wait_for_selector("#panels-status.ok", timeout=WAIT)
        saved = api.get("/channels/panels", broadcaster_id=uid)["data"]
        assert [p["title"] for p in saved] == [XSS_TITLE, "Rules"]
        page.locator("#panels-list li.editor-row").nth(0).locator("button.move-down").click()
        page.click("#panels-save")
        page.wait_for_function("() => document.querySelectorAll('#panels-preview .panel-title')"
                               "[0].textContent === 'Rules'", timeout=WAIT)
        saved = api.get("/channels/panels", broadcaster_id=uid)["data"]
        assert [p["title"] for p in saved] == ["Rules", XSS_TITLE]
        assert saved[1]["body"] == "line one\nline two"
        assert page.locator("#panels-preview .panel-title").nth(1).inner_text() == XSS_TITLE
        assert page.locator("#panels-preview script, #panels-preview img").count() == 0
        assert page.evaluate("() => window.pwned") is None

        # an image on the first panel: uploaded at once, kept by "Save panels"
        art = png(320, 120, (0, 160, 90))
        page.locator("#panels-list li.editor-row").nth(0).locator(".panel-image-file") \
            .set_input_files(files=upload("panel.png", art))
        page.wait_for_selector("#panels-status.ok >> text=Image uploaded", timeout=WAIT)
        page.locator("#panels-list li.editor-row").nth(0).locator(
            "img.panel-image-preview").wait_for(timeout=WAIT)
        page.click("#panels-save")
        page.wait_for_selector("#panels-status.ok >> text=Panels saved", timeout=WAIT)
        page.wait_for_function("() => { const i = document.querySelector('#panels-preview img');"
                               " return i && i.complete && i.naturalWidth === 320; }",
                               timeout=WAIT)
        saved = api.get("/channels/panels", broadcaster_id=uid)["data"]
        assert saved[0]["title"] == "Rules" and saved[1]["image_url"] == ""
        assert httpx.get(saved[0]["image_url"], timeout=30).content == art
        channel_page = browser.new_page()  # viewers see the panel's image
        channel_page.goto(f"{node.base_url}/{OWNER}")
        channel_page.wait_for_function(
            "() => { const i = document.querySelector('.panel img.panel-image');"
            " return i && i.complete && i.naturalWidth === 320; }", timeout=WAIT)
        channel_page.close()

        # a social link
        page.click("#link-add")
        row = page.locator("#links-list li.editor-row").nth(0)
        row.locator("[name=title]").fill("Website")
        row.locator("[name=url]").fill("https://example.org/")
        page.click("#links-save")
        page.wait_for_selector("#links-status.ok", timeout=WAIT)
        links = api.get("/channels/social_links", broadcaster_id=uid)["data"]
        assert [(x["title"], x["url"]) for x in links] == [("Website", "https://example.org/")]

        # an emote: listed with an image that loads, and usable in chat
        page.fill("#emote-code", "custHype")
        page.set_input_files("#emote-file", files=upload("hype.png", emote))
        page.click("#emote-upload")
        page.wait_for_selector("#emote-status.ok", timeout=WAIT)
        img = page.locator('#emotes-list li[data-code="custHype"] img')
        img.wait_for(timeout=WAIT)
        page.wait_for_function("() => { const i = document.querySelector("
                               "'#emotes-list li[data-code=\"custHype\"] img');"
                               " return i && i.complete && i.naturalWidth === 56; }", timeout=WAIT)
        emotes = httpx.get(f"{node.base_url}/api/chat/emotes/{OWNER}", timeout=30).json()["data"]
        (listed,) = [e for e in emotes if e["name"] == "custHype"]
        watcher = chat.connect(node, None, None, OWNER)
        fan = chat.connect(node, CHATTER, node.token(CHATTER, "chat:read", "chat:edit"), OWNER)
        chat.send(fan, f"PRIVMSG #{OWNER} :custHype let's go")
        said = chat.expect(watcher, lambda m: m.command == "PRIVMSG", "PRIVMSG with the emote")
        assert said.tags["emotes"] == f"{listed['id']}:0-7"

        # a weekly schedule segment, then one occurrence canceled
        start = (datetime.now(UTC) + timedelta(days=3)).astimezone(ZoneInfo("Europe/Berlin"))
        wall = start.replace(hour=20, minute=0, second=0, microsecond=0)
        page.fill("#seg-start", wall.strftime("%Y-%m-%dT%H:%M"))
        page.fill("#seg-tz", "Europe/Berlin")
        page.fill("#seg-duration", "90")
        page.fill("#seg-title", "Weekly show")
        page.fill("#seg-category", "Just Chatting")
        page.check("#seg-recurring")
        page.click("#seg-save")
        page.wait_for_selector("#seg-status.ok", timeout=WAIT)
        rows = page.locator("#schedule tbody tr")
        rows.nth(2).wait_for(timeout=WAIT)
        sched = api.get("/schedule", broadcaster_id=uid)["data"]["segments"]
        assert sched[0]["start_time"] == wall.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert sched[0]["title"] == "Weekly show" and sched[0]["is_recurring"] is True
        assert sched[0]["category"]["name"] == "Just Chatting"
        second_id = sched[1]["id"]
        page.locator(f'#schedule tr[data-id="{second_id}"] button.cancel-one').click()
        page.wait_for_selector(f'#schedule tr.canceled[data-id="{second_id}"]', timeout=WAIT)
        sched = api.get("/schedule", broadcaster_id=uid)["data"]["segments"]
        canceled = {s["id"]: s["canceled_until"] for s in sched}
        assert canceled[second_id] is not None
        assert canceled[sched[0]["id"]] is None and canceled[sched[2]["id"]] is None
        assert page.locator("#schedule tr.canceled").count() == 1

        # edit the title: the canceled occurrence stays canceled
        page.locator(f'#schedule tr[data-id="{sched[0]["id"]}"] button.edit').click()
        assert page.input_value("#seg-title") == "Weekly show"
        page.fill("#seg-title", "Weekly show v2")
        page.click("#seg-save")
        page.wait_for_selector("#seg-status.ok >> text=updated", timeout=WAIT)
        page.wait_for_selector('#schedule tr[data-title="Weekly show v2"]', timeout=WAIT)
        sched = api.get("/schedule", broadcaster_id=uid)["data"]["segments"]
        assert {s["title"] for s in sched} == {"Weekly show v2"}
        assert [s["id"] for s in sched if s["canceled_until"]] == [second_id]

        # a vacation over the third occurrence leaves it out, in the browser's time zone
        third = datetime.fromisoformat(sched[2]["start_time"].replace("Z", "+00:00"))
        local = ZoneInfo(BROWSER_ZONE)
        vac_start, vac_end = third - timedelta(hours=2), third + timedelta(hours=3)
        page.fill("#vac-start", vac_start.astimezone(local).strftime("%Y-%m-%dT%H:%M"))
        page.fill("#vac-end", vac_end.astimezone(local).strftime("%Y-%m-%dT%H:%M"))
        page.click("#vac-save")
        page.wait_for_selector("#vac-status.ok", timeout=WAIT)
        page.wait_for_function("() => /On vacation/.test("
                               "document.getElementById('vac-state').textContent)", timeout=WAIT)
        data = api.get("/schedule", broadcaster_id=uid)["data"]
        assert data["vacation"]["start_time"] == vac_start.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert sched[2]["id"] not in {s["id"] for s in data["segments"]}
        page.set_viewport_size({"width": 1400, "height": 2000})
        page.evaluate("() => window.scrollTo(0, 0)")
        screenshot(page, "dashboard-customize")
        page.click("#vac-clear")
        page.wait_for_function("() => /No vacation/.test("
                               "document.getElementById('vac-state').textContent)", timeout=WAIT)
        assert api.get("/schedule", broadcaster_id=uid)["data"]["vacation"] is None

        assert errors == []


def test_customize_tab_needs_login(node: NodeProcess) -> None:
    r = httpx.get(f"{node.base_url}/dashboard/customize", follow_redirects=False, timeout=30)
    assert r.status_code in (302, 303) and "/login" in r.headers["location"]
