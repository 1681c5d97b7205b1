"""The channel page's pure helpers: accent color and link checks, durations."""

from __future__ import annotations

import pytest

from streamhub.web.channel import duration_text, safe_accent, safe_url


@pytest.mark.parametrize(("value", "expected"), [
    ("#a1b2c3", "#A1B2C3"), ("#FFFFFF", "#FFFFFF"), (None, ""), ("", ""), ("red", ""),
    ("#12345", ""), ("#1234567", ""), ("#12345g", ""), ("#123456;}", ""),
    ("#123456\n", ""),
])
def test_safe_accent(value: str | None, expected: str) -> None:
    assert safe_accent(value) == expected


@pytest.mark.parametrize(("value", "ok"), [
    ("https://example.com/x?y=1", True), ("http://example.com", True),
    ("javascript:alert(1)", False), ("data:text/html,x", False), ("//example.com", False),
    ("https://exa mple.com", False), ('https://x.com/"onmouseover=1', False), (None, False),
])
def test_safe_url(value: str | None, ok: bool) -> None:
    assert safe_url(value) == (value if ok else "")


def test_duration_text() -> None:
    assert duration_text(0) == "0m"
    assert duration_text(59) == "59m"
    assert duration_text(61) == "1h 1m"
    assert duration_text(-5) == "0m"
