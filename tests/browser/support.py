"""Shared parts of the browser tests: Debian Chromium via Playwright, screenshots as
artifacts, and signing up / logging in through the real pages."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = os.environ.get("STREAMHUB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
ARTIFACTS = Path(os.environ.get("STREAMHUB_ARTIFACTS", "artifacts"))
PASSWORD = "correct horse battery staple"
# Average brightness of a 64x36 sample of the current frame (0 = black).
SAMPLE_JS = """() => {
  const v = document.getElementById('video');
  const c = document.createElement('canvas'); c.width = 64; c.height = 36;
  const g = c.getContext('2d'); g.drawImage(v, 0, 0, 64, 36);
  const d = g.getImageData(0, 0, 64, 36).data; let sum = 0, lit = 0;
  for (let i = 0; i < d.length; i += 4) {
    const y = (d[i] + d[i+1] + d[i+2]) / 3; sum += y; if (y > 16) lit++;
  }
  return {mean: sum / (d.length / 4), lit: lit / (d.length / 4)};
}"""


def require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Debian Chromium, closed afterwards."""
    from playwright.sync_api import sync_playwright

    require_chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Page, name: str) -> Path:
    """Save the page as artifacts/screenshots/<name>.png (CI keeps the folder)."""
    if not re.fullmatch(r"[a-z0-9_-]{1,60}", name):
        raise ValueError(f"bad screenshot name {name!r}")
    folder = ARTIFACTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def sign_up(page: Page, base_url: str, login: str, password: str = PASSWORD) -> None:
    """Create an account through /signup; the page ends logged in."""
    page.goto(f"{base_url}/signup")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", password)
    confirm = page.locator("input[name=password_confirm]")
    if confirm.count():
        confirm.fill(password)
    page.click("main form button[type=submit]")
    page.wait_for_selector(f'meta[name="streamhub-viewer"][content="{login}"]', state="attached",
                           timeout=30_000)


def log_in(page: Page, base_url: str, login: str, password: str = PASSWORD) -> None:
    """Log in through /login; the page ends logged in."""
    page.goto(f"{base_url}/login")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", password)
    page.click("main form button[type=submit]")
    page.wait_for_selector(f'meta[name="streamhub-viewer"][content="{login}"]', state="attached",
                           timeout=30_000)
