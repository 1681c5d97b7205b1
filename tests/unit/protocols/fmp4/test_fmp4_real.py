"""Init and fragment parsing against real ffmpeg fragmented-MP4 output."""

from __future__ import annotations

import itertools
import random

import pytest

from streamhub.protocols.fmp4 import (
    Box,
    FragmentAssembler,
    InitSegment,
    MediaFragment,
    parse_fragment,
    parse_init,
)
from streamhub.protocols.fmp4.boxes import iter_boxes


def split(data: bytes, seed: int, max_chunk: int = 20_000) -> list[bytes]:
    rnd = random.Random(seed)
    out, i = [], 0
    while i < len(data):
        n = rnd.randint(1, max_chunk)
        out.append(data[i : i + n])
        i += n
    return out


def assemble(data: bytes, seed: int = 0) -> tuple[InitSegment, list[MediaFragment]]:
    asm = FragmentAssembler()
    events = [e for chunk in split(data, seed) for e in asm.feed(chunk)]
    init = events[0]
    assert isinstance(init, InitSegment)
    frags = [e for e in events[1:] if isinstance(e, MediaFragment)]
    assert len(frags) == len(events) - 1
    return init, frags


def test_init_codecs_dimensions_and_timescales(av_fmp4: bytes) -> None:
    init, _ = assemble(av_fmp4)
    info = parse_init(init.data)
    assert info == init.info
    assert info.video is not None and info.audio is not None
    assert info.video.codec is not None and info.video.codec.startswith("avc1.")
    assert len(info.video.codec) == len("avc1.") + 6
    assert info.audio.codec == "mp4a.40.2"
    assert info.codecs == f"{info.video.codec},mp4a.40.2"
    assert (info.width, info.height) == (320, 240)
    assert info.audio.sample_rate == 48000
    assert info.audio.timescale == 48000 and info.video.timescale > 0
    assert info.primary is info.video
    # ffmpeg writes a trex per track (defaults matter with default_base_moof)
    assert {t.defaults.sample_description_index for t in info.tracks} == {1}


def test_init_segment_is_ftyp_plus_moov(av_fmp4: bytes) -> None:
    init, frags = assemble(av_fmp4)
    assert [b.type for b in iter_boxes(init.data)] == ["ftyp", "moov"]
    assert av_fmp4.startswith(init.data)
    assert all([b.type for b in iter_boxes(f.data)] == ["moof", "mdat"] for f in frags)
    assert len(init.data) + sum(len(f.data) for f in frags) <= len(av_fmp4)


def test_fragments_durations_and_keyframes(av_fmp4: bytes) -> None:
    _, frags = assemble(av_fmp4)
    assert 12 <= len(frags) <= 18  # ~200 ms fragments over 3 s
    total = sum(f.duration for f in frags)
    assert total == pytest.approx(3.0, abs=0.1)
    # contiguous media timeline
    for a, b in itertools.pairwise(frags):
        assert b.info.start == pytest.approx(a.info.start + a.duration, abs=1e-6)
    keyframes = [round(f.info.start, 1) for f in frags if f.independent]
    assert keyframes[0] == 0.0
    assert len(keyframes) == 3  # -g 30 at 30 fps: one IDR per second
    for k, expected in zip(keyframes, (0.0, 1.0, 2.0), strict=True):
        assert k == pytest.approx(expected, abs=0.05)
    assert all(f.duration <= 0.25 for f in frags)


def test_fragment_tracks_and_sample_counts(av_fmp4: bytes) -> None:
    init, frags = assemble(av_fmp4)
    f = frags[1]
    video = f.info.track(1)
    audio = f.info.track(2)
    assert video is not None and audio is not None
    assert video.sample_count == 6  # 200 ms at 30 fps
    assert audio.seconds == pytest.approx(0.2, abs=0.03)
    assert f.data[4:8] == b"moof"
    moof = Box.parse(f.data[: int.from_bytes(f.data[:4], "big")])
    assert parse_fragment(moof, init.info) == f.info
    assert parse_fragment(bytes(moof), init.info) == f.info


def test_audio_only_fragments_are_independent(audio_fmp4: bytes) -> None:
    init, frags = assemble(audio_fmp4)
    assert init.info.video is None
    assert init.info.codecs == "mp4a.40.2"
    assert init.info.width is None
    assert frags and all(f.independent for f in frags)
    assert sum(f.duration for f in frags) == pytest.approx(2.0, abs=0.1)


def test_any_chunking_gives_identical_events(av_fmp4: bytes) -> None:
    whole = FragmentAssembler().feed(av_fmp4)
    for seed in range(3):
        asm = FragmentAssembler()
        chunked = [e for c in split(av_fmp4, seed, max_chunk=3000) for e in asm.feed(c)]
        assert chunked == whole
