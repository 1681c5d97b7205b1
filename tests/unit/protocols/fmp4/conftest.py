"""Real fragmented-MP4 fixtures made with ffmpeg (imageio-ffmpeg), once per session."""

from __future__ import annotations

import pytest

from tests.media import make_fmp4


@pytest.fixture(scope="session")
def av_fmp4(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """3 s of 320x240@30 H.264 (IDR every 1 s) + AAC, 200 ms fragments."""
    return make_fmp4(tmp_path_factory.mktemp("fmp4") / "av.mp4", seconds=3, gop=30)


@pytest.fixture(scope="session")
def audio_fmp4(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """2 s of AAC only."""
    path = tmp_path_factory.mktemp("fmp4") / "a.mp4"
    return make_fmp4(path, seconds=2, gop=30, video=False)
