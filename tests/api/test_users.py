"""Helix users: lookups, email visibility, description/display name updates, image uploads."""

from __future__ import annotations

import struct
import subprocess
import zlib
from pathlib import Path

from tests.api.conftest import ApiNode, assert_error


def png(width: int, height: int) -> bytes:
    """A real (tiny, grey) PNG image."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0,
                                                              0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_get_users_by_id_login_and_default(api: ApiNode) -> None:
    a, b = api.user(), api.user()
    me = api.get("/helix/users", a)
    assert me.status_code == 200, me.text
    [row] = me.json()["data"]
    assert row["id"] == a.uid and row["login"] == a.login and row["email"] == ""
    assert row["created_at"].endswith("Z") and row["profile_image_url"] == ""
    both = api.get("/helix/users", a, params=[("id", b.uid), ("login", a.login.upper())])
    assert [r["id"] for r in both.json()["data"]] == sorted([a.uid, b.uid], key=int)
    other = next(r for r in both.json()["data"] if r["id"] == b.uid)
    assert "email" not in other  # only the token's own user shows the email
    assert api.get("/helix/users", a, params={"id": "999999999"}).json()["data"] == []


def test_get_users_errors(api: ApiNode) -> None:
    a = api.user()
    assert_error(api.get("/helix/users"), 401, "missing")
    assert_error(api.get("/helix/users", "not-a-token"), 401, "invalid")
    assert_error(api.get("/helix/users", a, params={"id": "abc"}), 400, "id")
    assert_error(api.get("/helix/users", a, params=[("id", str(i)) for i in range(1, 102)]),
                 400, "at most")
    no_email = api.user(scopes=("chat:read",))
    assert "email" not in api.get("/helix/users", no_email).json()["data"][0]


def test_update_description_and_display_name(api: ApiNode) -> None:
    a = api.user()
    r = api.put("/helix/users", a, params={"description": "Hello <b>world</b>"})
    assert r.status_code == 200, r.text
    assert r.json()["data"][0]["description"] == "Hello <b>world</b>"
    r = api.put("/helix/users", a, params={"display_name": a.login.upper()})
    assert r.json()["data"][0]["display_name"] == a.login.upper()
    assert_error(api.put("/helix/users", a, params={"display_name": "someone_else"}), 400,
                 "capitalization")
    assert_error(api.put("/helix/users", a, params={"description": "x" * 301}), 400,
                 "description")
    assert_error(api.put("/helix/users", api.user(scopes=("chat:read",)),
                         params={"description": "x"}), 401, "user:edit")


def test_profile_image_and_banner_upload(api: ApiNode) -> None:
    a = api.user()
    image = png(64, 64)
    r = api.put("/helix/users/profile_image", a, content=image,
                headers={"Content-Type": "image/png"})
    assert r.status_code == 200, r.text
    url = r.json()["data"][0]["profile_image_url"]
    assert url.startswith(api.base_url) and url.endswith(".png")
    served = api.http.get(url)
    assert served.status_code == 200 and served.content == image
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "immutable" in served.headers["cache-control"]
    banner = api.put("/helix/users/banner_image", a, content=png(800, 200),
                     headers={"Content-Type": "image/png"})
    assert banner.json()["data"][0]["offline_image_url"].endswith(".png")
    # a new profile image replaces (and deletes) the old one
    r2 = api.put("/helix/users/profile_image", a, content=png(32, 32),
                 headers={"Content-Type": "image/png"})
    assert r2.json()["data"][0]["profile_image_url"] != url
    assert api.http.get(url).status_code == 404


def test_jpeg_profile_image(api: ApiNode, tmp_path: Path) -> None:
    out = tmp_path / "face.jpg"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "color=c=red:s=40x30", "-frames:v", "1", "-c:v", "mjpeg", "-y", str(out)],
                   check=True, timeout=60)
    a = api.user()
    r = api.put("/helix/users/profile_image", a, content=out.read_bytes(),
                headers={"Content-Type": "image/jpeg"})
    assert r.status_code == 200, r.text
    url = r.json()["data"][0]["profile_image_url"]
    assert url.endswith(".jpg")
    served = api.http.get(url)
    assert served.headers["content-type"] == "image/jpeg"
    assert served.content == out.read_bytes()


def test_image_upload_is_checked(api: ApiNode) -> None:
    a = api.user()
    put = api.put
    assert_error(put("/helix/users/profile_image", a, content=b"<svg></svg>",
                     headers={"Content-Type": "image/svg+xml"}), 400, "not a png")
    assert_error(put("/helix/users/profile_image", a, content=png(8, 8),
                     headers={"Content-Type": "image/gif"}), 400, "does not match")
    assert_error(put("/helix/users/profile_image", a, content=png(2000, 10),
                     headers={"Content-Type": "image/png"}), 400, "each side")
    assert_error(put("/helix/users/profile_image", a, content=b"\x00" * (3 << 20),
                     headers={"Content-Type": "image/png"}), 400, "too large")
    assert_error(put("/helix/users/profile_image", a, content=b"",
                     headers={"Content-Type": "image/png"}), 400, "missing image")
    assert_error(put("/helix/users/profile_image", None, content=png(8, 8)), 401, "")
    assert api.http.get("/images/profile/1/..%2F..%2Fstreamhub.db").status_code == 404
    assert api.http.get("/images/other/1/x.png").status_code == 404
