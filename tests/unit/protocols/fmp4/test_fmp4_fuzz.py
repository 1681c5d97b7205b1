"""Property tests: arbitrary or corrupted input only ever raises Fmp4Error."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamhub.protocols.fmp4 import Fmp4Error, FragmentAssembler


def feed_all(chunks: list[bytes]) -> None:
    asm = FragmentAssembler(max_box_size=1 << 20)
    try:
        for chunk in chunks:
            asm.feed(chunk)
    except Fmp4Error:
        pass


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=8))
def test_random_bytes_only_raise_fmp4error(chunks: list[bytes]) -> None:
    feed_all(chunks)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                b"ftyp",
                b"moov",
                b"moof",
                b"mdat",
                b"traf",
                b"trun",
                b"tfhd",
                b"tfdt",
                b"mfhd",
                b"\x00\x00\x00\x10",
                b"\x00\x00\x00\x01",
                b"\x00\x00\x00\x08",
            ]
        ),
        max_size=40,
    )
)
def test_box_shaped_noise_only_raises_fmp4error(tokens: list[bytes]) -> None:
    feed_all([b"".join(tokens)])


@pytest.fixture(scope="module")
def head(av_fmp4: bytes) -> bytes:
    return av_fmp4[:40_000]  # init + the first fragments


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_corrupted_real_stream_only_raises_fmp4error(head: bytes, data: st.DataObject) -> None:
    buf = bytearray(head)
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(buf) - 1))
        buf[pos] = data.draw(st.integers(0, 255))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(buf)), max_size=6)))
    chunks = [bytes(buf[a:b]) for a, b in zip([0, *cuts], [*cuts, len(buf)], strict=True)]
    feed_all(chunks)
