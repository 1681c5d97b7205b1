"""Token buckets and Helix paging helpers (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamhub.api.errors import ApiError
from streamhub.api.paging import Page, decode_cursor, encode_cursor, int_ids, offset_envelope
from streamhub.api.ratelimit import TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_capacity_then_refuses_then_refills() -> None:
    clock = Clock()
    buckets = TokenBuckets(10, 60.0, clock=clock, wall=clock)
    seen = [buckets.take("c:1") for _ in range(11)]
    assert all(a.allowed for a in seen[:10]) and not seen[10].allowed
    assert [a.remaining for a in seen[:3]] == [9, 8, 7]
    assert seen[10].remaining == 0 and seen[10].reset == 1060
    assert buckets.take("c:2").allowed  # other keys are independent
    clock.now += 6.0  # 10 per 60 s = one point every 6 s
    assert buckets.take("c:1").allowed
    assert not buckets.take("c:1").allowed


def test_bucket_eviction_keeps_working() -> None:
    clock = Clock()
    buckets = TokenBuckets(2, 1.0, clock=clock, wall=clock, max_keys=4)
    for i in range(20):
        assert buckets.take(f"k{i}").allowed
        clock.now += 0.01
    assert len(buckets._buckets) <= 4


@given(st.dictionaries(st.text(max_size=5), st.integers(), max_size=4))
def test_cursor_round_trip(value: dict[str, int]) -> None:
    assert decode_cursor(encode_cursor(value)) == value


@given(st.text(max_size=40))
def test_garbage_cursors_are_400_not_crashes(text: str) -> None:
    try:
        decode_cursor(text)
    except ApiError as exc:
        assert exc.status == 400


def test_offset_paging_walks_forward_and_back() -> None:
    rows = list(range(45))
    first = offset_envelope(rows[0:21], Page(20))
    assert first["data"] == rows[:20] and first["pagination"]["cursor"]
    second = offset_envelope(rows[20:41], Page(20, after=first["pagination"]["cursor"]))
    assert second["data"] == rows[20:40]
    third_page = Page(20, after=second["pagination"]["cursor"])
    assert third_page.offset() == 40
    last = offset_envelope(rows[40:61], third_page)
    assert last["data"] == rows[40:] and last["pagination"] == {}
    assert Page(20, before=second["pagination"]["cursor"]).offset() == 20


def test_int_ids_validation() -> None:
    assert int_ids(["1", "22"], "id") == [1, 22]
    for bad in (["x"], ["-1"], [""], ["1" * 19], [str(i) for i in range(101)]):
        with pytest.raises(ApiError) as info:
            int_ids(bad, "id")
        assert info.value.status == 400
