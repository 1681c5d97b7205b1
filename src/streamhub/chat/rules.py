"""Whether a chat message may be sent (bans, modes, duplicates, blocked terms); mode arguments."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from streamhub.chat.emotes import split_action

__all__ = [
    "DEFAULT_FOLLOWERS_MINUTES",
    "DEFAULT_SLOW_SECONDS",
    "DEFAULT_TIMEOUT_SECONDS",
    "DUPLICATE_WINDOW_SECONDS",
    "MAX_FOLLOWERS_MINUTES",
    "MAX_MESSAGE_CODE_POINTS",
    "MAX_SLOW_SECONDS",
    "MAX_TIMEOUT_SECONDS",
    "MIN_SLOW_SECONDS",
    "History",
    "Refusal",
    "RoomModes",
    "Sender",
    "check_message",
    "format_duration",
    "matches_blocked_term",
    "normalize_for_r9k",
    "parse_duration",
    "parse_followers_minutes",
    "parse_slow_seconds",
]

MAX_MESSAGE_CODE_POINTS = 500
DUPLICATE_WINDOW_SECONDS = 30.0

DEFAULT_TIMEOUT_SECONDS = 600  # `/timeout user` without a duration
MAX_TIMEOUT_SECONDS = 14 * 86400
DEFAULT_SLOW_SECONDS = 30  # `/slow` without a duration (Helix: 3..120, default 30)
MIN_SLOW_SECONDS = 3
MAX_SLOW_SECONDS = 120
DEFAULT_FOLLOWERS_MINUTES = 0  # `/followers` alone: any follower may talk
MAX_FOLLOWERS_MINUTES = 129600  # 3 months (Helix follower_mode_duration)


@dataclass(frozen=True, slots=True)
class RoomModes:
    """A room's ROOMSTATE modes, with ROOMSTATE's conventions."""

    slow: int = 0  # seconds between one user's messages; 0 = off
    followers_only: int = -1  # -1 off, 0 any follower, N = followed for N minutes
    subs_only: bool = False
    emote_only: bool = False
    r9k: bool = False


@dataclass(frozen=True, slots=True)
class Sender:
    """Who is sending, as seen in the target room."""

    user_id: str
    is_broadcaster: bool = False
    is_mod: bool = False
    is_vip: bool = False
    is_subscriber: bool = False
    followed_seconds: float | None = None  # None = not following
    banned: bool = False
    timeout_remaining: float = 0.0  # seconds; 0 = not timed out

    @property
    def is_staff_of_room(self) -> bool:
        """Broadcaster or moderator: exempt from every room mode and content rule."""
        return self.is_broadcaster or self.is_mod


@dataclass(frozen=True, slots=True)
class History:
    """What the rules must remember; the caller keeps it per user and room."""

    last_sent_at: float | None = None  # this user's last accepted message in this room
    last_text: str | None = None  # that message's text (for the duplicate rule)
    room_recent_texts: Collection[str] = ()  # normalize_for_r9k() of recent room messages


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a message was not sent: the NOTICE `msg-id` and a human text like Twitch's."""

    msg_id: str
    text: str


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


