"""IRC message parse/serialize: Twitch golden lines, escaping, limits, round trips, fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamhub.protocols.irc.message import (
    MAX_BODY_BYTES,
    MAX_TAGS_BYTES,
    IrcError,
    Message,
    escape_tag_value,
    unescape_tag_value,
)

PRIVMSG = (
    "@badge-info=subscriber/22;badges=moderator/1,subscriber/12;bits=100;color=#19E6E6;"
    "display-name=randers;emotes=1902:6-10,29-33/25:0-4;first-msg=0;flags=;"
    "id=f9c5774b-faa7-4378-b1af-c4e08b532dc2;mod=1;returning-chatter=0;room-id=11148817;"
    "subscriber=1;tmi-sent-ts=1594556065407;turbo=0;user-id=40286300;user-type=mod;vip=0 "
    ":randers!randers@randers.tmi.twitch.tv PRIVMSG #pajlada :Kappa Keepo ..."
)
RAID = (
    "@badge-info=;badges=turbo/1;color=#9ACD32;display-name=TestChannel;emotes=;"
    "id=3d830f12-795c-447d-af3c-ea05e40fbddb;login=testchannel;mod=0;msg-id=raid;"
    "msg-param-displayName=TestChannel;msg-param-login=testchannel;msg-param-viewerCount=15;"
    "room-id=33332222;subscriber=0;system-msg=15\\sraiders\\sfrom\\sTestChannel\\shave\\sjoined!;"
    "tmi-sent-ts=1507246572675;turbo=1;user-id=123456;user-type= "
    ":tmi.twitch.tv USERNOTICE #othertestchannel"
)
GOLDEN = [
    PRIVMSG,
    RAID,
    "@ban-duration=1;room-id=11148817;target-user-id=148973258;tmi-sent-ts=1594553828245 "
    ":tmi.twitch.tv CLEARCHAT #pajlada :fabzeef",
    "@room-id=11148817;target-user-id=70948394;tmi-sent-ts=1594561360331 "
    ":tmi.twitch.tv CLEARCHAT #pajlada :weeb123",
    "@room-id=40286300;tmi-sent-ts=1594561392337 :tmi.twitch.tv CLEARCHAT #randers",
    "@login=alazymeme;room-id=;target-msg-id=3c92014f-340a-4dc3-a9c9-e5cf182f4a84;"
    "tmi-sent-ts=1594561955611 :tmi.twitch.tv CLEARMSG #pajlada :a deleted text",
    "@emote-only=0;followers-only=-1;r9k=0;room-id=40286300;slow=0;subs-only=0 "
    ":tmi.twitch.tv ROOMSTATE #chan",
    "@room-id=40286300;slow=5 :tmi.twitch.tv ROOMSTATE #randers",
    "@badge-info=;badges=;color=#19E6E6;display-name=randers;emote-sets=0,42,237;"
    "user-id=40286300;user-type= :tmi.twitch.tv GLOBALUSERSTATE",
    "@msg-id=slow_on :tmi.twitch.tv NOTICE #chan :This room is now in slow mode.",
    "PING",
    "PING :tmi.twitch.tv",
    "PONG :tmi.twitch.tv",
    ":tmi.twitch.tv 001 nick :Welcome, GLHF!",
    ":tmi.twitch.tv CAP * ACK :twitch.tv/tags twitch.tv/commands twitch.tv/membership",
    ":nick.tmi.twitch.tv 353 nick = #chan :nick",
    ":nick.tmi.twitch.tv 366 nick #chan :End of /NAMES list",
    ":nick!nick@nick.tmi.twitch.tv JOIN #chan",
    ":tmi.twitch.tv PONG tmi.twitch.tv :test",
    ":tmi.twitch.tv RECONNECT",
]


@pytest.mark.parametrize("line", GOLDEN)
def test_golden_lines_round_trip_exactly(line: str) -> None:
    msg = Message.parse(line, max_body=4096)
    assert msg.serialize() == line
    assert str(msg) == line
    assert bytes(msg) == (line + "\r\n").encode()
    assert Message.parse(msg.serialize(), max_body=4096) == msg


def test_privmsg_fields() -> None:
    msg = Message.parse(PRIVMSG)
    assert msg.command == "PRIVMSG"
    assert msg.prefix == "randers!randers@randers.tmi.twitch.tv"
    assert msg.params == ("#pajlada", "Kappa Keepo ...")
    assert msg.tags["badges"] == "moderator/1,subscriber/12"
    assert msg.tags["emotes"] == "1902:6-10,29-33/25:0-4"
    assert msg.tags["flags"] == ""
    assert msg.tags["tmi-sent-ts"] == "1594556065407"
    assert list(msg.tags)[:3] == ["badge-info", "badges", "bits"]  # wire order kept


def test_raid_system_msg_is_unescaped() -> None:
    msg = Message.parse(RAID)
    assert msg.tags["system-msg"] == "15 raiders from TestChannel have joined!"
    assert msg.tags["msg-param-viewerCount"] == "15"
    assert msg.tags["badge-info"] == ""
    assert msg.params == ("#othertestchannel",)


def test_clearchat_variants() -> None:
    timeout, ban, clear = (Message.parse(line) for line in GOLDEN[2:5])
    assert timeout.params == ("#pajlada", "fabzeef")
    assert timeout.tags["ban-duration"] == "1"
    assert ban.params == ("#pajlada", "weeb123")
    assert "ban-duration" not in ban.tags
    assert clear.params == ("#randers",)
    # A middle-param target parses the same.
    assert Message.parse(":tmi.twitch.tv CLEARCHAT #pajlada fabzeef").params == (
        "#pajlada",
        "fabzeef",
    )


def test_bare_ping_and_numeric() -> None:
    ping = Message.parse("PING")
    assert ping == Message("PING")
    assert ping.prefix is None and ping.params == () and dict(ping.tags) == {}
    welcome = Message.parse(":tmi.twitch.tv 001 nick :Welcome, GLHF!")
    assert welcome.command == "001"
    assert welcome.params == ("nick", "Welcome, GLHF!")
    assert Message.parse("PING :tmi.twitch.tv").params == ("tmi.twitch.tv",)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("privmsg #c :hi", Message("PRIVMSG", ("#c", "hi"))),
        ("PING\r\n", Message("PING")),
        ("PING\n", Message("PING")),
        (b"PING :x\r\n", Message("PING", ("x",))),
        ("PRIVMSG #c :", Message("PRIVMSG", ("#c", ""))),
        ("PRIVMSG #c ::)", Message("PRIVMSG", ("#c", ":)"))),
        ("PRIVMSG  #c   :a  b ", Message("PRIVMSG", ("#c", "a  b "))),
        ("PRIVMSG #c hi ", Message("PRIVMSG", ("#c", "hi"))),
        ("@a;b=;c=1 PING", Message("PING", tags={"a": "", "b": "", "c": "1"})),
        ("@a=1;;b=2; PING", Message("PING", tags={"a": "1", "b": "2"})),
        ("@a=1;a=2 PING", Message("PING", tags={"a": "2"})),
        ("@+example.com/foo=bar PING", Message("PING", tags={"+example.com/foo": "bar"})),
        ("@a=b  :pre  PING", Message("PING", tags={"a": "b"}, prefix="pre")),
        ("PRIVMSG #c :\x01ACTION waves\x01", Message("PRIVMSG", ("#c", "\x01ACTION waves\x01"))),
        ("PRIVMSG #c :Kappa 😂", Message("PRIVMSG", ("#c", "Kappa 😂"))),
    ],
)
def test_parse_tolerant_forms(line: str | bytes, expected: Message) -> None:
    assert Message.parse(line) == expected


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("", "empty line"),
        ("\r\n", "empty line"),
        ("   ", "empty line"),
        ("@a=1", "missing command"),
        ("@a=1 ", "missing command"),
        (":prefix", "missing command after the prefix"),
        (":prefix ", "missing command"),
        (": PING", "empty prefix"),
        ("@ PING", "empty tag section"),
        ("@=x PING", "invalid tag key"),
        ("@a b=1 PING", "invalid command"),
        ("@a_b=1 PING", "invalid tag key"),
        ("@/a=1 PING", "invalid tag key"),
        ("PRIV-MSG #c", "invalid command"),
        ("12 x", "invalid command"),
        ("1234 x", "invalid command"),
        ("PRIVMSG #c :a\rb", "'\\r'"),
        ("PRIVMSG #c :a\nb", "'\\n'"),
        ("PRIVMSG #c :a\0b", "'\\x00'"),
        ("PING\n\n", "'\\n'"),
        (b"PRIVMSG #c :\xff", "not valid UTF-8"),
        ("PRIVMSG #c :\ud800", "lone surrogate"),
    ],
)
def test_parse_rejects(line: str | bytes, error: str) -> None:
    with pytest.raises(IrcError) as info:
        Message.parse(line)
    assert error in str(info.value)


def test_parse_rejects_non_text() -> None:
    with pytest.raises(TypeError):
        Message.parse(42)  # type: ignore[arg-type]


def test_body_limit_counts_utf8_bytes_and_crlf() -> None:
    head = "PRIVMSG #c :"
    fits = head + "x" * (MAX_BODY_BYTES - 2 - len(head))
    assert Message.parse(fits).params[1] == "x" * (MAX_BODY_BYTES - 2 - len(head))
    assert Message.parse(fits + "\r\n") == Message.parse(fits)
    with pytest.raises(IrcError, match="514 bytes, more than the 512"):
        Message.parse(fits + "yy")
    emoji = head + "😂" * 125  # 12 + 500 bytes + CRLF > 512
    with pytest.raises(IrcError, match="body"):
        Message.parse(emoji)
    assert Message.parse(emoji, max_body=2048).params[1] == "😂" * 125


def test_tag_limit_counts_at_sign_and_space() -> None:
    section = "@a=" + "v" * (MAX_TAGS_BYTES - 4)  # + trailing space == 8191
    assert len(section) + 1 == MAX_TAGS_BYTES
    msg = Message.parse(section + " PING")
    assert len(msg.tags["a"]) == MAX_TAGS_BYTES - 4
    with pytest.raises(IrcError, match="tag section is 8192 bytes"):
        Message.parse(section + "v PING")
    with pytest.raises(IrcError, match="tag section"):
        Message.parse("@a=" + "é" * 10 + " PING", max_tags=20)
    # The tag section does not count against the body limit.
    assert Message.parse(section + " PING", max_body=8).command == "PING"


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("a\\:b", "a;b"),
        ("a\\sb", "a b"),
        ("a\\\\b", "a\\b"),
        ("a\\rb\\nc", "a\rb\nc"),
        ("a\\b", "ab"),  # unknown escape: backslash dropped
        ("\\x\\y", "xy"),
        ("ab\\", "ab"),  # trailing lone backslash dropped
        ("\\", ""),
        ("\\\\\\", "\\"),
        ("plain", "plain"),
        ("", ""),
    ],
)
def test_unescape(raw: str, value: str) -> None:
    assert unescape_tag_value(raw) == value
    assert Message.parse(f"@k={raw} PING").tags["k"] == value


def test_escape() -> None:
    assert escape_tag_value("a; b\\c\r\n") == "a\\:\\sb\\\\c\\r\\n"
    assert escape_tag_value("plain=ok,é") == "plain=ok,é"


def test_serialize_tags_flag_and_empty_values() -> None:
    msg = Message("PRIVMSG", ("#c", "hi there"), {"a": "", "b": "x y"}, "n!n@n")
    assert msg.serialize() == "@a=;b=x\\sy :n!n@n PRIVMSG #c :hi there"
    assert msg.serialize(tags=False) == ":n!n@n PRIVMSG #c :hi there"
    assert Message("PING", tags={}).serialize() == "PING"


@pytest.mark.parametrize(
    ("params", "wire"),
    [
        (("#c", "hi"), "PRIVMSG #c :hi"),
        (("#c", "#hashtag"), "PRIVMSG #c :#hashtag"),
        (("#c", ""), "PRIVMSG #c :"),
        (("#c", ":)"), "PRIVMSG #c ::)"),
        (("#c", "a b"), "PRIVMSG #c :a b"),
        (("#c", "a:b"), "PRIVMSG #c :a:b"),
        (("",), "PRIVMSG :"),
        (("#chan",), "PRIVMSG #chan"),
        (("#a b",), "PRIVMSG :#a b"),
        (("tmi.twitch.tv",), "PRIVMSG :tmi.twitch.tv"),
    ],
)
def test_serialize_last_param(params: tuple[str, ...], wire: str) -> None:
    assert Message("PRIVMSG", params).serialize() == wire
    assert Message.parse(wire).params == params


@pytest.mark.parametrize(
    ("msg", "error"),
    [
        (Message("PRIVMSG", ("#a b", "x")), "middle param 0"),
        (Message("PRIVMSG", ("", "x")), "middle param 0"),
        (Message("PRIVMSG", (":c", "x")), "middle param 0"),
        (Message("PRIVMSG", ("#c", "a\r\nQUIT")), "CR or LF"),
        (Message("PRIVMSG", ("#c", "a\0")), "NUL"),
        (Message("PRIV MSG"), "invalid command"),
        (Message(""), "invalid command"),
        (Message("PING", prefix=""), "invalid prefix"),
        (Message("PING", prefix="a b"), "invalid prefix"),
        (Message("PING", prefix="a\nb"), "CR or LF"),
        (Message("PING", tags={"bad key": "1"}), "invalid tag key"),
        (Message("PING", tags={"k": "\0"}), "NUL"),
    ],
)
def test_serialize_rejects(msg: Message, error: str) -> None:
    with pytest.raises(ValueError) as info:
        msg.serialize()
    assert error in str(info.value)


def test_serialize_escapes_injection_in_tag_values() -> None:
    msg = Message("PING", tags={"k": "x\r\nQUIT :bye; a=b"})
    wire = msg.serialize()
    assert "\r" not in wire and "\n" not in wire
    assert Message.parse(wire) == msg


# --- property tests -----------------------------------------------------------------

_no_wire_breaks = st.characters(exclude_characters="\0\r\n", exclude_categories=["Cs"])
_word = st.text(st.characters(exclude_characters="\0\r\n :", exclude_categories=["Cs"]), min_size=1)
_middle = st.builds(
    lambda first, rest: first + rest,
    _word,
    st.text(st.characters(exclude_characters="\0\r\n ", exclude_categories=["Cs"])),
)
_trailing = st.text(_no_wire_breaks)
_key_part = st.text(
    st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"),
    min_size=1,
    max_size=12,
)
_tag_key = st.builds(
    lambda plus, vendor, key: plus + (vendor + "/" if vendor else "") + key,
    st.sampled_from(["", "+"]),
    st.sampled_from(["", "twitch.tv", "example.com", "a-b.c0"]),
    _key_part,
)
_tag_value = st.text(st.characters(exclude_characters="\0", exclude_categories=["Cs"]))
_command = st.one_of(
    st.text(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), min_size=1, max_size=12),
    st.integers(0, 999).map(lambda n: f"{n:03d}"),
)
_messages = st.builds(
    lambda command, middles, last, tags, prefix: Message(
        command, tuple(middles) + (() if last is None else (last,)), tags, prefix
    ),
    _command,
    st.lists(_middle, max_size=4),
    st.none() | _trailing,
    st.dictionaries(_tag_key, _tag_value, max_size=6),
    st.none() | _middle,
)


@settings(max_examples=300, deadline=None)
@given(_messages)
def test_round_trip(msg: Message) -> None:
    wire = msg.serialize()
    parsed = Message.parse(wire, max_body=1 << 20, max_tags=1 << 20)
    assert parsed == msg
    assert list(parsed.tags) == list(msg.tags)
    assert Message.parse((wire + "\r\n").encode(), max_body=1 << 20, max_tags=1 << 20) == msg
    no_tags = Message.parse(msg.serialize(tags=False), max_body=1 << 20)
    assert no_tags == Message(msg.command, msg.params, {}, msg.prefix)


@settings(max_examples=300, deadline=None)
@given(_tag_value)
def test_escape_round_trip(value: str) -> None:
    escaped = escape_tag_value(value)
    assert not any(c in escaped for c in "; \r\n")
    assert unescape_tag_value(escaped) == value


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_unescape_never_raises(value: str) -> None:
    unescape_tag_value(value)


def _parse_or_irc_error(line: str | bytes) -> None:
    try:
        msg = Message.parse(line)
    except IrcError:
        return
    # Whatever parses serializes, and re-parses to the same message.
    assert Message.parse(msg.serialize(), max_body=1 << 20, max_tags=1 << 20) == msg


@settings(max_examples=500, deadline=None)
@given(st.text(st.characters(exclude_categories=[]), max_size=600))
def test_fuzz_text(line: str) -> None:
    _parse_or_irc_error(line)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_bytes(line: bytes) -> None:
    _parse_or_irc_error(line)


_irc_alphabet = st.sampled_from(list("@:; =\\/+-.!#aAzZ09 \r\n\0é😂"))


@settings(max_examples=500, deadline=None)
@given(st.text(_irc_alphabet, max_size=80))
def test_fuzz_irc_shaped_text(line: str) -> None:
    _parse_or_irc_error(line)


@settings(max_examples=300, deadline=None)
@given(_messages, st.integers(0, 200), st.sampled_from(["\0", "\r", "\n", " ", ":", "@", ";"]))
def test_fuzz_mutated_valid_lines(msg: Message, where: int, char: str) -> None:
    wire = msg.serialize()
    where = min(where, len(wire))
    _parse_or_irc_error(wire[:where] + char + wire[where:])
