"""Emote detection: Twitch code-point positions, grouping, /me, the emotes tag both ways."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamhub.chat.emotes import (
    find_emotes,
    format_emotes_tag,
    is_emote_only,
    parse_emotes_tag,
    split_action,
)

CODES = {"Kappa": "25", "Keepo": "1902", "PogChamp": "88", "<3": "9", "😂": "e1"}


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        ("Kappa Keepo Kappa", "25:0-4,12-16/1902:6-10"),
        # the Twitch PRIVMSG example: "Kappa Keepo ..." style with a repeat later on
        ("Kappa Keepo Kappa Keepo", "25:0-4,12-16/1902:6-10,18-22"),
        ("Keepo Kappa", "1902:0-4/25:6-10"),
        ("hello", ""),
        ("", ""),
        ("kappa KAPPA", ""),  # case-sensitive
        ("Kappa,", ""),  # whole token only
        ("xKappa Kappax", ""),
        ("Kappa", "25:0-4"),
        ("  Kappa  ", "25:2-6"),  # every single space is a separator
        ("a\tKappa", ""),  # only spaces separate
        ("😂 Kappa", "e1:0-0/25:2-6"),  # an emoji is one code point
        ("\U0001d518\U0001d52b\U0001d526 Kappa", "25:4-8"),  # astral letters too
        ("\U0001f468\u200d\U0001f469\u200d\U0001f467 Kappa", "25:6-10"),  # ZWJ: 5 points
        ("é <3 Kappa", "9:2-3/25:5-9"),
        ("\x01ACTION Kappa waves\x01", "25:0-4"),  # /me: relative to the inner text
        ("\x01ACTION hi Kappa", "25:3-7"),  # missing closing \x01 tolerated
        ("\x01ACTIONKappa\x01", ""),  # not an ACTION: the token is "\x01ACTIONKappa\x01"
    ],
)
def test_find_emotes(text: str, tag: str) -> None:
    assert format_emotes_tag(find_emotes(text, CODES)) == tag


def test_grouping_and_order() -> None:
    found = find_emotes("Keepo Kappa Keepo PogChamp Kappa", CODES)
    assert found == [
        ("1902", [(0, 4), (12, 16)]),
        ("25", [(6, 10), (27, 31)]),
        ("88", [(18, 25)]),
    ]


def test_two_codes_same_id_share_a_group() -> None:
    found = find_emotes(":) Kappa :-)", {":)": "1", ":-)": "1", "Kappa": "25"})
    assert found == [("1", [(0, 1), (9, 11)]), ("25", [(3, 7)])]


def test_split_action() -> None:
    assert split_action("\x01ACTION waves\x01") == ("waves", True)
    assert split_action("\x01ACTION \x01") == ("", True)
    assert split_action("waves") == ("waves", False)


def test_format_skips_empty_groups() -> None:
    assert format_emotes_tag([("1", []), ("2", [(0, 1)])]) == "2:0-1"


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("", []),
        ("25:0-4", [("25", [(0, 4)])]),
        ("25:0-4,12-16/1902:6-10", [("25", [(0, 4), (12, 16)]), ("1902", [(6, 10)])]),
        ("emotesv2_abc:3-3", [("emotesv2_abc", [(3, 3)])]),
    ],
)
def test_parse_emotes_tag(value: str, parsed: list[tuple[str, list[tuple[int, int]]]]) -> None:
    assert parse_emotes_tag(value) == parsed
    assert format_emotes_tag(parsed) == value


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("25", "not 'id:start-end"),
        (":0-4", "not 'id:start-end"),
        ("25:", "not 'id:start-end"),
        ("25:0", "not 'start-end'"),
        ("25:a-4", "not 'start-end'"),
        ("25:-1-4", "not 'start-end'"),
        ("25:4-0", "ends before it starts"),
        ("25:0-4/", "not 'id:start-end"),
    ],
)
def test_parse_emotes_tag_rejects(value: str, error: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_emotes_tag(value)
    assert error in str(info.value)


_code = st.text(st.characters(exclude_characters=" ", exclude_categories=["Cs"]), min_size=1)
_token = st.one_of(
    st.sampled_from(sorted(CODES)),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=6),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_token, max_size=20),
    st.dictionaries(_code, st.sampled_from(["1", "2", "3"]), max_size=5),
    st.booleans(),
)
def test_every_range_slices_to_its_code(tokens: list[str], extra: dict[str, str], me: bool) -> None:
    codes = {**CODES, **extra}
    body = " ".join(tokens)
    text = f"\x01ACTION {body}\x01" if me else body
    inner, _ = split_action(text)
    found = find_emotes(text, codes)
    ids = [emote_id for emote_id, _ in found]
    assert len(ids) == len(set(ids))
    seen: list[tuple[int, int]] = []
    for emote_id, ranges in found:
        assert ranges
        for start, end in ranges:
            code = inner[start : end + 1]
            assert codes[code] == emote_id
            assert start == 0 or inner[start - 1] == " "
            assert end == len(inner) - 1 or inner[end + 1] == " "
            seen.append((start, end))
        assert ranges == sorted(ranges)
    # Every whole-token match is reported exactly once.
    expected = []
    start = 0
    for token in inner.split(" "):
        if token in codes:
            expected.append((start, start + len(token) - 1))
        start += len(token) + 1
    assert sorted(seen) == expected
    assert parse_emotes_tag(format_emotes_tag(found)) == found


@pytest.mark.parametrize(
    ("text", "only"),
    [
        ("Kappa", True),
        ("Kappa  Keepo ", True),
        ("\x01ACTION Kappa\x01", True),
        ("Kappa hi", False),
        ("", False),
        ("   ", False),
        ("kappa", False),
    ],
)
def test_is_emote_only(text: str, only: bool) -> None:
    assert is_emote_only(text, CODES) is only
