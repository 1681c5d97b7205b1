"""VOD playlist builders: golden text from hand-made records, and real recorded media."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from streamhub.delivery import vod
from streamhub.packaging import DiskSegmentStore, RenditionPackager, SegmentRecord, read_index
from tests.unit.packaging.conftest import Feeder, Stream, make_stream

T0 = 1_700_000_000.0


def rec(msn: int, duration: float, *, init: int = 0, size: int = 100_000,
        pdt: float | None = None, disc: bool = False) -> SegmentRecord:
    return SegmentRecord(msn=msn, uri=f"seg-{msn}.m4s", duration=duration,
                         init_uri=f"init-{init}.mp4", program_date_time=pdt,
                         discontinuity=disc, size=size)


def test_media_playlist_golden_with_discontinuity_and_new_init() -> None:
    records = [
        rec(0, 2.0, pdt=T0),
        rec(1, 2.0, pdt=T0 + 2),
        rec(2, 1.2, pdt=T0 + 4),  # the encoder stopped here
        rec(3, 2.0, init=1, pdt=T0 + 9, disc=True),
        rec(4, 2.5, init=1, pdt=T0 + 11),
    ]
    assert vod.media_playlist(records) == (
        "#EXTM3U\n"
        "#EXT-X-VERSION:7\n"
        "#EXT-X-INDEPENDENT-SEGMENTS\n"
        "#EXT-X-TARGETDURATION:3\n"
        "#EXT-X-PLAYLIST-TYPE:VOD\n"
        "#EXT-X-MEDIA-SEQUENCE:0\n"
        '#EXT-X-MAP:URI="init-0.mp4"\n'
        "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.000Z\n"
        "#EXTINF:2.00000,\nseg-0.m4s\n"
        "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:22.000Z\n"
        "#EXTINF:2.00000,\nseg-1.m4s\n"
        "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:24.000Z\n"
        "#EXTINF:1.20000,\nseg-2.m4s\n"
        "#EXT-X-DISCONTINUITY\n"
        '#EXT-X-MAP:URI="init-1.mp4"\n'
        "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:29.000Z\n"
        "#EXTINF:2.00000,\nseg-3.m4s\n"
        "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:31.000Z\n"
        "#EXTINF:2.50000,\nseg-4.m4s\n"
        "#EXT-X-ENDLIST\n"
    )


def test_media_playlist_orders_dedupes_and_skips_empty_records() -> None:
    records = [rec(6, 2.0), rec(5, 1.0, disc=True), rec(6, 2.0, size=7), rec(7, 0.0)]
    text = vod.media_playlist(records)
    assert "#EXT-X-MEDIA-SEQUENCE:5\n" in text
    assert "#EXT-X-TARGETDURATION:2\n" in text
    assert "DISCONTINUITY" not in text  # nothing before the first segment to break from
    assert "PROGRAM-DATE-TIME" not in text
    assert text.count("#EXTINF") == 2 and text.index("seg-5") < text.index("seg-6")
    with pytest.raises(ValueError):
        vod.media_playlist([rec(0, 0.0)])


def test_target_duration_is_the_ceiling_of_the_longest_segment() -> None:
    assert "#EXT-X-TARGETDURATION:3\n" in vod.media_playlist([rec(0, 2.001), rec(1, 1.0)])
    assert "#EXT-X-TARGETDURATION:1\n" in vod.media_playlist([rec(0, 0.4)])


def test_bandwidth_peak_and_average() -> None:
    records = [rec(0, 2.0, size=250_000), rec(1, 1.0, size=250_000)]
    assert vod.bandwidth(records) == (2_000_000, 1_333_334)
    assert vod.bandwidth([]) == (0, 0)


def test_multivariant_golden_highest_first() -> None:
    low = vod.RenditionSummary("360p", 900_000, 700_000, 10.0, "avc1.42c01e,mp4a.40.2",
                               (640, 360), 30.0)
    src = vod.RenditionSummary("source", 3_000_000, 2_500_000, 10.0, None, None, None)
    assert vod.multivariant_playlist([low, src]) == (
        "#EXTM3U\n"
        "#EXT-X-INDEPENDENT-SEGMENTS\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=3000000,AVERAGE-BANDWIDTH=2500000\n"
        "source/index.m3u8\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=900000,AVERAGE-BANDWIDTH=700000,RESOLUTION=640x360,"
        'CODECS="avc1.42c01e,mp4a.40.2",FRAME-RATE=30.000\n'
        "360p/index.m3u8\n"
    )
    with pytest.raises(ValueError):
        vod.multivariant_playlist([])


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Stream:
    return make_stream(tmp_path_factory.mktemp("vod") / "av.mp4")


def test_recorded_rendition_with_restart(stream: Stream, tmp_path: Path) -> None:
    """Real fMP4 through the live packager into the disk store, an encoder restart included,
    then the VOD playlists from what was written."""
    store = DiskSegmentStore(tmp_path)
    packager = RenditionPackager("source", store=store, clock=lambda: T0)
    feeder = Feeder(packager, stream)
    feeder.rest()
    feeder.restart()
    feeder.rest()
    packager.end()
    store.flush()
    store.close()
    records = read_index(tmp_path, "source")
    assert len(records) >= 4
    text = vod.media_playlist(records)
    lines = text.splitlines()
    assert lines[:5] == ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS",
                         f"#EXT-X-TARGETDURATION:{math.ceil(max(r.duration for r in records))}",
                         "#EXT-X-PLAYLIST-TYPE:VOD"]
    assert lines[-1] == "#EXT-X-ENDLIST"
    assert text.count("#EXTINF") == len(records)
    assert text.count("#EXT-X-DISCONTINUITY\n") == 1
    assert text.count("#EXT-X-PROGRAM-DATE-TIME") == len(records)
    maps = [line for line in lines if line.startswith("#EXT-X-MAP")]
    assert maps == ['#EXT-X-MAP:URI="init-0.mp4"', '#EXT-X-MAP:URI="init-1.mp4"']
    assert lines.index(maps[1]) == lines.index("#EXT-X-DISCONTINUITY") + 1
    for r in records:
        assert (tmp_path / "source" / r.uri).stat().st_size == r.size

    init = (tmp_path / "source" / "init-0.mp4").read_bytes()
    sample = (tmp_path / "source" / records[1].uri).read_bytes()
    summary = vod.describe("source", records, init, sample)
    assert summary is not None
    assert summary.codecs is not None and summary.codecs.startswith("avc1.")
    assert "mp4a.40.2" in summary.codecs
    assert summary.resolution is not None and summary.resolution[0] > 0
    assert summary.frame_rate is not None and 20 <= summary.frame_rate <= 31
    assert summary.duration == pytest.approx(2 * stream_seconds(stream), abs=0.5)
    assert summary.peak_bandwidth >= summary.average_bandwidth > 0
    master = vod.multivariant_playlist([summary])
    assert master.splitlines()[-1] == "source/index.m3u8"
    assert f'CODECS="{summary.codecs}"' in master


def test_describe_without_readable_media() -> None:
    summary = vod.describe("audio", [rec(0, 2.0)], init=b"not an mp4", sample=None)
    assert summary is not None and summary.codecs is None and summary.resolution is None
    assert vod.describe("audio", []) is None


def stream_seconds(stream: Stream) -> float:
    return sum(f.duration for f in stream.fragments)
