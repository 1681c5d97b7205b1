"""SPS parsing from real x264 sequence headers."""

import contextlib
import subprocess

import imageio_ffmpeg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamhub.protocols.h264 import H264Error, parse_sps, sps_from_flv_sequence_header


def _sps_of(width: int, height: int, profile: str) -> bytes:
    out = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
         f"testsrc2=size={width}x{height}:rate=30", "-frames:v", "1", "-c:v", "libx264",
         "-profile:v", profile, "-pix_fmt", "yuv420p", "-f", "h264", "-"],
        check=True, capture_output=True,
    ).stdout
    for nal in out.split(b"\x00\x00\x01"):
        if nal and nal[0] & 0x1F == 7:
            return nal.rstrip(b"\x00")
    raise AssertionError("no SPS in x264 output")


@pytest.mark.parametrize(
    ("w", "h", "profile"),
    [(1920, 1080, "high"), (1280, 720, "main"), (854, 480, "baseline"), (320, 240, "high")],
)
def test_picture_size_from_x264(w: int, h: int, profile: str) -> None:
    info = parse_sps(_sps_of(w, h, profile))
    assert (info.width, info.height) == (w, h)


def test_from_flv_sequence_header() -> None:
    sps = _sps_of(640, 360, "high")
    record = bytes([1, sps[1], sps[2], sps[3], 0xFF, 0xE1]) + len(sps).to_bytes(2, "big") + sps
    payload = bytes([0x17, 0, 0, 0, 0]) + record + b"\x01\x00\x00"
    assert sps_from_flv_sequence_header(payload).height == 360
    with pytest.raises(H264Error):
        sps_from_flv_sequence_header(payload[:12])
    with pytest.raises(H264Error):
        sps_from_flv_sequence_header(b"\x27\x01\x00\x00\x00")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_fuzz_only_h264_errors(data: bytes) -> None:
    with contextlib.suppress(H264Error):
        parse_sps(b"\x67" + data)
