"""Render LL-HLS media and multivariant playlist models to M3U8 text (RFC 8216bis)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from streamhub.protocols.hls.model import (
    MediaPlaylist,
    MultivariantPlaylist,
    Part,
    PendingSegment,
    PlaylistModelError,
    Segment,
    Variant,
)


def format_duration(seconds: float) -> str:
    """Durations (EXTINF, EXT-X-PART) with five decimals."""
    return f"{seconds:.5f}"


def format_decimal(value: float) -> str:
    """Attribute decimals: up to five decimals, trailing zeros trimmed ("0.6", "12.0")."""
    text = f"{value:.5f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def format_date_time(posix: float) -> str:
    """ISO 8601 UTC with milliseconds, e.g. 2024-05-01T12:00:00.200Z."""
    dt = datetime.fromtimestamp(posix, tz=UTC)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _quote(value: str) -> str:
    if any(c in value for c in '"\r\n'):
        raise PlaylistModelError(f"quoted-string may not contain quotes or newlines: {value!r}")
    return f'"{value}"'


def _uri_line(uri: str) -> str:
    if not uri or any(c in uri for c in "\r\n") or uri.startswith("#"):
        raise PlaylistModelError(f"invalid URI line: {uri!r}")
    return uri


def _part_line(part: Part) -> str:
    line = f"#EXT-X-PART:DURATION={format_duration(part.duration)},URI={_quote(part.uri)}"
    return line + (",INDEPENDENT=YES" if part.independent else "")


def render_media_playlist(pl: MediaPlaylist) -> str:
    """Render a media playlist; tags appear in RFC 8216bis order."""
    if pl.target_duration < 1:
        raise PlaylistModelError("target duration must be a positive integer")
    if pl.skipped_segments is not None and pl.skipped_segments < 0:
        raise PlaylistModelError("skipped segment count cannot be negative")
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{pl.version}"]
    if pl.independent_segments:
        lines.append("#EXT-X-INDEPENDENT-SEGMENTS")
    lines.append(f"#EXT-X-TARGETDURATION:{pl.target_duration}")
    if pl.playlist_type is not None:
        if pl.playlist_type not in ("VOD", "EVENT"):
            raise PlaylistModelError(f"playlist type must be VOD or EVENT: {pl.playlist_type!r}")
        lines.append(f"#EXT-X-PLAYLIST-TYPE:{pl.playlist_type}")
    sc = pl.server_control
    if sc is not None:
        attrs = []
        if sc.can_block_reload:
            attrs.append("CAN-BLOCK-RELOAD=YES")
        if sc.can_skip_until is not None:
            attrs.append(f"CAN-SKIP-UNTIL={format_decimal(sc.can_skip_until)}")
        if sc.hold_back is not None:
            attrs.append(f"HOLD-BACK={format_decimal(sc.hold_back)}")
        if sc.part_hold_back is not None:
            attrs.append(f"PART-HOLD-BACK={format_decimal(sc.part_hold_back)}")
        if attrs:
            lines.append("#EXT-X-SERVER-CONTROL:" + ",".join(attrs))
    if pl.part_target is not None:
        lines.append(f"#EXT-X-PART-INF:PART-TARGET={format_decimal(pl.part_target)}")
    lines.append(f"#EXT-X-MEDIA-SEQUENCE:{pl.media_sequence}")
    if pl.discontinuity_sequence:
        lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{pl.discontinuity_sequence}")
    if pl.skipped_segments is not None:
        lines.append(f"#EXT-X-SKIP:SKIPPED-SEGMENTS={pl.skipped_segments}")

    current_map: list[str | None] = [None]

    def segment_tags(seg: Segment | PendingSegment) -> None:
        if seg.discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")
        if seg.init_uri is not None and seg.init_uri != current_map[0]:
            lines.append(f"#EXT-X-MAP:URI={_quote(seg.init_uri)}")
            current_map[0] = seg.init_uri
        if seg.program_date_time is not None:
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{format_date_time(seg.program_date_time)}")
        lines.extend(_part_line(p) for p in seg.parts)

    for seg in pl.segments:
        segment_tags(seg)
        lines.append(f"#EXTINF:{format_duration(seg.duration)},")
        lines.append(_uri_line(seg.uri))
    if pl.pending is not None and pl.pending.parts:
        segment_tags(pl.pending)
    if pl.preload_hint is not None:
        hint = pl.preload_hint
        lines.append(f"#EXT-X-PRELOAD-HINT:TYPE={hint.type},URI={_quote(hint.uri)}")
    for rr in pl.rendition_reports:
        attrs = [f"URI={_quote(rr.uri)}", f"LAST-MSN={rr.last_msn}"]
        if rr.last_part is not None:
            attrs.append(f"LAST-PART={rr.last_part}")
        lines.append("#EXT-X-RENDITION-REPORT:" + ",".join(attrs))
    if pl.endlist:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def _stream_inf(v: Variant) -> str:
    if v.bandwidth <= 0:
        raise PlaylistModelError(f"variant {v.uri!r}: BANDWIDTH must be positive")
    attrs = [f"BANDWIDTH={v.bandwidth}"]
    if v.average_bandwidth is not None:
        attrs.append(f"AVERAGE-BANDWIDTH={v.average_bandwidth}")
    if v.resolution is not None:
        attrs.append(f"RESOLUTION={v.resolution[0]}x{v.resolution[1]}")
    if v.codecs:
        attrs.append(f"CODECS={_quote(v.codecs)}")
    if v.frame_rate is not None:
        if not math.isfinite(v.frame_rate) or v.frame_rate <= 0:
            raise PlaylistModelError(f"variant {v.uri!r}: bad FRAME-RATE {v.frame_rate}")
        attrs.append(f"FRAME-RATE={v.frame_rate:.3f}")
    return "#EXT-X-STREAM-INF:" + ",".join(attrs)


def render_multivariant_playlist(pl: MultivariantPlaylist) -> str:
    """Render a multivariant playlist with one EXT-X-STREAM-INF per variant, in order."""
    if not pl.variants:
        raise PlaylistModelError("a multivariant playlist needs at least one variant")
    lines = ["#EXTM3U"]
    if pl.version is not None:
        lines.append(f"#EXT-X-VERSION:{pl.version}")
    if pl.independent_segments:
        lines.append("#EXT-X-INDEPENDENT-SEGMENTS")
    for v in pl.variants:
        lines.append(_stream_inf(v))
        lines.append(_uri_line(v.uri))
    return "\n".join(lines) + "\n"
