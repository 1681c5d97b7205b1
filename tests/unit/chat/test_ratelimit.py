"""Sliding-window limiter with a fake clock, memory bound, and the Twitch chat limit policy."""

from __future__ import annotations

import bisect

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamhub.chat.ratelimit import ChatRateLimiter, Limit, RateLimits, SlidingWindowLimiter


def test_limit_then_refuse_then_expire() -> None:
    limiter = SlidingWindowLimiter(3, 10.0)
    assert [limiter.allow("a", t) for t in (0.0, 1.0, 2.0)] == [True, True, True]
    assert limiter.allow("a", 3.0) is False
    assert limiter.retry_after("a", 3.0) == pytest.approx(7.0)
    assert limiter.allow("a", 9.999) is False
    assert limiter.allow("a", 10.0) is True  # the event at 0 no longer counts
    assert limiter.allow("a", 10.5) is False
    assert limiter.retry_after("a", 10.5) == pytest.approx(0.5)
    assert limiter.count("a", 10.5) == 3


def test_refused_events_are_not_recorded() -> None:
    limiter = SlidingWindowLimiter(1, 10.0)
    assert limiter.allow("a", 0.0)
    for t in range(1, 10):
        assert not limiter.allow("a", float(t))
    assert limiter.allow("a", 10.0)


def test_keys_are_independent() -> None:
    limiter = SlidingWindowLimiter(1, 5.0)
    assert limiter.allow("a", 0.0)
    assert limiter.allow("b", 0.0)
    assert not limiter.allow("a", 1.0)
    assert limiter.retry_after("b", 1.0) == pytest.approx(4.0)
    assert limiter.retry_after("c", 1.0) == 0.0


def test_old_keys_are_pruned() -> None:
    limiter = SlidingWindowLimiter(5, 10.0)
    for i in range(1000):
        limiter.allow(f"user{i}", float(i) / 10)  # 10 new keys per second
    assert len(limiter) <= 101
    limiter.allow("late", 1000.0)
    assert len(limiter) == 1
    assert limiter.count("user5", 1000.0) == 0


def test_refusing_and_retry_after_also_prune() -> None:
    limiter = SlidingWindowLimiter(1, 1.0)
    limiter.allow("a", 0.0)
    limiter.allow("b", 0.5)
    assert limiter.retry_after("x", 1.2) == 0.0
    assert len(limiter) == 1


def test_clock_going_backwards_never_opens_a_burst() -> None:
    limiter = SlidingWindowLimiter(2, 10.0)
    assert limiter.allow("a", 100.0)
    assert limiter.allow("a", 50.0)  # treated as 100.0
    assert not limiter.allow("a", 0.0)
    assert limiter.retry_after("a", 0.0) == pytest.approx(10.0)


def test_forget() -> None:
    limiter = SlidingWindowLimiter(1, 10.0)
    limiter.allow("a", 0.0)
    limiter.forget("a")
    limiter.forget("never-seen")
    assert limiter.allow("a", 1.0)


def test_limit_override_shares_the_count() -> None:
    limiter = SlidingWindowLimiter(5, 10.0)
    for t in range(3):
        assert limiter.allow("a", float(t), limit=5)
    assert not limiter.allow("a", 3.0, limit=3)
    assert limiter.retry_after("a", 3.0, limit=3) == pytest.approx(7.0)  # event at 0
    assert limiter.retry_after("a", 3.0, limit=2) == pytest.approx(8.0)  # events at 0, 1
    assert limiter.allow("a", 3.0)
    with pytest.raises(ValueError, match="between 1 and 5"):
        limiter.allow("a", 3.0, limit=6)
    with pytest.raises(ValueError, match="between 1 and 5"):
        limiter.retry_after("a", 3.0, limit=0)


