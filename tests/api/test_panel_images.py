"""PUT /helix/channels/panels/image (StreamHub extension) and panels that carry an image."""

from __future__ import annotations

import struct
import zlib

import httpx

from tests.api.conftest import ApiNode, assert_error


def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress((b"\x00" + b"\x10\x80\xf0" * width) * height))
            + chunk(b"IEND", b""))


def test_panel_with_an_uploaded_image(api: ApiNode) -> None:
    a, other = api.user(), api.user()
    p = {"broadcaster_id": a.uid}
    image = png(320, 100)
    r = api.put("/helix/channels/panels/image", a, params=p, content=image,
                headers={"Content-Type": "image/png"})
    assert r.status_code == 200, r.text
    url = r.json()["data"][0]["image_url"]
    assert url.startswith(f"{api.base_url}/images/panel/{a.uid}/") and url.endswith(".png")
    served = httpx.get(url, timeout=30)
    assert served.status_code == 200 and served.content == image
    assert served.headers["content-type"] == "image/png"

    r = api.put("/helix/channels/panels", a, params=p, json={"data": [
        {"title": "Art", "body": "", "image_url": url}, {"title": "Plain"}]})
    assert r.status_code == 200, r.text
    got = api.get("/helix/channels/panels", other, params=p).json()["data"]
    assert [(x["title"], x["image_url"]) for x in got] == [("Art", url), ("Plain", "")]

    # only this channel's uploads; only images; only its broadcaster or editors
    theirs = api.put("/helix/channels/panels/image", other, params={"broadcaster_id": other.uid},
                     content=png(10, 10), headers={"Content-Type": "image/png"})
    assert theirs.status_code == 200, theirs.text
    assert_error(api.put("/helix/channels/panels", a, params=p, json={"data": [
        {"title": "x", "image_url": theirs.json()["data"][0]["image_url"]}]}), 400, "image")
    assert_error(api.put("/helix/channels/panels", a, params=p, json={"data": [
        {"title": "x", "image_url": "https://evil.example/x.png"}]}), 400, "image_url")
    assert_error(api.put("/helix/channels/panels/image", a, params=p, content=b"not an image",
                         headers={"Content-Type": "image/png"}), 400, "not a PNG")
    assert_error(api.put("/helix/channels/panels/image", a, params=p, content=png(2000, 10),
                         headers={"Content-Type": "image/png"}), 400, "1024")
    assert_error(api.put("/helix/channels/panels/image", other, params=p, content=image,
                         headers={"Content-Type": "image/png"}), 403)
    narrow = api.token(a.login, ("chat:read",))
    assert_error(api.put("/helix/channels/panels/image", narrow, params=p, content=image,
                         headers={"Content-Type": "image/png"}), 401, "scope")

    # a panel set without the image deletes the unused file
    r = api.put("/helix/channels/panels", a, params=p, json={"data": [{"title": "Plain"}]})
    assert r.status_code == 200, r.text
    assert httpx.get(url, timeout=30).status_code == 404
