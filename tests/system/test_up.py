"""`streamhub up` on first start creates the demo user and prints key, RTMP URL and watch URL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.api.webclient import Browser
from tests.system.harness import NodeProcess

pytestmark = pytest.mark.system


def _printed(node: NodeProcess) -> str:
    return "".join(node.stdout_lines)


def test_first_start_creates_and_prints_demo_user(tmp_path: Path) -> None:
    node = NodeProcess(tmp_path / "d", demo_user="demo")
    try:
        out = _printed(node)
        key = re.search(r"stream key:\s+(live_\d+_\w+)", out)
        assert key is not None, out
        assert f"rtmp://127.0.0.1:{node.rtmp_port}/live" in out
        assert f"http://127.0.0.1:{node.http_port}/demo" in out
        assert node.http.get("/demo").status_code == 200
        state = node.state("demo")
        assert {k: state[k] for k in ("login", "live", "state", "renditions")} == {
            "login": "demo", "live": False, "state": "offline", "renditions": []}
        assert state["title"] == "" and state["tags"] == []
        # the printed password logs into the web app (its dashboard holds the key)
        password = re.search(r"\(password: (\S+) - shown once", out)
        assert password is not None, out
        browser = Browser(node.base_url)
        try:
            assert browser.login("demo", password.group(1), "/dashboard").status_code == 303
            assert browser.logged_in()
        finally:
            browser.close()
    finally:
        node.stop()
    again = NodeProcess(tmp_path / "d", demo_user="demo")  # same data dir: no second user
    try:
        assert key.group(1) in _printed(again)
        assert "password:" not in _printed(again)  # shown once only
    finally:
        again.stop()
