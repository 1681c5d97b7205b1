"""Generated media for tests: small real fragmented MP4 files made with ffmpeg."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg

FRAG_FLAGS = ["-movflags", "frag_keyframe+empty_moov+default_base_moof", "-frag_duration", "200000"]


def make_fmp4(
    path: Path, *, seconds: int, gop: int, video: bool = True, audio: bool = True
) -> bytes:
    """320x240@30 H.264 (IDR every `gop` frames) and/or AAC, 200 ms fragments, as ffmpeg does."""
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
