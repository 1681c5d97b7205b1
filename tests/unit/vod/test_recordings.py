"""Recordings on disk: only well-formed names inside the media root are ever opened."""

from __future__ import annotations

from pathlib import Path

from streamhub.packaging import DiskSegmentStore, SegmentRecord
from streamhub.vod.recordings import Recordings


def record(tmp_path: Path) -> Path:
    folder = tmp_path / "media" / "alice" / "20240101T000000abc123"
    store = DiskSegmentStore(folder)
    store.write_init("source", "init-0.mp4", b"init")
    store.write_segment("source", SegmentRecord(0, "seg-0.m4s", 2.0, "init-0.mp4", None, False,
                                                5), b"media")
    store.close()
    return folder


def test_well_formed_paths(tmp_path: Path) -> None:
    folder = record(tmp_path)
    recs = Recordings(tmp_path / "media")
    rec = recs.get("alice", folder.name)
    assert rec is not None and rec.renditions() == ["source"]
    assert recs.has("alice", folder.name)
    assert rec.file("source", "seg-0.m4s") == (folder / "source" / "seg-0.m4s").resolve()
    assert rec.duration() == 2.0
    media = rec.media_playlist("source")
    assert media is not None and "seg-0.m4s" in media
    assert rec.media_playlist("nothing") is None


def test_malformed_or_escaping_paths(tmp_path: Path) -> None:
    folder = record(tmp_path)
    (tmp_path / "secret.m4s").write_bytes(b"x")
    (folder / "source" / "seg-9.m4s").symlink_to(tmp_path / "secret.m4s")
    recs = Recordings(tmp_path / "media")
    for login, session in [("..", folder.name), ("alice", ".."), ("Alice", folder.name),
                           ("alice", "a/b"), ("alice", "nope"), ("alice/..", folder.name)]:
        assert recs.get(login, session) is None, (login, session)
    rec = recs.get("alice", folder.name)
    assert rec is not None
    for rendition, name in [("source", "index.jsonl"), ("..", "seg-0.m4s"),
                            ("source", "../source/seg-0.m4s"), ("source", "seg-1.m4s"),
                            ("source", "seg-9.m4s"), (".hidden", "seg-0.m4s")]:
        assert rec.file(rendition, name) is None, (rendition, name)
