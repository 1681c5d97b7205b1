"""Cheermotes in a chat message: words `<prefix><amount>` (e.g. `Cheer100`) and their sum."""

from __future__ import annotations

import re
from collections.abc import Iterable

PREFIXES: tuple[str, ...] = ("cheer",)  # case-insensitive, like Twitch's
MAX_CHEER = 10_000_000  # one message never moves more Bits than this
_ACTION = re.compile(r"^\x01ACTION (.*)\x01$", re.DOTALL)


def _pattern(prefixes: Iterable[str]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(p) for p in sorted(prefixes, key=len, reverse=True))
    return re.compile(rf"(?:{alternatives})([1-9][0-9]{{0,7}})", re.IGNORECASE)


class CheerParser:
    """Finds cheermotes: a whole whitespace-separated word, a known prefix (any case) and a
    positive amount without leading zeros. `Cheer100!`, `xCheer100` and `Cheer0` are text."""

    def __init__(self, prefixes: Iterable[str] = PREFIXES) -> None:
        self._word = _pattern(prefixes)

    def amounts(self, text: str) -> list[int]:
        """The amount of every cheermote in `text` (a `/me` ACTION is looked into)."""
        action = _ACTION.match(text)
        if action is not None:
            text = action.group(1)
        out = []
        for word in text.split():
            m = self._word.fullmatch(word)
            if m is not None:
                out.append(int(m.group(1)))
        return out

    def total(self, text: str) -> int:
        """The Bits a message cheers (0: not a cheer). ValueError above MAX_CHEER."""
        total = sum(self.amounts(text))
        if total > MAX_CHEER:
            raise ValueError(f"a message can cheer at most {MAX_CHEER} Bits")
        return total
