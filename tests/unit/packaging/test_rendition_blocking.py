"""Blocking playlist reload, delta updates and blocking part requests (RFC 8216bis 6.2.5/6.2.6)."""

from __future__ import annotations

import asyncio
import re

import pytest

from streamhub.packaging import NotFound, PlaylistError, RenditionPackager, Unavailable

from .conftest import Feeder, Stream


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_reload_blocks_until_the_part_exists(stream: Stream) -> None:
    r = RenditionPackager("720p")
    f = Feeder(r, stream)
    f.fragments(12)  # seg-0 complete, seg-1 has parts 0..1
    assert (r.last_msn, r.last_part) == (1, 1)
    task = asyncio.create_task(r.playlist(1, 2))
    await settle()
    assert not task.done()
    f.fragments(1)
    text = await asyncio.wait_for(task, 1)
    assert 'URI="part-1-2.m4s"' in text
    assert '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part-1-3.m4s"' in text


async def test_msn_without_part_waits_for_the_complete_segment(stream: Stream) -> None:
    r = RenditionPackager("720p")
    f = Feeder(r, stream)
    f.fragments(12)
    task = asyncio.create_task(r.playlist(1))
    f.fragments(8)  # seg-1 has all 10 parts but is not known to be complete yet
    await settle()
    assert not task.done()
    f.fragments(1)  # the next IDR fragment closes seg-1
    text = await asyncio.wait_for(task, 1)
    assert "seg-1.m4s" in text


async def test_part_past_the_last_rolls_over_to_the_next_segment(stream: Stream) -> None:
    r = RenditionPackager("720p")
    f = Feeder(r, stream)
    f.fragments(19)  # seg-0 complete (10 parts), seg-1 parts 0..8
    assert "seg-0.m4s" in await r.playlist(0, 10)  # seg-0 has 10 parts -> means 1.0, present
    task = asyncio.create_task(r.playlist(1, 15))  # seg-1 will have 10 parts -> 2.0
    f.fragments(1)
    await settle()
    assert not task.done()
    f.fragments(1)
    text = await asyncio.wait_for(task, 1)
    assert 'URI="part-2-0.m4s"' in text


async def test_old_requests_return_immediately(stream: Stream) -> None:
    r = RenditionPackager("720p")
    f = Feeder(r, stream)
    f.rest()
    current = await r.playlist()
    assert await asyncio.wait_for(r.playlist(0, 0), 0.5) == current
    assert await asyncio.wait_for(r.playlist(0), 0.5) == current


async def test_bad_directives_are_400(stream: Stream) -> None:
    r = RenditionPackager("720p")
    Feeder(r, stream).fragments(12)  # last complete segment: 0; in progress: 1 (2 parts)
    limit = int(3 / r.effective_part_target)  # Advance Part Limit, counted from part 1.1
    for msn, part in [(None, 1), (-1, None), (1, -1), (3, None), (3, 0), (1, 2 + limit)]:
        with pytest.raises(PlaylistError) as info:
            await r.playlist(msn, part)
        assert info.value.status == 400, (msn, part)
    # within limits: these block (and time out) rather than fail fast
    for msn, part in [(2, None), (2, 0), (1, 1 + limit)]:
        r2 = RenditionPackager("720p", block_timeout=0.01)
        Feeder(r2, stream).fragments(12)
        with pytest.raises(PlaylistError) as info:
            await r2.playlist(msn, part)
        assert info.value.status == 503, (msn, part)


async def test_reload_times_out_with_503(stream: Stream) -> None:
    r = RenditionPackager("720p", block_timeout=0.02)
    with pytest.raises(PlaylistError) as info:
        await r.playlist()  # nothing published yet
    assert info.value.status == 503
    Feeder(r, stream).fragments(12)
    with pytest.raises(PlaylistError) as info:
        await r.playlist(1, 5)
    assert info.value.status == 503


async def test_thousands_of_waiters_share_one_event(stream: Stream) -> None:
    r = RenditionPackager("720p")
    f = Feeder(r, stream)
    f.fragments(12)
    reloads = [asyncio.create_task(r.playlist(1, 2)) for _ in range(2000)]
    parts = [asyncio.create_task(r.get_part(1, 2)) for _ in range(500)]
    await settle()
    assert len(r._reload_waiters) == 1 and len(r._part_waiters) == 1
    f.fragments(1)
    texts = await asyncio.wait_for(asyncio.gather(*reloads), 2)
    datas = await asyncio.wait_for(asyncio.gather(*parts), 2)
    assert len({id(x) for x in texts}) == 1  # rendered once, shared
    assert all(d == stream.fragments[12].data for d in datas)
    assert not r._reload_waiters and not r._part_waiters


