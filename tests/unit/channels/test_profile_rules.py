"""Channel and profile validation rules: tags, colors, languages, titles, display names, URLs."""

from __future__ import annotations

import pytest

from streamhub.channels.profile import (
    ProfileError,
    check_color,
    check_description,
    check_display_name,
    check_language,
    check_tags,
    check_title,
    check_url,
    jpeg_size,
    probe_upload,
)


def test_tags() -> None:
    assert check_tags(["English", "speedrun", "ENGLISH", "日本語", "PS5"]) == [
        "English", "speedrun", "日本語", "PS5"]
    assert check_tags([]) == []
    for bad in (["two words"], [""], ["x" * 26], ["hash#tag"], ["under_score"],
                [f"t{i}" for i in range(11)]):
        with pytest.raises(ProfileError):
            check_tags(bad)


def test_color_language_title_description() -> None:
    assert check_color("#a1B2c3") == "#A1B2C3"
    for bad in ("a1b2c3", "#12345", "#GGGGGG", "#1234567"):
        with pytest.raises(ProfileError):
            check_color(bad)
    assert check_language("EN") == "en" and check_language("other") == "other"
    with pytest.raises(ProfileError):
        check_language("english")
    assert check_title("  hi  ") == "hi"
    for bad in ("x" * 141, "line\nbreak", "bell\x07"):
        with pytest.raises(ProfileError):
            check_title(bad)
    assert check_description("two\nlines") == "two\nlines"
    with pytest.raises(ProfileError):
        check_description("x" * 301)


def test_display_name_and_urls() -> None:
    assert check_display_name("some_user", "Some_User") == "Some_User"
    with pytest.raises(ProfileError):
        check_display_name("some_user", "Other")
    assert check_url("https://example.com/a?b=c") == "https://example.com/a?b=c"
    for bad in ("javascript:alert(1)", "ftp://x", "https://a b", "http://x\"onmouseover"):
        with pytest.raises(ProfileError):
            check_url(bad)


def test_jpeg_header() -> None:
    app0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0\x00\x11\x08" + (480).to_bytes(2, "big") + (640).to_bytes(2, "big") + (
        b"\x03" + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01")
    jpeg = b"\xff\xd8" + app0 + sof + b"\xff\xd9"
    assert jpeg_size(jpeg) == (640, 480)
    assert probe_upload(jpeg, 1 << 20, 1024) == ("jpg", "image/jpeg")
    with pytest.raises(ProfileError, match="each side"):
        probe_upload(jpeg, 1 << 20, 600)
    for bad in (b"\xff\xd8\xff\xd9", b"\xff\xd8\x00\x00\x00\x00", b"\xff\xd8" + app0[:6]):
        with pytest.raises(ProfileError):
            jpeg_size(bad)
    with pytest.raises(ProfileError, match="JPEG"):
        probe_upload(b"BM" + b"\x00" * 40, 1 << 20, 1024)