@pytest.mark.parametrize(("limit", "window"), [(0, 1.0), (-1, 1.0), (1, 0.0), (1, -2.0)])
def test_bad_construction(limit: int, window: float) -> None:
    with pytest.raises(ValueError):
        SlidingWindowLimiter(limit, window)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 6),
    st.floats(0.5, 20.0),
    st.lists(st.tuples(st.floats(0.0, 5.0), st.sampled_from("abc"), st.booleans()), max_size=120),
)
def test_never_more_than_limit_in_any_window(
    limit: int, window: float, steps: list[tuple[float, str, bool]]
) -> None:
    limiter = SlidingWindowLimiter(limit, window)
    now = 0.0
    accepted: dict[str, list[float]] = {}
    for delta, key, ask_retry in steps:
        now += delta
        wait = limiter.retry_after(key, now) if ask_retry else None
        ok = limiter.allow(key, now)
        if wait is not None:
            assert (wait == 0.0) == ok
            assert 0.0 <= wait <= window * (1 + 1e-9)  # float rounding only
        if ok:
            accepted.setdefault(key, []).append(now)
        else:
            # Refused only if the window really is full.
            times = accepted.get(key, [])
            assert sum(1 for t in times if t + window > now) >= limit
        assert len(limiter) <= 3
    for times in accepted.values():
        # Any half-open window [t, t + window) starting at an accepted event.
        for i, t in enumerate(times):
            assert bisect.bisect_left(times, t + window) - i <= limit


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0.0, 3.0), min_size=1, max_size=80))
def test_retry_after_is_exact(deltas: list[float]) -> None:
    limiter = SlidingWindowLimiter(3, 10.0)
    now = 0.0
    for delta in deltas:
        now += delta
        if not limiter.allow("k", now):
            wait = limiter.retry_after("k", now)
            assert wait > 0
            assert limiter.allow("k", now + wait)
            now += wait


def test_twitch_numbers() -> None:
    limits = RateLimits()
    assert limits.privmsg == Limit(20, 30.0)
    assert limits.privmsg_elevated == Limit(100, 30.0)
    assert limits.join_auth == Limit(50, 10.0)
    normal = limits.privmsg_limit(is_broadcaster=False, is_mod=False, is_vip=False)
    assert normal == Limit(20, 30.0)
    for role in ("is_broadcaster", "is_mod", "is_vip"):
        flags = {"is_broadcaster": False, "is_mod": False, "is_vip": False, role: True}
        assert limits.privmsg_limit(**flags) == Limit(100, 30.0)


def test_rate_limits_validation() -> None:
    with pytest.raises(ValueError, match="share a window"):
        RateLimits(privmsg=Limit(20, 30.0), privmsg_elevated=Limit(100, 60.0))
    with pytest.raises(ValueError, match="at least"):
        RateLimits(privmsg=Limit(200, 30.0))


def test_chat_limiter_privmsg_count_is_shared_across_roles() -> None:
    chat = ChatRateLimiter()
    for i in range(20):
        assert chat.allow_privmsg("conn1", i * 0.1, elevated=False)
    assert not chat.allow_privmsg("conn1", 2.0, elevated=False)
    assert chat.privmsg_retry_after("conn1", 2.0, elevated=False) == pytest.approx(28.0)
    # The same connection may keep talking where it is a moderator ...
    for _ in range(80):
        assert chat.allow_privmsg("conn1", 2.0, elevated=True)
    assert not chat.allow_privmsg("conn1", 2.0, elevated=True)
    assert chat.privmsg_retry_after("conn1", 2.0, elevated=True) == pytest.approx(28.0)
    # ... but not as a normal user until its count drops below 20 again.
    assert not chat.allow_privmsg("conn1", 31.0, elevated=False)
    assert chat.allow_privmsg("conn2", 2.0, elevated=False)
    chat.forget_connection("conn1")
    assert chat.allow_privmsg("conn1", 3.0, elevated=False)


def test_chat_limiter_join_and_auth() -> None:
    chat = ChatRateLimiter(RateLimits(join_auth=Limit(2, 10.0)))
    assert chat.allow_join_or_auth("10.0.0.1", 0.0)
    assert chat.allow_join_or_auth("10.0.0.1", 1.0)
    assert not chat.allow_join_or_auth("10.0.0.1", 2.0)
    assert chat.join_retry_after("10.0.0.1", 2.0) == pytest.approx(8.0)
    assert chat.allow_join_or_auth("10.0.0.2", 2.0)
    assert chat.allow_join_or_auth("10.0.0.1", 10.0)
