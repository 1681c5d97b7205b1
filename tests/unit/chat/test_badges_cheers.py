"""Subscriber/founder/Bits badge computation and cheermote parsing (with hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamhub.chat.badges import (
    BITS_TIERS,
    SubscriberStatus,
    bits_badge,
    bits_tier,
    subscriber_badge,
)
from streamhub.chat.cheers import MAX_CHEER, CheerParser


@pytest.mark.parametrize(("status", "badge", "info"), [
    (SubscriberStatus(1, 1), "subscriber/0", "subscriber/1"),
    (SubscriberStatus(2, 7), "subscriber/2000", "subscriber/7"),
    (SubscriberStatus(3, 24), "subscriber/3000", "subscriber/24"),
    (SubscriberStatus(1, 3, founder=True), "founder/0", "founder/3"),
    (SubscriberStatus(3, 5, founder=True), "founder/0", "founder/5"),
])
def test_subscriber_badge(status: SubscriberStatus, badge: str, info: str) -> None:
    assert subscriber_badge(status) == (badge, info)


def test_subscription_is_active_until_its_period_ends() -> None:
    status = SubscriberStatus(1, 1, ends_at=1000.0)
    assert status.active(999.9) and not status.active(1000.0)


@pytest.mark.parametrize(("cheered", "tier"), [
    (0, None), (1, 1), (99, 1), (100, 100), (999, 100), (1000, 1000), (4999, 1000),
    (5000, 5000), (10000, 10000), (24999, 10000), (25000, 25000), (50000, 50000),
    (75000, 75000), (99999, 75000), (100000, 100000), (199999, 100000), (200000, 200000),
    (10**9, 5000000),
])
def test_bits_tiers(cheered: int, tier: int | None) -> None:
    assert bits_tier(cheered) == tier
    assert bits_badge(cheered) == (None if tier is None else f"bits/{tier}")


@given(st.integers(min_value=0, max_value=10**8))
def test_bits_tier_is_the_highest_reached(cheered: int) -> None:
    tier = bits_tier(cheered)
    reached = [t for t in BITS_TIERS if t <= cheered]
    assert tier == (max(reached) if reached else None)


@pytest.mark.parametrize(("text", "amounts"), [
    ("Cheer100", [100]),
    ("cheer1 great stream CHEER50 cHeEr9", [1, 50, 9]),
    ("hello Cheer100!", []),  # not a whole word
    ("xCheer100 Cheer Cheer0 Cheer01 Cheer-5 Cheer1.5", []),
    ("Kappa Cheer10 Kappa", [10]),
    ("\x01ACTION throws Cheer25\x01", [25]),
    ("Cheer100\tCheer200\nCheer300", [100, 200, 300]),
    ("", []),
])
def test_cheer_amounts(text: str, amounts: list[int]) -> None:
    parser = CheerParser()
    assert parser.amounts(text) == amounts
    assert parser.total(text) == sum(amounts)


def test_other_prefixes_and_the_per_message_cap() -> None:
    parser = CheerParser(("Cheer", "Corgo"))
    assert parser.amounts("corgo5 Cheer5 uni5") == [5, 5]
    with pytest.raises(ValueError, match="at most"):
        CheerParser().total(" ".join(["Cheer9999999"] * 2))
    assert CheerParser().total(f"Cheer{MAX_CHEER}") == MAX_CHEER


_filler = st.text(alphabet=st.characters(blacklist_categories=("Zs", "Zl", "Zp", "Cc")), min_size=1,
                  max_size=12).filter(lambda w: not w.lower().startswith("cheer"))


@given(st.lists(st.tuples(st.integers(1, 99_999), st.sampled_from(["Cheer", "cheer", "CHEER",
                                                                   "cHEER"]), _filler),
                max_size=8))
def test_cheer_total_is_the_sum_of_cheermote_words(words: list[tuple[int, str, str]]) -> None:
    text = " ".join(f"{filler} {prefix}{amount}" for amount, prefix, filler in words)
    assert CheerParser().total(text) == sum(a for a, _, _ in words)


@given(st.text(max_size=300))
def test_parser_accepts_any_text(text: str) -> None:
    amounts = CheerParser().amounts(text)
    assert all(a > 0 for a in amounts)
    assert len(amounts) <= len(text.split())
