"""Emote detection in chat text and the Twitch `emotes` tag (code-point ranges, end inclusive)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = [
    "ACTION_PREFIX",
    "EmoteRanges",
    "find_emotes",
    "format_emotes_tag",
    "is_emote_only",
    "parse_emotes_tag",
    "split_action",
]

ACTION_PREFIX = "\x01ACTION "
"""How `/me text` travels in a PRIVMSG: `\\x01ACTION text\\x01`."""

EmoteRanges = list[tuple[str, list[tuple[int, int]]]]
"""[(emote id, [(start, end inclusive), ...]), ...] in order of first appearance."""


def split_action(text: str) -> tuple[str, bool]:
    """(the text inside `\\x01ACTION ...\\x01`, True) for a /me message, else (text, False).

    A missing closing `\\x01` is tolerated, as several clients omit it.
    """
    if not text.startswith(ACTION_PREFIX):
        return text, False
    inner = text[len(ACTION_PREFIX) :]
    if inner.endswith("\x01"):
        inner = inner[:-1]
    return inner, True


def find_emotes(text: str, codes: Mapping[str, str]) -> EmoteRanges:
    """The emotes in `text`, as Twitch reports them in the `emotes` tag.

    `codes` maps an emote code (e.g. "Kappa") to its id. A token is the text between
    single spaces (so "a  b" has an empty token between the spaces); a token is an emote
    when it equals a code exactly, case-sensitively. Positions count Unicode code points
    (an emoji is one), the end is inclusive, and for a /me message they are relative to
    the text inside `\\x01ACTION ...\\x01`. O(len(text)).
    """
    inner, _ = split_action(text)
    found: dict[str, list[tuple[int, int]]] = {}
    start = 0
    for token in inner.split(" "):
        if token:
            emote_id = codes.get(token)
            if emote_id is not None:
                found.setdefault(emote_id, []).append((start, start + len(token) - 1))
        start += len(token) + 1
    return list(found.items())


def format_emotes_tag(found: Sequence[tuple[str, Sequence[tuple[int, int]]]]) -> str:
    """The `emotes` tag value: `25:0-4,12-16/1902:6-10` ("" when there are none)."""
    return "/".join(
        emote_id + ":" + ",".join(f"{start}-{end}" for start, end in ranges)
        for emote_id, ranges in found
        if ranges
    )


def parse_emotes_tag(value: str) -> EmoteRanges:
    """Inverse of `format_emotes_tag`; raises ValueError naming what is malformed."""
    result: EmoteRanges = []
    if not value:
        return result
    for group in value.split("/"):
        emote_id, sep, ranges_text = group.partition(":")
        if not emote_id or not sep or not ranges_text:
            raise ValueError(f"emotes tag group {group!r} is not 'id:start-end[,start-end]'")
        ranges: list[tuple[int, int]] = []
        for item in ranges_text.split(","):
            start_text, dash, end_text = item.partition("-")
            if not (dash and start_text.isdigit() and end_text.isdigit()):
                raise ValueError(f"emotes tag range {item!r} in {group!r} is not 'start-end'")
            start, end = int(start_text), int(end_text)
            if end < start:
                raise ValueError(f"emotes tag range {item!r} ends before it starts")
            ranges.append((start, end))
        result.append((emote_id, ranges))
    return result


def is_emote_only(text: str, codes: Mapping[str, str]) -> bool:
    """True when every token of the (/me-unwrapped) text is an emote, and there is one."""
    inner, _ = split_action(text)
    tokens = [token for token in inner.split(" ") if token]
    return bool(tokens) and all(token in codes for token in tokens)
