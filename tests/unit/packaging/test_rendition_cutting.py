"""RenditionPackager: parts, segment cutting at keyframes, playlists, discontinuities."""

from __future__ import annotations

import re

import pytest

from streamhub.packaging import NotFound, RenditionPackager
from streamhub.protocols.fmp4 import Fmp4Error

from .conftest import T0, Feeder, Stream


def segment_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("seg-")]


async def test_segments_cut_at_keyframes_parts_are_fragments(stream: Stream) -> None:
    r = RenditionPackager("720p")
    f = Feeder(r, stream, seed=1)
    f.rest()
    text = await r.playlist()
    assert segment_lines(text) == ["seg-0.m4s", "seg-1.m4s"]  # seg-2 is still in progress
    durations = [float(d) for d in re.findall(r"#EXTINF:([\d.]+),", text)]
    assert durations == pytest.approx([2.0, 2.0], abs=0.03)
    # every fragment is one part; each segment's first part is the IDR one
    part_lines = re.findall(r'#EXT-X-PART:DURATION=([\d.]+),URI="part-(\d+)-(\d+)\.m4s"(.*)', text)
    assert len(part_lines) == len(stream.fragments)
    for _, msn, idx, rest in part_lines:
        assert (rest == ",INDEPENDENT=YES") == (idx == "0"), (msn, idx)
    # seg-2 reached its 2 s target: the next fragment should be the IDR opening seg-3
    assert text.endswith('#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part-3-0.m4s"\n')
    assert (r.last_msn, r.last_part) == (2, 9)
    # bytes: a part is exactly the ffmpeg fragment, a segment is its parts concatenated
    assert await r.get_part(1, 0) == stream.fragments[10].data
    assert r.get_segment(1) == b"".join(fr.data for fr in stream.fragments[10:20])
    assert r.get_init(0) == stream.init.data
    assert r.codecs == stream.init.info.codecs
    assert (r.width, r.height) == (320, 240)
    assert r.frame_rate == pytest.approx(30.0)


async def test_header_values(stream: Stream) -> None:
    r = RenditionPackager("720p", part_target=0.2, segment_target=2.0)
    Feeder(r, stream).rest()
    r.end()
    text = await r.playlist()
    assert "#EXT-X-VERSION:10\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-TARGETDURATION:2\n" in text
    # parts of the first segment (first fragment is 0.221 s) are no longer listed once ended
    assert (
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.0,PART-HOLD-BACK=0.6\n"
        in (text)
    )
    assert "#EXT-X-PART-INF:PART-TARGET=0.2\n" in text
    assert text.endswith("#EXT-X-ENDLIST\n")
    assert "PRELOAD-HINT" not in text
    assert segment_lines(text) == ["seg-0.m4s", "seg-1.m4s", "seg-2.m4s"]


async def test_part_target_covers_longer_parts(stream: Stream) -> None:
    r = RenditionPackager("720p")
    Feeder(r, stream).fragments(3)  # the first ffmpeg fragment lasts ~0.221 s
    assert r.effective_part_target == pytest.approx(0.222)


async def test_parts_only_near_live_edge_and_pdt(stream: Stream) -> None:
    r = RenditionPackager("720p")
    f = Feeder(r, stream)
    f.rest()
    f.restart()
    f.fragments(12)  # new run: seg-3 (10 parts) complete, seg-4 in progress
    text = await r.playlist()
    assert segment_lines(text) == [f"seg-{i}.m4s" for i in range(4)]
    listed = {int(m) for m in re.findall(r'URI="part-(\d+)-\d+\.m4s"', text)}
    assert listed == {2, 3, 4}  # last two complete segments + the one in progress
    # PDT on every segment, advancing by media time within a run
    pdts = re.findall(r"#EXT-X-PROGRAM-DATE-TIME:(\S+)", text)
    assert len(pdts) == 5
    model = r.build_model()
    seg0, seg1 = model.segments[0], model.segments[1]
    assert seg0.program_date_time is not None and seg1.program_date_time is not None
    assert seg1.program_date_time - seg0.program_date_time == pytest.approx(seg0.duration)
    # anchored to the ingest clock: the first fragment completed at T0 + its duration
    assert seg0.program_date_time == pytest.approx(T0, abs=1e-6)


