"""Image header probing on real files made by ffmpeg, and fuzzing."""

import contextlib
import subprocess
from pathlib import Path

import imageio_ffmpeg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamhub.chat.images import ImageError, probe_image


def make(tmp: Path, name: str, size: str, *extra: str) -> bytes:
    out = tmp / name
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
         f"testsrc2=size={size}:rate=1", "-frames:v", "1", *extra, str(out)],
        check=True, timeout=60,
    )
    return out.read_bytes()


@pytest.mark.parametrize(
    ("name", "size", "extra", "fmt"),
    [("a.png", "112x112", (), "png"), ("b.gif", "56x28", (), "gif"),
     ("c.webp", "28x28", ("-c:v", "libwebp"), "webp"),
     ("d.webp", "112x100", ("-c:v", "libwebp", "-lossless", "1"), "webp")],
)
def test_real_images(tmp_path: Path, name: str, size: str, extra: tuple[str, ...],
                     fmt: str) -> None:
    info = probe_image(make(tmp_path, name, size, *extra))
    w, h = map(int, size.split("x"))
    assert (info.format, info.width, info.height) == (fmt, w, h)
    assert info.content_type == f"image/{fmt}"


def test_refusals(tmp_path: Path) -> None:
    png = make(tmp_path, "big.png", "1100x20")
    with pytest.raises(ImageError, match="each side"):
        probe_image(png)
    with pytest.raises(ImageError, match="limit"):
        probe_image(b"\x89PNG\r\n\x1a\n" + b"\0" * (1 << 20))
    with pytest.raises(ImageError, match="not a PNG"):
        probe_image(b"<svg onload=alert(1)>")
    with pytest.raises(ImageError):
        probe_image(b"GIF89a")


@settings(max_examples=400, deadline=None)
@given(st.sampled_from([b"\x89PNG\r\n\x1a\n", b"GIF89a", b"RIFF\0\0\0\0WEBPVP8 ",
                        b"RIFF\0\0\0\0WEBPVP8L", b"RIFF\0\0\0\0WEBPVP8X", b""]),
       st.binary(max_size=64))
def test_fuzz_only_image_errors(prefix: bytes, rest: bytes) -> None:
    with contextlib.suppress(ImageError):
        probe_image(prefix + rest)
