"""StreamPackager (multivariant + rendition reports) and DiskSegmentStore."""

from __future__ import annotations

import json

import pytest

from streamhub.packaging import (
    DiskSegmentStore,
    NotFound,
    RenditionPackager,
    SegmentRecord,
    StreamPackager,
    Unavailable,
    atomic_write,
    read_index,
)

from .conftest import Feeder, Stream


async def test_rendition_reports_and_multivariant(stream: Stream) -> None:
    group = StreamPackager([RenditionPackager("720p"), RenditionPackager("480p")])
    audio = group.add(RenditionPackager("audio"))
    with pytest.raises(Unavailable):
        group.multivariant_playlist()
    hi, lo = group.renditions[0], group.renditions[1]
    Feeder(hi, stream).fragments(14)
    Feeder(lo, stream).fragments(13)
    text = await hi.playlist()
    assert '#EXT-X-RENDITION-REPORT:URI="../480p/index.m3u8",LAST-MSN=1,LAST-PART=2\n' in text
    assert "../720p/" not in text and "../audio/" not in text  # self, and no media yet
    lo_text = await lo.playlist()
    assert '#EXT-X-RENDITION-REPORT:URI="../720p/index.m3u8",LAST-MSN=1,LAST-PART=3\n' in lo_text
    master = group.multivariant_playlist()
    lines = master.splitlines()
    assert lines[:2] == ["#EXTM3U", "#EXT-X-INDEPENDENT-SEGMENTS"]
    assert lines[3] == "720p/index.m3u8" and lines[5] == "480p/index.m3u8"
    assert len(lines) == 6  # audio has no media yet
    assert f'CODECS="{stream.init.info.codecs}"' in lines[2]
    assert "RESOLUTION=320x240" in lines[2] and "FRAME-RATE=30.000" in lines[2]
    assert "AVERAGE-BANDWIDTH=" in lines[2]
    audio.frame_rate = 25.0
    assert audio.frame_rate == 25.0
    assert group.rendition("1080p") is None
    with pytest.raises(NotFound):
        group.feed("1080p", b"")
    with pytest.raises(ValueError):
        group.add(RenditionPackager("480p"))
    group.discontinuity()
    group.end()
    assert (await hi.playlist()).endswith("#EXT-X-ENDLIST\n")


async def test_disk_store_persists_segments_inits_and_index(
    stream: Stream, tmp_path: object
) -> None:
    from pathlib import Path

    root = Path(str(tmp_path))
    store = DiskSegmentStore(root)
    r = RenditionPackager("720p", store=store)
    f = Feeder(r, stream)
    f.rest()
    f.restart()
    f.fragments(3)
    r.end()
    await store.aflush()
    store.close()
    folder = root / "720p"
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(
        ["index.jsonl", "init-0.mp4", "init-1.mp4"] + [f"seg-{i}.m4s" for i in range(4)]
    )
    assert not [n for n in names if n.startswith(".") or n.endswith(".tmp")]
    assert (folder / "init-1.mp4").read_bytes() == stream.init.data
    assert (folder / "seg-1.m4s").read_bytes() == b"".join(x.data for x in stream.fragments[10:20])
    records = read_index(root, "720p")
    assert [rec.msn for rec in records] == [0, 1, 2, 3]
    assert [rec.discontinuity for rec in records] == [False, False, False, True]
    assert [rec.init_uri for rec in records] == ["init-0.mp4"] * 3 + ["init-1.mp4"]
    assert records[3].duration == pytest.approx(0.6, abs=0.03)
    assert all(rec.program_date_time is not None for rec in records)
    assert records[1].size == (folder / "seg-1.m4s").stat().st_size
    assert store.failed_writes == 0


def test_index_tolerates_a_torn_last_line(tmp_path: object) -> None:
    from pathlib import Path

    root = Path(str(tmp_path))
    store = DiskSegmentStore(root)
    rec = SegmentRecord(0, "seg-0.m4s", 2.0, "init-0.mp4", 1.0, False, 3)
    store.put_segment("r", rec, b"abc")
    store.flush()
    with open(root / "r" / "index.jsonl", "a") as fh:
        fh.write(json.dumps({"msn": 1})[:5])
    assert read_index(root, "r") == [rec]
    assert read_index(root, "missing") == []
    store.close()


def test_atomic_write_leaves_no_temp_on_failure(tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    target = folder / "x.bin"
    atomic_write(target, b"one")
    with pytest.raises(TypeError):
        atomic_write(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"one"
    assert [p.name for p in folder.iterdir()] == ["x.bin"]


def test_store_write_failures_are_counted(tmp_path: object) -> None:
    from pathlib import Path

    store = DiskSegmentStore(Path(str(tmp_path)))
    store.put_init("bad/name", "init-0.mp4", b"x")
    store.flush()
    assert store.failed_writes == 1 and isinstance(store.last_error, ValueError)
    store.close()


async def test_group_builds_named_renditions_with_shared_settings(
    stream: Stream, tmp_path: object
) -> None:
    from pathlib import Path

    root = Path(str(tmp_path))
    group = StreamPackager(
        ["720p", "360p"], part_target=0.2, segment_target=2.0, window_segments=5, store_root=root
    )
    with pytest.raises(ValueError):
        StreamPackager(store=DiskSegmentStore(root), store_root=root)
    for name in ("720p", "360p"):
        group.feed(name, stream.raw, 1000.0)
    group.set_frame_rate("360p", 29.97)
    info = {d["name"]: d for d in group.describe()}
    assert info["720p"]["last_msn"] == 2 and info["720p"]["last_part"] == 9
    assert info["360p"]["frame_rate"] == 29.97 and info["720p"]["frame_rate"] == 30.0
    assert info["720p"]["codecs"] == stream.init.info.codecs
    master = group.multivariant(prefix="sess1/")
    uris = [line for line in master.splitlines() if not line.startswith("#")]
    assert uris == ["sess1/720p/index.m3u8", "sess1/360p/index.m3u8"]
    group.end()
    assert group.store is not None
    assert isinstance(group.store, DiskSegmentStore)
    group.store.close()  # idempotent; waits for the queue
    assert sorted(p.name for p in (root / "360p").iterdir()) == [
        "index.jsonl",
        "init-0.mp4",
        "seg-0.m4s",
        "seg-1.m4s",
        "seg-2.m4s",
    ]
