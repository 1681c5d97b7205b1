"""Golden-text tests for the LL-HLS media and multivariant playlist renderers."""

from __future__ import annotations

import pytest

from streamhub.protocols.hls import (
    MediaPlaylist,
    MultivariantPlaylist,
    Part,
    PendingSegment,
    PlaylistModelError,
    PreloadHint,
    RenditionReport,
    Segment,
    ServerControl,
    Variant,
    format_date_time,
    format_decimal,
    render_media_playlist,
    render_multivariant_playlist,
)

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
SC = ServerControl(can_block_reload=True, part_hold_back=0.6, can_skip_until=12.0)


def parts(msn: int, n: int, first_independent: bool = True) -> tuple[Part, ...]:
    return tuple(
        Part(f"part-{msn}-{i}.m4s", 0.2, independent=first_independent and i == 0) for i in range(n)
    )


def test_formatting_helpers() -> None:
    assert format_decimal(0.6) == "0.6"
    assert format_decimal(12) == "12.0"
    assert format_decimal(0.66666666) == "0.66667"
    assert format_date_time(T0 + 0.25) == "2023-11-14T22:13:20.250Z"


def test_live_playlist_with_parts_hint_and_reports() -> None:
    pl = MediaPlaylist(
        target_duration=2,
        media_sequence=10,
        part_target=0.2,
        server_control=SC,
        segments=(
            Segment("seg-10.m4s", 2.0, init_uri="init-0.mp4", program_date_time=T0),
            Segment(
                "seg-11.m4s",
                2.0,
                init_uri="init-0.mp4",
                program_date_time=T0 + 2,
                parts=parts(11, 2),
            ),
        ),
        pending=PendingSegment(parts(12, 2), init_uri="init-0.mp4", program_date_time=T0 + 4),
        preload_hint=PreloadHint("part-12-2.m4s"),
        rendition_reports=(RenditionReport("../480p/index.m3u8", 12, 1),),
    )
    assert render_media_playlist(pl) == (
        "#EXTM3U\n"
        "#EXT-X-VERSION:10\n"
        "#EXT-X-INDEPENDENT-SEGMENTS\n"
        "#EXT-X-TARGETDURATION:2\n"
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.0,PART-HOLD-BACK=0.6\n"
        "#EXT-X-PART-INF:PART-TARGET=0.2\n"
        "#EXT-X-MEDIA-SEQUENCE:10\n"
        '#EXT-X-MAP:URI="init-0.mp4"\n'
        "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.000Z\n"
        "#EXTINF:2.00000,\n"
        "seg-10.m4s\n"
        "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:22.000Z\n"
        '#EXT-X-PART:DURATION=0.20000,URI="part-11-0.m4s",INDEPENDENT=YES\n'
        '#EXT-X-PART:DURATION=0.20000,URI="part-11-1.m4s"\n'
        "#EXTINF:2.00000,\n"
        "seg-11.m4s\n"
        "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:24.000Z\n"
        '#EXT-X-PART:DURATION=0.20000,URI="part-12-0.m4s",INDEPENDENT=YES\n'
        '#EXT-X-PART:DURATION=0.20000,URI="part-12-1.m4s"\n'
        '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part-12-2.m4s"\n'
        '#EXT-X-RENDITION-REPORT:URI="../480p/index.m3u8",LAST-MSN=12,LAST-PART=1\n'
    )
    assert bytes(pl) == render_media_playlist(pl).encode()


def test_discontinuity_new_map_skip_and_discontinuity_sequence() -> None:
    pl = MediaPlaylist(
        target_duration=2,
        media_sequence=20,
        discontinuity_sequence=3,
        skipped_segments=2,
        server_control=SC,
        part_target=0.2,
        segments=(
            Segment("seg-22.m4s", 1.40000, init_uri="init-0.mp4", program_date_time=T0),
            Segment(
                "seg-23.m4s",
                2.0,
                init_uri="init-1.mp4",
                program_date_time=T0 + 10,
                discontinuity=True,
            ),
        ),
        pending=PendingSegment((), init_uri="init-1.mp4"),  # no parts yet: nothing rendered
        preload_hint=PreloadHint("part-24-0.m4s"),
    )
    assert render_media_playlist(pl) == (
        "#EXTM3U\n"
        "#EXT-X-VERSION:10\n"
        "#EXT-X-INDEPENDENT-SEGMENTS\n"
        "#EXT-X-TARGETDURATION:2\n"
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.0,PART-HOLD-BACK=0.6\n"
        "#EXT-X-PART-INF:PART-TARGET=0.2\n"
        "#EXT-X-MEDIA-SEQUENCE:20\n"
        "#EXT-X-DISCONTINUITY-SEQUENCE:3\n"
        "#EXT-X-SKIP:SKIPPED-SEGMENTS=2\n"
        '#EXT-X-MAP:URI="init-0.mp4"\n'
        "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.000Z\n"
        "#EXTINF:1.40000,\n"
        "seg-22.m4s\n"
        "#EXT-X-DISCONTINUITY\n"
        '#EXT-X-MAP:URI="init-1.mp4"\n'
        "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:30.000Z\n"
        "#EXTINF:2.00000,\n"
        "seg-23.m4s\n"
        '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part-24-0.m4s"\n'
    )


