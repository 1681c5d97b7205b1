"""Chat send rules: every refusal, its order, the role exemptions, and mode arguments."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamhub.chat.rules import (
    MAX_TIMEOUT_SECONDS,
    History,
    Refusal,
    RoomModes,
    Sender,
    check_message,
    format_duration,
    matches_blocked_term,
    normalize_for_r9k,
    parse_duration,
    parse_followers_minutes,
    parse_slow_seconds,
)

NOW = 1000.0
NO_MODES = RoomModes()
NO_HISTORY = History()
VIEWER = Sender("u1", followed_seconds=None)
FOLLOWER = Sender("u1", followed_seconds=3600.0)
SUB = Sender("u1", is_subscriber=True, followed_seconds=3600.0)
VIP = Sender("u1", is_vip=True)
MOD = Sender("u1", is_mod=True)
OWNER = Sender("u1", is_broadcaster=True)
ALL_MODES = RoomModes(slow=30, followers_only=60, subs_only=True, emote_only=True, r9k=True)
RECENT = History(last_sent_at=NOW - 5, last_text="hello", room_recent_texts={"hello"})


def check(
    text: str = "hello there",
    *,
    modes: RoomModes = NO_MODES,
    sender: Sender = VIEWER,
    history: History = NO_HISTORY,
    emote_only_ok: bool = False,
    blocked: tuple[str, ...] = (),
    channel: str | None = None,
) -> str | None:
    refusal = check_message(
        text,
        modes=modes,
        sender=sender,
        history=history,
        now=NOW,
        emote_only_ok=emote_only_ok,
        blocked_terms=blocked,
        channel=channel,
    )
    return None if refusal is None else refusal.msg_id


# (case name, kwargs for check(), expected msg-id)
CASES: list[tuple[str, dict[str, object], str | None]] = [
    ("plain message", {}, None),
    ("banned", {"sender": Sender("u1", banned=True)}, "msg_banned"),
    ("banned mod still banned", {"sender": Sender("u1", is_mod=True, banned=True)}, "msg_banned"),
    ("timed out", {"sender": Sender("u1", timeout_remaining=9.2)}, "msg_timedout"),
    (
        "ban before timeout",
        {"sender": Sender("u1", banned=True, timeout_remaining=5)},
        "msg_banned",
    ),
    ("empty", {"text": ""}, "msg_rejected"),
    ("blank", {"text": "   "}, "msg_rejected"),
    ("empty /me", {"text": "\x01ACTION \x01"}, "msg_rejected"),
    ("empty even for mods", {"text": "", "sender": MOD}, "msg_rejected"),
    ("500 code points ok", {"text": "😂" * 500}, None),
    ("501 code points", {"text": "a" * 501}, "msg_rejected"),
    ("too long even for owner", {"text": "a" * 501, "sender": OWNER}, "msg_rejected"),
    ("/me counts inner text", {"text": "\x01ACTION " + "a" * 500 + "\x01"}, None),
    ("blocked term", {"text": "you BadWord", "blocked": ("badword",)}, "msg_rejected_mandatory"),
    ("blocked term inside word", {"text": "badwords", "blocked": ("badword",)}, None),
    ("blocked wildcard", {"text": "badwords", "blocked": ("badword*",)}, "msg_rejected_mandatory"),
    ("blocked: mod exempt", {"text": "badword", "blocked": ("badword",), "sender": MOD}, None),
    (
        "blocked: VIP not exempt",
        {"text": "badword", "blocked": ("badword",), "sender": VIP},
        "msg_rejected_mandatory",
    ),
    ("subs-only", {"modes": RoomModes(subs_only=True)}, "msg_subsonly"),
    ("subs-only: sub ok", {"modes": RoomModes(subs_only=True), "sender": SUB}, None),
    (
        "subs-only: VIP not exempt",
        {"modes": RoomModes(subs_only=True), "sender": VIP},
        "msg_subsonly",
    ),
    ("subs-only: mod", {"modes": RoomModes(subs_only=True), "sender": MOD}, None),
    ("subs-only: owner", {"modes": RoomModes(subs_only=True), "sender": OWNER}, None),
    (
        "followers zero, not following",
        {"modes": RoomModes(followers_only=0)},
        "msg_followersonly_zero",
    ),
    (
        "followers zero, just followed",
        {"modes": RoomModes(followers_only=0), "sender": Sender("u1", followed_seconds=0.0)},
        None,
    ),
    ("followers 10m, not following", {"modes": RoomModes(followers_only=10)}, "msg_followersonly"),
    (
        "followers 10m, followed 9m59s",
        {"modes": RoomModes(followers_only=10), "sender": Sender("u1", followed_seconds=599.0)},
        "msg_followersonly_followed",
    ),
    (
        "followers 10m, followed 10m",
        {"modes": RoomModes(followers_only=10), "sender": Sender("u1", followed_seconds=600.0)},
        None,
    ),
    ("followers off", {"modes": RoomModes(followers_only=-1)}, None),
    ("followers: VIP exempt", {"modes": RoomModes(followers_only=10), "sender": VIP}, None),
    ("followers: mod exempt", {"modes": RoomModes(followers_only=10), "sender": MOD}, None),
    (
        "followers: sub not exempt",
        {"modes": RoomModes(followers_only=10), "sender": Sender("u1", is_subscriber=True)},
        "msg_followersonly",
    ),
    ("emote-only", {"modes": RoomModes(emote_only=True)}, "msg_emoteonly"),
    ("emote-only ok", {"modes": RoomModes(emote_only=True), "emote_only_ok": True}, None),
    (
        "emote-only: VIP not exempt",
        {"modes": RoomModes(emote_only=True), "sender": VIP},
        "msg_emoteonly",
    ),
    ("emote-only: mod", {"modes": RoomModes(emote_only=True), "sender": MOD}, None),
    (
        "slow, too soon",
        {"modes": RoomModes(slow=30), "history": History(last_sent_at=NOW - 10)},
        "msg_slowmode",
    ),
    (
        "slow, waited",
        {"modes": RoomModes(slow=30), "history": History(last_sent_at=NOW - 30)},
        None,
    ),
    ("slow, first message", {"modes": RoomModes(slow=30)}, None),
    (
        "slow: VIP exempt",
        {"modes": RoomModes(slow=30), "history": History(last_sent_at=NOW - 1), "sender": VIP},
        None,
    ),
    (
        "slow: sub not exempt",
        {"modes": RoomModes(slow=30), "history": History(last_sent_at=NOW - 1), "sender": SUB},
        "msg_slowmode",
    ),
    (
        "r9k repeat",
        {
            "modes": RoomModes(r9k=True),
            "text": "Hello!!",
            "history": History(room_recent_texts={"hello"}),
        },
        "msg_r9k",
    ),
    (
        "r9k unique",
        {
            "modes": RoomModes(r9k=True),
            "text": "Hello again",
            "history": History(room_recent_texts={"hello"}),
        },
        None,
    ),
    ("r9k off", {"text": "hello", "history": History(room_recent_texts={"hello"})}, None),
    (
        "r9k: VIP not exempt",
        {
            "modes": RoomModes(r9k=True),
            "text": "hello",
            "sender": VIP,
            "history": History(room_recent_texts={"hello"}),
        },
        "msg_r9k",
    ),
    (
        "r9k: mod",
        {
            "modes": RoomModes(r9k=True),
            "text": "hello",
            "sender": MOD,
            "history": History(room_recent_texts={"hello"}),
        },
        None,
    ),
    (
        "duplicate",
        {"text": "hello ", "history": History(last_sent_at=NOW - 29, last_text="hello")},
        "msg_duplicate",
    ),
    (
        "duplicate after 30 s",
        {"text": "hello", "history": History(last_sent_at=NOW - 30, last_text="hello")},
        None,
    ),
    (
        "not a duplicate",
        {"text": "Hello", "history": History(last_sent_at=NOW - 1, last_text="hello")},
        None,
    ),
    (
        "duplicate: VIP not exempt",
        {
            "text": "hello",
            "sender": VIP,
            "history": History(last_sent_at=NOW - 1, last_text="hello"),
        },
        "msg_duplicate",
    ),
    (
        "duplicate: mod exempt",
        {
            "text": "hello",
            "sender": MOD,
            "history": History(last_sent_at=NOW - 1, last_text="hello"),
        },
        None,
    ),
    # Order: each earlier rule wins over the later ones.
    (
        "all modes, viewer",
        {"modes": ALL_MODES, "history": RECENT, "text": "hello", "blocked": ("hello",)},
        "msg_rejected_mandatory",
    ),
    (
        "all modes, viewer, no blocked",
        {"modes": ALL_MODES, "history": RECENT, "text": "hello"},
        "msg_subsonly",
    ),
    (
        "all modes, sub",
        {
            "modes": ALL_MODES,
            "history": RECENT,
            "text": "hello",
            "sender": Sender("u1", is_subscriber=True),
        },
        "msg_followersonly",
    ),
    (
        "all modes, following sub",
        {"modes": ALL_MODES, "history": RECENT, "text": "hello", "sender": SUB},
        "msg_emoteonly",
    ),
    (
        "all modes, emotes ok",
        {
            "modes": ALL_MODES,
            "history": RECENT,
            "text": "hello",
            "sender": SUB,
            "emote_only_ok": True,
        },
        "msg_slowmode",
    ),
    (
        "all modes, VIP sub",
        {
            "modes": ALL_MODES,
            "history": RECENT,
            "text": "hello",
            "emote_only_ok": True,
            "sender": Sender("u1", is_vip=True, is_subscriber=True),
        },
        "msg_r9k",
    ),
    (
        "VIP sub, no r9k",
        {
            "modes": dataclasses.replace(ALL_MODES, r9k=False),
            "history": RECENT,
            "text": "hello",
            "emote_only_ok": True,
            "sender": Sender("u1", is_vip=True, is_subscriber=True),
        },
        "msg_duplicate",
    ),
    (
        "all modes, mod",
        {
            "modes": ALL_MODES,
            "history": RECENT,
            "text": "hello",
            "sender": MOD,
            "blocked": ("hello",),
        },
        None,
    ),
    (
        "all modes, owner",
        {"modes": ALL_MODES, "history": RECENT, "text": "hello", "sender": OWNER},
        None,
    ),
]


@pytest.mark.parametrize(("kwargs", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rules(kwargs: dict[str, object], expected: str | None) -> None:
    assert check(**kwargs) == expected  # type: ignore[arg-type]


def _refusal(text: str, **kwargs: object) -> Refusal:
    defaults: dict[str, object] = {
        "modes": RoomModes(),
        "sender": VIEWER,
        "history": History(),
        "now": NOW,
        "emote_only_ok": False,
    }
    defaults.update(kwargs)
    refusal = check_message(text, **defaults)  # type: ignore[arg-type]
    assert refusal is not None
    return refusal


def test_texts() -> None:
    assert _refusal("x", sender=Sender("u", timeout_remaining=9.2)).text == (
        "You are timed out for 10 more seconds."
    )
    assert _refusal("x", sender=Sender("u", timeout_remaining=0.5)).text == (
        "You are timed out for 1 more second."
    )
    assert _refusal(
        "x", modes=RoomModes(slow=30), history=History(last_sent_at=NOW - 10.5)
    ).text == (
        "This room is in slow mode and you are sending messages too quickly. "
        "You will be able to talk again in 20 seconds."
    )
    assert _refusal("x", sender=Sender("u", banned=True), channel="Pajlada").text == (
        "You are permanently banned from talking in Pajlada."
    )
    assert _refusal("x", modes=RoomModes(followers_only=90), channel="Pajlada").text == (
        "This room is in 1 hour 30 minutes followers-only mode. Follow Pajlada to join the chat!"
    )
    assert _refusal(
        "x", modes=RoomModes(followers_only=10), sender=Sender("u", followed_seconds=125.0)
    ).text == (
        "This room is in 10 minutes followers-only mode. You have been following for "
        "2 minutes 5 seconds. Continue following to chat!"
    )
    assert "501 characters" in _refusal("é" * 501).text
    assert (
        _refusal("x", modes=RoomModes(emote_only=True)).text == "This room is in emote-only mode."
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 seconds"),
        (1, "1 second"),
        (59, "59 seconds"),
        (60, "1 minute"),
        (90, "1 minute 30 seconds"),
        (3600, "1 hour"),
        (5400, "1 hour 30 minutes"),
        (86400 + 30, "1 day"),
        (90061, "1 day 1 hour"),
        (604800, "1 week"),
        (14 * 86400, "2 weeks"),
    ],
)
def test_format_duration(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("Hello!!", "hello"),
        ("h e l l o", "hello"),
        ("HELLO", "hello"),
        ("\x01ACTION hello\x01", "hello"),
        ("hel\u034flo\U000e0000", "hello"),  # invisible bypass characters
        ("ﬁne", "fine"),  # NFKC ligature
        ("Straße", "strasse"),
        ("😂 😂", "😂😂"),
        ("😂!", "😂!"),
        ("1 2 3", "123"),
    ],
)
def test_normalize_for_r9k(text: str, normal: str) -> None:
    assert normalize_for_r9k(text) == normal


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=50))
def test_normalize_for_r9k_is_idempotent(text: str) -> None:
    once = normalize_for_r9k(text)
    assert normalize_for_r9k(once) == once


@pytest.mark.parametrize(
    ("text", "term", "hit"),
    [
        ("this is bad", "bad", True),
        ("BAD!", "bad", True),
        ("badly", "bad", False),
        ("badly", "bad*", True),
        ("notbad", "bad", False),
        ("notbad", "*bad", True),
        ("notbadly", "*bad*", True),
        ("a very bad word", "bad word", True),
        ("a very badword", "bad word", False),
        ("bad_word", "bad", False),
        ("bad-word", "bad", True),
        ("xbad bad", "bad", True),  # second occurrence is a whole word
        ("anything", "*", False),
        ("anything", "", False),
    ],
)
def test_matches_blocked_term(text: str, term: str, hit: bool) -> None:
    assert matches_blocked_term(text, term) is hit


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1", 1),
        ("10", 10),
        ("10s", 10),
        ("5m", 300),
        ("2h", 7200),
        ("1d", 86400),
        ("1w", 604800),
        ("2w", MAX_TIMEOUT_SECONDS),
        ("14d", MAX_TIMEOUT_SECONDS),
        (" 10M ", 600),
        ("10 minutes", 600),
        ("1209600", MAX_TIMEOUT_SECONDS),
    ],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("0", "shorter than the 1 second minimum"),
        ("0m", "shorter than the 1 second minimum"),
        ("15d", "longer than the 14 days maximum"),
        ("1209601", "longer than the 14 days maximum"),
        ("1mo", "longer than the 14 days maximum"),
        ("", "not a whole number"),
        ("-5", "not a whole number"),
        ("1.5h", "not a whole number"),
        ("m", "not a whole number"),
        ("10x", "unknown unit 'x'"),
        ("1h30m", "not a whole number"),
        ("9" * 40, "not a whole number"),
    ],
)
def test_parse_duration_rejects(text: str, error: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    assert error in str(info.value)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(None, 30), ("", 30), ("3", 3), ("10s", 10), ("2m", 120), ("120", 120)],
)
def test_parse_slow_seconds(text: str | None, seconds: int) -> None:
    assert parse_slow_seconds(text) == seconds


@pytest.mark.parametrize("text", ["2", "121", "3m", "0", "soon"])
def test_parse_slow_seconds_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="slow mode delay"):
        parse_slow_seconds(text)


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        (None, 0),
        ("  ", 0),
        ("0", 0),
        ("10", 10),
        ("10m", 10),
        ("1h", 60),
        ("1d", 1440),
        ("1w", 10080),
        ("3mo", 129600),
        ("30 minutes", 30),
        ("120s", 2),
    ],
)
def test_parse_followers_minutes(text: str | None, minutes: int) -> None:
    assert parse_followers_minutes(text) == minutes


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("90s", "whole number of minutes"),
        ("4mo", "3 months maximum"),
        ("129601", "3 months maximum"),
        ("-1", "not a whole number"),
        ("1y", "unknown unit"),
    ],
)
def test_parse_followers_minutes_rejects(text: str, error: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_followers_minutes(text)
    assert error in str(info.value)


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(max_size=40),
    modes=st.builds(
        RoomModes,
        slow=st.integers(0, 120),
        followers_only=st.integers(-1, 100),
        subs_only=st.booleans(),
        emote_only=st.booleans(),
        r9k=st.booleans(),
    ),
    last=st.none() | st.floats(0, NOW),
    followed=st.none() | st.floats(0, 1e7),
    emote_only_ok=st.booleans(),
)
def test_broadcaster_and_mods_pass_every_mode(
    text: str,
    modes: RoomModes,
    last: float | None,
    followed: float | None,
    emote_only_ok: bool,
) -> None:
    history = History(
        last_sent_at=last, last_text=text, room_recent_texts={normalize_for_r9k(text)}
    )
    for sender in (MOD, OWNER, dataclasses.replace(MOD, followed_seconds=followed)):
        refusal = check_message(
            text,
            modes=modes,
            sender=sender,
            history=history,
            now=NOW,
            emote_only_ok=emote_only_ok,
            blocked_terms=(text,),
        )
        if refusal is not None:
            assert refusal.msg_id == "msg_rejected"  # empty or too long only
