"""EventSub type registry, condition checks, matching and webhook signatures (pure)."""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest

from streamhub.api.eventsub.service import check_callback
from streamhub.api.eventsub.types import TYPES, lookup
from streamhub.api.eventsub.webhook import message_timestamp, signature


def test_registry_has_the_issue_types_with_twitch_versions() -> None:
    assert {(n, v) for n, v in TYPES} == {
        ("stream.online", "1"), ("stream.offline", "1"), ("channel.update", "2"),
        ("channel.follow", "2"), ("channel.ban", "1"), ("channel.unban", "1"),
        ("channel.moderator.add", "1"), ("channel.moderator.remove", "1"),
        ("channel.raid", "1"), ("channel.chat.message", "1"), ("channel.subscribe", "1"),
        ("channel.subscription.gift", "1"), ("channel.subscription.message", "1"),
        ("channel.cheer", "1")}
    assert lookup("channel.follow", "2").scopes == ("moderator:read:followers",)
    assert lookup("channel.chat.message", "1").authorizer == "user_id"
    with pytest.raises(ValueError, match="unsupported version"):
        lookup("channel.update", "1")
    with pytest.raises(ValueError, match="unsupported subscription type"):
        lookup("channel.anything", "1")


def test_conditions_are_checked_and_matched() -> None:
    follow = lookup("channel.follow", "2")
    cond = follow.check_condition({"broadcaster_user_id": "12", "moderator_user_id": 7})
    assert cond == {"broadcaster_user_id": "12", "moderator_user_id": "7"}
    # the moderator only authorizes: any follower event of the channel matches
    assert follow.matches(cond, {"broadcaster_user_id": "12", "user_id": "99"})
    assert not follow.matches(cond, {"broadcaster_user_id": "13"})
    for bad, text in [({"broadcaster_user_id": "12"}, "missing"),
                      ({"broadcaster_user_id": "x", "moderator_user_id": "1"}, "user ID"),
                      ({"broadcaster_user_id": True, "moderator_user_id": "1"}, "user ID"),
                      ({"broadcaster_user_id": "1", "moderator_user_id": "1", "x": "1"},
                       "not valid")]:
        with pytest.raises(ValueError, match=text):
            follow.check_condition(bad)
    raid = lookup("channel.raid", "1")
    to = raid.check_condition({"to_broadcaster_user_id": "5"})
    assert raid.matches(to, {"from_broadcaster_user_id": "1", "to_broadcaster_user_id": "5"})
    assert not raid.matches(to, {"from_broadcaster_user_id": "5", "to_broadcaster_user_id": "1"})
    with pytest.raises(ValueError, match="exactly one"):
        raid.check_condition({"to_broadcaster_user_id": "5", "from_broadcaster_user_id": "6"})


def test_signature_and_timestamp_format() -> None:
    stamp = message_timestamp()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", stamp)
    body = b'{"event":{}}'
    expected = hmac.new(b"secretsecret", b"id-1" + stamp.encode() + body,
                        hashlib.sha256).hexdigest()
    assert signature("secretsecret", "id-1", stamp, body) == "sha256=" + expected


@pytest.mark.parametrize("url", ["ftp://h/x", "/relative", "http://user:pw@h/x",
                                 "https://h:99999/x", "http:///nohost"])
def test_bad_callbacks(url: str) -> None:
    with pytest.raises(ValueError):
        check_callback(url)


def test_loopback_callbacks_are_allowed() -> None:
    assert check_callback("http://127.0.0.1:8000/hook") == "http://127.0.0.1:8000/hook"