def test_pending_segment_after_discontinuity_carries_its_tags() -> None:
    pl = MediaPlaylist(
        target_duration=2,
        segments=(Segment("seg-0.m4s", 1.0, init_uri="init-0.mp4"),),
        pending=PendingSegment(parts(1, 1), init_uri="init-1.mp4", discontinuity=True),
        independent_segments=False,
        version=9,
    )
    assert render_media_playlist(pl) == (
        "#EXTM3U\n"
        "#EXT-X-VERSION:9\n"
        "#EXT-X-TARGETDURATION:2\n"
        "#EXT-X-MEDIA-SEQUENCE:0\n"
        '#EXT-X-MAP:URI="init-0.mp4"\n'
        "#EXTINF:1.00000,\n"
        "seg-0.m4s\n"
        "#EXT-X-DISCONTINUITY\n"
        '#EXT-X-MAP:URI="init-1.mp4"\n'
        '#EXT-X-PART:DURATION=0.20000,URI="part-1-0.m4s",INDEPENDENT=YES\n'
    )


def test_ended_playlist() -> None:
    pl = MediaPlaylist(
        target_duration=4,
        segments=(Segment("seg-0.m4s", 3.5, init_uri="init-0.mp4"),),
        endlist=True,
        server_control=ServerControl(can_block_reload=True),
    )
    text = render_media_playlist(pl)
    assert text.endswith("#EXTINF:3.50000,\nseg-0.m4s\n#EXT-X-ENDLIST\n")
    assert "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES\n" in text


@pytest.mark.parametrize(
    "pl",
    [
        MediaPlaylist(target_duration=0),
        MediaPlaylist(target_duration=2, segments=(Segment("a\nb", 1.0),)),
        MediaPlaylist(target_duration=2, segments=(Segment("#x", 1.0),)),
        MediaPlaylist(target_duration=2, preload_hint=PreloadHint('p"q')),
        MediaPlaylist(target_duration=2, skipped_segments=-1),
    ],
)
def test_invalid_models_are_refused(pl: MediaPlaylist) -> None:
    with pytest.raises(PlaylistModelError):
        render_media_playlist(pl)


def test_multivariant_golden() -> None:
    pl = MultivariantPlaylist(
        (
            Variant(
                "720p/index.m3u8",
                bandwidth=3_200_000,
                average_bandwidth=2_900_000,
                codecs="avc1.64001f,mp4a.40.2",
                resolution=(1280, 720),
                frame_rate=30,
            ),
            Variant("audio/index.m3u8", bandwidth=96_000, codecs="mp4a.40.2"),
        )
    )
    assert render_multivariant_playlist(pl) == (
        "#EXTM3U\n"
        "#EXT-X-INDEPENDENT-SEGMENTS\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=3200000,AVERAGE-BANDWIDTH=2900000,RESOLUTION=1280x720,"
        'CODECS="avc1.64001f,mp4a.40.2",FRAME-RATE=30.000\n'
        "720p/index.m3u8\n"
        '#EXT-X-STREAM-INF:BANDWIDTH=96000,CODECS="mp4a.40.2"\n'
        "audio/index.m3u8\n"
    )
    assert bytes(pl).startswith(b"#EXTM3U\n")


def test_multivariant_rejects_nonsense() -> None:
    with pytest.raises(PlaylistModelError):
        render_multivariant_playlist(MultivariantPlaylist(()))
    with pytest.raises(PlaylistModelError):
        render_multivariant_playlist(MultivariantPlaylist((Variant("a.m3u8", bandwidth=0),)))
    with pytest.raises(PlaylistModelError):
        render_multivariant_playlist(
            MultivariantPlaylist((Variant("a.m3u8", bandwidth=1, frame_rate=float("nan")),))
        )
