"""Real fragmented-MP4 fixtures made with ffmpeg (imageio-ffmpeg), once per session."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg
import pytest

FRAG_FLAGS = ["-movflags", "frag_keyframe+empty_moov+default_base_moof", "-frag_duration", "200000"]


def make_fmp4(
    path: Path, *, seconds: int, gop: int, video: bool = True, audio: bool = True
) -> bytes:
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    if video:
        cmd += ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30"]
    if audio:
        cmd += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
    cmd += ["-t", str(seconds)]
    if video:
        cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-g", str(gop), "-pix_fmt", "yuv420p"]
    if audio:
        cmd += ["-c:a", "aac", "-b:a", "64k"]
    cmd += ["-f", "mp4", *FRAG_FLAGS, str(path)]
    subprocess.run(cmd, check=True, timeout=60)
    return path.read_bytes()


@pytest.fixture(scope="session")
def av_fmp4(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """3 s of 320x240@30 H.264 (IDR every 1 s) + AAC, 200 ms fragments."""
    return make_fmp4(tmp_path_factory.mktemp("fmp4") / "av.mp4", seconds=3, gop=30)


@pytest.fixture(scope="session")
def audio_fmp4(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """2 s of AAC only."""
    path = tmp_path_factory.mktemp("fmp4") / "a.mp4"
    return make_fmp4(path, seconds=2, gop=30, video=False)
