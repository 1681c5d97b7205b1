"""Subscriber, founder and Bits badges: who shows which `badges`/`badge-info` version."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

# Twitch's Bits badge tiers: the highest one not above the user's cheered total in the channel
BITS_TIERS: tuple[int, ...] = (
    1, 100, 1000, 5000, 10000, 25000, 50000, 75000, 100000, 200000, 300000, 400000, 500000,
    600000, 700000, 800000, 900000, 1000000, 1250000, 1500000, 1750000, 2000000, 2500000,
    3000000, 3500000, 4000000, 4500000, 5000000,
)
SUB_PLANS = {1: "1000", 2: "2000", 3: "3000"}  # tier -> Helix/IRC plan id


@dataclass(frozen=True, slots=True)
class SubscriberStatus:
    """An active subscription as chat sees it: tier 1..3, cumulative months, founder, and
    when the paid/granted period ends (unix time; after it the badge is gone)."""

    tier: int
    months: int
    founder: bool = False
    ends_at: float = float("inf")

    def active(self, now: float) -> bool:
        return now < self.ends_at


def subscriber_badge(status: SubscriberStatus) -> tuple[str, str]:
    """(badge, badge-info) of a subscriber: `founder/0` + `founder/<months>` for founders,
    else `subscriber/0|2000|3000` + `subscriber/<months>`."""
    if status.founder:
        return "founder/0", f"founder/{status.months}"
    version = 0 if status.tier <= 1 else status.tier * 1000
    return f"subscriber/{version}", f"subscriber/{status.months}"


def bits_tier(cheered: int) -> int | None:
    """The Bits badge tier earned by `cheered` Bits in a channel (None below 1)."""
    i = bisect.bisect_right(BITS_TIERS, cheered)
    return BITS_TIERS[i - 1] if i else None


def bits_badge(cheered: int) -> str | None:
    tier = bits_tier(cheered)
    return None if tier is None else f"bits/{tier}"
