"""EventSub event bodies (Twitch field names) for chat actions: messages, bans, moderators."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from streamhub.chat.emotes import split_action


class Someone(Protocol):
    """A user as chat knows them (ChatterIdentity, ChatUser)."""

    @property
    def id(self) -> Any: ...

    @property
    def login(self) -> str: ...

    @property
    def display_name(self) -> str: ...


def _who(prefix: str, person: Someone) -> dict[str, Any]:
    return {f"{prefix}_id": str(person.id) if person.id is not None else None,
            f"{prefix}_login": person.login, f"{prefix}_name": person.display_name}


def _time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def fragments(
    text: str, emotes: Sequence[tuple[str, Sequence[tuple[int, int]]]], owner_id: int,
) -> list[dict[str, Any]]:
    """`message.fragments`: text and emote pieces, in order (positions are code points of
    the /me-unwrapped text, as in the `emotes` tag)."""
    spans = sorted((start, end, emote_id) for emote_id, ranges in emotes for start, end in ranges)
    out: list[dict[str, Any]] = []
    at = 0

    def plain(piece: str) -> None:
        if piece:
            out.append({"type": "text", "text": piece, "cheermote": None, "emote": None,
                        "mention": None})

    for start, end, emote_id in spans:
        if start < at:
            continue
        plain(text[at:start])
        out.append({"type": "emote", "text": text[start:end + 1], "cheermote": None,
                    "mention": None, "emote": {"id": emote_id, "emote_set_id": "0",
                                               "owner_id": str(owner_id), "format": ["static"]}})
        at = end + 1
    plain(text[at:])
    return out


def chat_message_event(
    channel: Someone, user_id: int, login: str, display_name: str, message_id: str, text: str,
    tags: Mapping[str, str], emotes: Sequence[tuple[str, Sequence[tuple[int, int]]]],
) -> dict[str, Any]:
    """`channel.chat.message` from an accepted PRIVMSG and its tags."""
    inner, action = split_action(text)
    badges = []
    months = dict(b.split("/", 1) for b in tags.get("badge-info", "").split(",") if "/" in b)
    for badge in filter(None, tags.get("badges", "").split(",")):
        set_id, _, version = badge.partition("/")
        badges.append({"set_id": set_id, "id": version, "info": months.get(set_id, "")})
    reply = None
    if tags.get("reply-parent-msg-id"):
        reply = {
            "parent_message_id": tags["reply-parent-msg-id"],
            "parent_message_body": tags.get("reply-parent-msg-body", ""),
            "parent_user_id": tags.get("reply-parent-user-id", ""),
            "parent_user_login": tags.get("reply-parent-user-login", ""),
            "parent_user_name": tags.get("reply-parent-display-name", ""),
            "thread_message_id": tags["reply-parent-msg-id"],
            "thread_user_id": tags.get("reply-parent-user-id", ""),
            "thread_user_login": tags.get("reply-parent-user-login", ""),
            "thread_user_name": tags.get("reply-parent-display-name", ""),
        }
    return {
        **_who("broadcaster_user", channel),
        "chatter_user_id": str(user_id), "chatter_user_login": login,
        "chatter_user_name": display_name,
        "message_id": message_id,
        "message": {"text": inner, "fragments": fragments(inner, emotes, channel.id)},
        "color": tags.get("color", ""),
        "badges": badges,
        "message_type": "action" if action else "text",
        "cheer": None,
        "reply": reply,
        "channel_points_custom_reward_id": None,
    }


def ban_event(
    channel: Someone, user: Someone, moderator: Someone, reason: str, now: float,
    expires: float | None,
) -> dict[str, Any]:
    """`channel.ban` (a ban, or a timeout when `expires` is set)."""
    return {
        **_who("user", user), **_who("broadcaster_user", channel),
        **_who("moderator_user", moderator),
        "reason": reason, "banned_at": _time(now),
        "ends_at": None if expires is None else _time(expires),
        "is_permanent": expires is None,
    }


def unban_event(channel: Someone, user: Someone, moderator: Someone) -> dict[str, Any]:
    """`channel.unban`."""
    return {**_who("user", user), **_who("broadcaster_user", channel),
            **_who("moderator_user", moderator)}


def role_event(channel: Someone, user: Someone) -> dict[str, Any]:
    """`channel.moderator.add` / `channel.moderator.remove`."""
    return {**_who("broadcaster_user", channel), **_who("user", user)}
