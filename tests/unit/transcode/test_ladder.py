"""Ladder policy: source copy plus rungs strictly below the source, never upscaled."""

from streamhub.config import DEFAULT_LADDER
from streamhub.transcode.ladder import SourceInfo, plan_outputs


def names(src: SourceInfo, **kw: bool) -> list[str]:
    return [o.name for o in plan_outputs(src, DEFAULT_LADDER, **kw)]


def test_1080p_gets_full_ladder() -> None:
    outs = plan_outputs(SourceInfo(1920, 1080, 30.0, 6000), DEFAULT_LADDER)
    assert [o.name for o in outs] == ["source", "720p", "480p", "360p"]
    sizes = [(o.width, o.height) for o in outs]
    assert sizes == [(1920, 1080), (1280, 720), (854, 480), (640, 360)]
    assert outs[0].copy_video and not any(o.copy_video for o in outs[1:])
    assert outs[0].video_kbps == 6000


def test_never_upscales_or_duplicates_source_height() -> None:
    assert names(SourceInfo(1280, 720, 30.0)) == ["source", "480p", "360p"]
    assert names(SourceInfo(640, 360, 30.0)) == ["source"]
    assert names(SourceInfo(320, 240, 30.0)) == ["source"]


def test_frame_rate_never_raised() -> None:
    outs = plan_outputs(SourceInfo(1920, 1080, 25.0), DEFAULT_LADDER)
    assert {o.fps for o in outs[1:]} == {25.0}
    outs60 = plan_outputs(SourceInfo(1920, 1080, 60.0), DEFAULT_LADDER)
    assert outs60[0].fps == 60.0 and {o.fps for o in outs60[1:]} == {30.0}


def test_even_dimensions_for_odd_aspect() -> None:
    outs = plan_outputs(SourceInfo(1440, 1080, 30.0), DEFAULT_LADDER)
    assert all(o.width % 2 == 0 and o.height % 2 == 0 for o in outs)
    assert outs[1].width == 960


def test_source_only_mode() -> None:
    assert names(SourceInfo(1920, 1080, 30.0), source_only=True) == ["source"]


def test_bandwidth_includes_audio_and_overhead() -> None:
    out = plan_outputs(SourceInfo(1920, 1080, 30.0), DEFAULT_LADDER)[1]
    assert out.bandwidth == int((3000 + 128) * 1000 * 1.1)