async def test_discontinuity_closes_short_segment_and_emits_new_map(stream: Stream) -> None:
    r = RenditionPackager("720p")
    f = Feeder(r, stream)
    f.fragments(14)  # seg-0 complete, seg-1 has 4 parts
    f.restart()
    f.fragments(3)
    text = await r.playlist()
    assert segment_lines(text) == ["seg-0.m4s", "seg-1.m4s"]
    seg1 = r.build_model().segments[1]
    assert seg1.duration == pytest.approx(0.8, abs=0.01)  # closed early, shorter
    assert text.count("#EXT-X-DISCONTINUITY\n") == 1
    tail = text.split("seg-1.m4s\n", 1)[1]
    assert tail.startswith('#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI="init-1.mp4"\n#EXT-X-PROGRAM')
    assert "part-2-0.m4s" in tail  # media sequence keeps counting
    assert r.get_init(1) == stream.init.data
    # the segment in progress jumped: the old hint is gone
    with pytest.raises(NotFound):
        await r.get_part(1, 4)


async def test_window_eviction_and_discontinuity_sequence(stream: Stream) -> None:
    r = RenditionPackager("720p", window_segments=7)
    f = Feeder(r, stream)
    for _ in range(3):
        f.rest()
        f.restart()
    f.rest()  # 12 segments made: 0..10 complete, 11 in progress
    model = r.build_model()
    assert [s.uri for s in model.segments] == [f"seg-{i}.m4s" for i in range(4, 11)]
    assert model.media_sequence == 4
    assert model.discontinuity_sequence == 1  # seg-3 (first of run 2) was evicted with its tag
    assert [s.discontinuity for s in model.segments] == [
        False,
        False,
        True,
        False,
        False,
        True,
        False,
    ]
    with pytest.raises(NotFound):
        r.get_segment(3)
    with pytest.raises(NotFound):
        await r.get_part(3, 0)
    with pytest.raises(NotFound):
        r.get_init(0)  # no listed segment uses it any more
    assert r.get_init(3) == stream.init.data


async def test_new_init_on_same_pipe_is_an_implicit_discontinuity(stream: Stream) -> None:
    r = RenditionPackager("720p")
    r.feed(stream.raw, T0)
    r.feed(stream.raw[:4000] + b"", T0 + 7)  # same init bytes again: ignored
    text = await r.playlist()
    assert "DISCONTINUITY" not in text
    other = RenditionPackager("720p")
    other.feed(stream.raw, T0)
    changed = bytearray(stream.init.data)
    changed[-1] ^= 0xFF  # differs (inside udta), still a valid init
    other.feed(bytes(changed) + b"".join(fr.data for fr in stream.fragments[:3]), T0 + 7)
    text = await other.playlist()
    assert "#EXT-X-DISCONTINUITY\n" in text and 'URI="init-1.mp4"' in text


async def test_feed_errors(stream: Stream) -> None:
    r = RenditionPackager("720p")
    with pytest.raises(Fmp4Error):
        r.feed(stream.fragments[0].data, T0)  # moof before init
    r.discontinuity()  # resynchronise with a fresh producer
    r.feed(stream.raw, T0)
    r.end()
    with pytest.raises(RuntimeError):
        r.feed(b"", T0)
    with pytest.raises(ValueError):
        RenditionPackager("../etc")
    with pytest.raises(ValueError):
        RenditionPackager("x", part_target=0)


async def test_clock_used_when_no_wallclock_given(stream: Stream) -> None:
    r = RenditionPackager("720p", clock=lambda: 1234.5)
    r.feed(stream.raw)
    first = r.build_model().segments[0]
    assert first.program_date_time == pytest.approx(1234.5 - stream.fragments[0].duration)


async def test_bandwidth_measured_over_window(stream: Stream) -> None:
    r = RenditionPackager("720p", bandwidth_hint=500_000)
    assert r.bandwidth == (500_000, 500_000)
    Feeder(r, stream).rest()
    bw = r.bandwidth
    assert bw is not None
    peak, avg = bw
    sizes = [len(r.get_segment(i)) * 8 / r.build_model().segments[i].duration for i in (0, 1)]
    assert peak == pytest.approx(max(sizes), abs=1)
    assert min(sizes) - 1 <= avg <= peak


def test_refined_media_epoch_applies_to_later_segments(stream: Stream) -> None:
    p = RenditionPackager("v", window_segments=7)
    p.set_media_epoch(T0)
    feeder = Feeder(p, stream)
    feeder.fragments(12)  # segment 0 complete, segment 1 started
    first = p.build_model().segments
    p.set_media_epoch(T0 - 0.5)
    feeder.rest()
    p.end()  # closes the last segment (started after the refinement)
    model = p.build_model()
    segs = model.segments
    assert model.media_sequence == 0
    assert segs[0].program_date_time == first[0].program_date_time == T0
    later = list(enumerate(segs))[2:]  # list index == msn here
    assert later and all(
        s.program_date_time is not None and abs(s.program_date_time - (T0 - 0.5 + 2.0 * msn))
        < 0.05 for msn, s in later
    )
