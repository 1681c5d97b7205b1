"""Drawn emote PNGs are valid images; blob keys cannot escape the store."""

from pathlib import Path

import pytest

from streamhub.chat.emoteart import badge_png, encode_png
from streamhub.chat.images import probe_image
from streamhub.storage.blobs import LocalBlobStore, check_key


def test_drawn_png_is_a_valid_image(tmp_path: Path) -> None:
    import subprocess

    import imageio_ffmpeg

    png = badge_png("Kappa")
    assert (probe_image(png).format, probe_image(png).width) == ("png", 56)
    (tmp_path / "k.png").write_bytes(png)
    out = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(tmp_path / "k.png"),
         "-f", "rawvideo", "-pix_fmt", "rgba", "-"], capture_output=True, check=True,
    ).stdout
    assert len(out) == 56 * 56 * 4
    assert out[:4] == b"\0\0\0\0"  # transparent corner
    center = ((28 * 56) + 28) * 4
    assert out[center + 3] == 255  # opaque face
    assert badge_png("Kappa") == png and badge_png("LUL") != png
    with pytest.raises(ValueError):
        encode_png(2, 2, b"\0" * 15)


@pytest.mark.parametrize("key", ["../x", "/etc/passwd", "emotes/../../x", "a//b", "", "A/b",
                                 "emotes/.hidden", "x" * 200])
def test_bad_keys(key: str) -> None:
    with pytest.raises(ValueError):
        check_key(key)


async def test_store_roundtrip(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    await store.put("emotes/abc_1", b"data")
    assert await store.get("emotes/abc_1") == b"data"
    assert await store.get("emotes/missing") is None
    await store.delete("emotes/abc_1")
    assert await store.get("emotes/abc_1") is None
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".tmp-")]