_DISPLAY_UNITS = (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def format_duration(seconds: int) -> str:
    """A short human duration: 90 -> "1 minute 30 seconds", 7200 -> "2 hours"."""
    if seconds <= 0:
        return "0 seconds"
    parts: list[str] = []
    rest = seconds
    for unit, size in _DISPLAY_UNITS:
        if rest >= size:
            parts.append(_plural(rest // size, unit))
            rest %= size
            if len(parts) == 2:
                break
        elif parts:  # keep the two parts adjacent: "1 day 30 seconds" would mislead
            break
    return " ".join(parts)


def normalize_for_r9k(text: str) -> str:
    """The form unique-chat (r9k) compares: case, spacing, punctuation and symbols ignored.

    /me is unwrapped, the text NFKC-normalized and case-folded, and only letters and
    digits are kept (this also drops invisible characters used to dodge the check).
    A message with no letters or digits (only emoji, say) is compared as its
    case-folded text without whitespace instead, so such messages are not all equal.
    """
    inner, _ = split_action(text)
    folded = unicodedata.normalize("NFKC", inner).casefold()
    kept = "".join(c for c in folded if unicodedata.category(c)[0] in "LN")
    if kept:
        return kept
    return "".join(c for c in folded if not c.isspace() and unicodedata.category(c) != "Cf")


def _is_word_char(c: str) -> bool:
    return c.isalnum() or c == "_"


def matches_blocked_term(text: str, term: str) -> bool:
    """Whether `text` contains the blocked `term`, as Twitch matches blocked terms.

    Case-insensitive, as whole words (or a whole phrase); a `*` at the start or end of
    the term lets it match inside a longer word there ("bad*" matches "badly"). A term
    that is empty once the `*`s are removed matches nothing.
    """
    prefix_wild = term.startswith("*")
    suffix_wild = term.endswith("*")
    needle = term.strip("*").strip().casefold()
    if not needle:
        return False
    haystack = text.casefold()
    start = haystack.find(needle)
    while start >= 0:
        end = start + len(needle)
        left_ok = prefix_wild or start == 0 or not _is_word_char(haystack[start - 1])
        right_ok = suffix_wild or end == len(haystack) or not _is_word_char(haystack[end])
        if left_ok and right_ok:
            return True
        start = haystack.find(needle, start + 1)
    return False


def check_message(
    text: str,
    *,
    modes: RoomModes,
    sender: Sender,
    history: History,
    now: float,
    emote_only_ok: bool,
    blocked_terms: Collection[str] = (),
    channel: str | None = None,
) -> Refusal | None:
    """None if `sender` may send `text` (a PRIVMSG body) to the room now, else why not.

    Checks, in order: banned, timed out, empty, longer than 500 code points (the /me
    text), blocked terms, subs-only, followers-only, emote-only (`emote_only_ok`: the
    caller found only emotes), slow mode, unique chat (r9k), duplicate of the sender's
    own last message within 30 s. The broadcaster and moderators are exempt from every
    check after "too long"; VIPs from slow and followers-only; subscribers from
    subs-only. Rate limits are separate (`chat.ratelimit`, NOTICE msg_ratelimit).
    `channel` (a display name) only makes the texts read like Twitch's.
    """
    where = channel or "this channel"
    if sender.banned:
        return Refusal("msg_banned", f"You are permanently banned from talking in {where}.")
    if sender.timeout_remaining > 0:
        left = math.ceil(sender.timeout_remaining)
        return Refusal("msg_timedout", f"You are timed out for {_plural(left, 'more second')}.")

    inner, _ = split_action(text)
    if not inner.strip():
        return Refusal("msg_rejected", "Your message was not sent because it is empty.")
    if len(inner) > MAX_MESSAGE_CODE_POINTS:
        return Refusal(
            "msg_rejected",
            f"Your message was not sent because it is {len(inner)} characters long; "
            f"the limit is {MAX_MESSAGE_CODE_POINTS}.",
        )
    if sender.is_staff_of_room:
        return None

    if any(matches_blocked_term(inner, term) for term in blocked_terms):
        return Refusal(
            "msg_rejected_mandatory",
            "Your message wasn't posted due to conflicts with the channel's moderation settings.",
        )
    if modes.subs_only and not sender.is_subscriber:
        return Refusal(
            "msg_subsonly",
            f"This room is in subscribers-only mode. To talk, subscribe to {where}.",
        )
    if modes.followers_only >= 0 and not sender.is_vip:
        refusal = _check_followers(modes.followers_only, sender.followed_seconds, where)
        if refusal is not None:
            return refusal
    if modes.emote_only and not emote_only_ok:
        return Refusal("msg_emoteonly", "This room is in emote-only mode.")
    if modes.slow > 0 and not sender.is_vip and history.last_sent_at is not None:
        wait = history.last_sent_at + modes.slow - now
        if wait > 0:
            return Refusal(
                "msg_slowmode",
                "This room is in slow mode and you are sending messages too quickly. "
                f"You will be able to talk again in {_plural(math.ceil(wait), 'second')}.",
            )
    if modes.r9k and normalize_for_r9k(text) in history.room_recent_texts:
        return Refusal(
            "msg_r9k",
            "This room is in unique-chat mode and the message you attempted to send is not unique.",
        )
    if (
        history.last_text is not None
        and history.last_sent_at is not None
        and now - history.last_sent_at < DUPLICATE_WINDOW_SECONDS
        and text.strip() == history.last_text.strip()
    ):
        return Refusal(
            "msg_duplicate",
            "Your message was not sent because it is identical to the previous one you sent, "
            "less than 30 seconds ago.",
        )
    return None


def _check_followers(minutes: int, followed: float | None, where: str) -> Refusal | None:
    if followed is None:
        if minutes == 0:
            return Refusal(
                "msg_followersonly_zero",
                f"This room is in followers-only mode. Follow {where} to join the chat!",
            )
        return Refusal(
            "msg_followersonly",
            f"This room is in {format_duration(minutes * 60)} followers-only mode. "
            f"Follow {where} to join the chat!",
        )
    if followed < minutes * 60:
        return Refusal(
            "msg_followersonly_followed",
            f"This room is in {format_duration(minutes * 60)} followers-only mode. "
            f"You have been following for {format_duration(int(followed))}. "
            "Continue following to chat!",
        )
    return None


# --- moderator command arguments -------------------------------------------------------

_UNITS: Mapping[str, int] = {
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
    "mo": 2592000,
    "month": 2592000,
    "months": 2592000,
}
_AMOUNT = re.compile(r"(\d{1,12})\s*([a-z]*)")


def _parse_seconds(text: str, *, what: str, bare_unit: int) -> int:
    """`<integer>[ ]<unit>` in seconds; a bare integer is in `bare_unit` seconds."""
    cleaned = text.strip().lower()
    match = _AMOUNT.fullmatch(cleaned)
    if not match:
        raise ValueError(
            f"{what} {text!r} is not a whole number with an optional unit "
            "(s, m, h, d, w, mo), e.g. 10m"
        )
    number, unit = match.groups()
    if unit and unit not in _UNITS:
        raise ValueError(f"{what} {text!r} has an unknown unit {unit!r} (use s, m, h, d, w, mo)")
    return int(number) * (_UNITS[unit] if unit else bare_unit)


def parse_duration(text: str) -> int:
    """A `/timeout` duration in seconds: "10", "10s", "5m", "2h", "1d", "1w" (1 s to 14 days)."""
    seconds = _parse_seconds(text, what="timeout duration", bare_unit=1)
    if seconds < 1:
        raise ValueError(f"timeout duration {text!r} is shorter than the 1 second minimum")
    if seconds > MAX_TIMEOUT_SECONDS:
        raise ValueError(
            f"timeout duration {text!r} is longer than the 14 days maximum "
            f"({MAX_TIMEOUT_SECONDS} seconds)"
        )
    return seconds


def parse_slow_seconds(text: str | None = None) -> int:
    """A `/slow` argument in seconds ("10", "10s", "2m"; none -> 30); 3 to 120 seconds."""
    if text is None or not text.strip():
        return DEFAULT_SLOW_SECONDS
    seconds = _parse_seconds(text, what="slow mode delay", bare_unit=1)
    if not MIN_SLOW_SECONDS <= seconds <= MAX_SLOW_SECONDS:
        raise ValueError(
            f"slow mode delay {text!r} must be {MIN_SLOW_SECONDS} to {MAX_SLOW_SECONDS} seconds"
        )
    return seconds


def parse_followers_minutes(text: str | None = None) -> int:
    """A `/followers` argument in minutes ("0", "10", "10m", "1h", "1w", "3mo"; none -> 0).

    A bare number is minutes; at most 3 months; it must come to whole minutes.
    """
    if text is None or not text.strip():
        return DEFAULT_FOLLOWERS_MINUTES
    seconds = _parse_seconds(text, what="followers-only duration", bare_unit=60)
    if seconds % 60:
        raise ValueError(f"followers-only duration {text!r} is not a whole number of minutes")
    minutes = seconds // 60
    if minutes > MAX_FOLLOWERS_MINUTES:
        raise ValueError(
            f"followers-only duration {text!r} is longer than the 3 months maximum "
            f"({MAX_FOLLOWERS_MINUTES} minutes)"
        )
    return minutes