async def test_end_wakes_waiters_and_ignores_directives(stream: Stream) -> None:
    r = RenditionPackager("720p")
    f = Feeder(r, stream)
    f.fragments(12)
    reload = asyncio.create_task(r.playlist(1, 5))
    part = asyncio.create_task(r.get_part(1, 2))
    await settle()
    r.end()
    text = await asyncio.wait_for(reload, 1)
    assert text.endswith("#EXT-X-ENDLIST\n")
    with pytest.raises(NotFound):
        await asyncio.wait_for(part, 1)
    assert (await r.playlist(99, 99, skip=True)) == text  # ENDLIST: directives ignored


async def test_hinted_part_blocks_other_future_parts_404(stream: Stream) -> None:
    r = RenditionPackager("720p", block_timeout=0.02)
    f = Feeder(r, stream)
    f.fragments(12)
    task = asyncio.create_task(r.get_part(1, 2))
    await settle()
    assert not task.done()
    f.fragments(1)
    assert await asyncio.wait_for(task, 1) == stream.fragments[12].data
    with pytest.raises(NotFound):
        await r.get_part(1, 4)  # not hinted: 404 at once
    with pytest.raises(NotFound):
        await r.get_part(5, 0)
    with pytest.raises(Unavailable):
        await r.get_part(1, 3)  # hinted but the producer stalls


async def test_delta_update_skips_old_segments(stream: Stream) -> None:
    r = RenditionPackager("720p", window_segments=10)
    f = Feeder(r, stream)
    for _ in range(3):
        f.rest()
        f.restart()
    f.fragments(5)  # 9 complete segments (18 s) + 1 s in progress
    full = await r.playlist()
    delta = await r.playlist(skip=True)
    assert "#EXT-X-SKIP" not in full
    skipped = int(re.findall(r"#EXT-X-SKIP:SKIPPED-SEGMENTS=(\d+)", delta)[0])
    # CAN-SKIP-UNTIL=12: segments ending more than 12 s before the end (19 s) may go: 0..2
    assert skipped == 3
    assert "#EXT-X-MEDIA-SEQUENCE:0\n" in delta
    assert "seg-2.m4s" not in delta and "seg-3.m4s" in delta
    # the first listed segment still carries its MAP and its discontinuity tag
    after_skip = delta.split(f"SKIPPED-SEGMENTS={skipped}\n", 1)[1]
    assert after_skip.startswith('#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI="init-1.mp4"\n')
    assert len(re.findall(r"^seg-", delta, re.M)) == 9 - skipped


async def test_hint_at_segment_boundary_names_the_next_segment(stream: Stream) -> None:
    r = RenditionPackager("720p", block_timeout=0.05)
    f = Feeder(r, stream)
    f.fragments(19)  # seg-1 has 9 parts (1.8 s): next part is still 1.9
    assert 'PRELOAD-HINT:TYPE=PART,URI="part-1-9.m4s"' in await r.playlist(1, 8)
    f.fragments(1)  # seg-1 at 2.0 s: the IDR fragment comes next and opens seg-2
    assert 'PRELOAD-HINT:TYPE=PART,URI="part-2-0.m4s"' in await r.playlist(1, 9)
    hinted = asyncio.create_task(r.get_part(2, 0))
    other = asyncio.create_task(r.get_part(1, 10))  # the other place it could have landed
    await settle()
    assert not hinted.done() and not other.done()
    f.fragments(1)
    assert await asyncio.wait_for(hinted, 1) == stream.fragments[20].data
    with pytest.raises(NotFound):
        await asyncio.wait_for(other, 1)  # segment 1 closed without a part 10


async def test_delta_update_with_nothing_to_skip_still_says_so(stream: Stream) -> None:
    r = RenditionPackager("720p")
    Feeder(r, stream).rest()
    delta = await r.playlist(skip=True)
    assert "#EXT-X-SKIP:SKIPPED-SEGMENTS=0\n" in delta
    assert delta.replace("#EXT-X-SKIP:SKIPPED-SEGMENTS=0\n", "") == await r.playlist()
