"""LL-HLS playlist model: immutable dataclasses for media and multivariant playlists."""

from __future__ import annotations

from dataclasses import dataclass


class PlaylistModelError(ValueError):
    """A playlist model that would render to an invalid playlist."""


@dataclass(frozen=True, slots=True)
class Part:
    """One EXT-X-PART (a partial segment)."""

    uri: str
    duration: float
    independent: bool = False


@dataclass(frozen=True, slots=True)
class Segment:
    """A complete media segment; ``parts`` are listed only near the live edge.

    ``init_uri`` is the EXT-X-MAP in effect; the renderer emits EXT-X-MAP whenever it changes.
    ``program_date_time`` is POSIX seconds (UTC) of the segment's first sample.
    """

    uri: str
    duration: float
    init_uri: str | None = None
    program_date_time: float | None = None
    discontinuity: bool = False
    parts: tuple[Part, ...] = ()


@dataclass(frozen=True, slots=True)
class PendingSegment:
    """The segment in progress at the live edge: its parts so far, no EXTINF/URI yet."""

    parts: tuple[Part, ...]
    init_uri: str | None = None
    program_date_time: float | None = None
    discontinuity: bool = False


@dataclass(frozen=True, slots=True)
class ServerControl:
    """EXT-X-SERVER-CONTROL attributes (None = omitted)."""

    can_block_reload: bool = True
    part_hold_back: float | None = None
    can_skip_until: float | None = None
    hold_back: float | None = None


@dataclass(frozen=True, slots=True)
class PreloadHint:
    """EXT-X-PRELOAD-HINT for the next part (TYPE=PART) or init (TYPE=MAP)."""

    uri: str
    type: str = "PART"


@dataclass(frozen=True, slots=True)
class RenditionReport:
    """EXT-X-RENDITION-REPORT for a sibling rendition."""

    uri: str
    last_msn: int
    last_part: int | None = None


@dataclass(frozen=True, slots=True)
class MediaPlaylist:
    """A live (or ended) LL-HLS media playlist.

    ``segments`` are the complete segments still listed (after any skipped ones);
    ``media_sequence`` is the MSN of the first segment including skipped ones.
    """

    target_duration: int
    media_sequence: int = 0
    segments: tuple[Segment, ...] = ()
    pending: PendingSegment | None = None
    part_target: float | None = None
    server_control: ServerControl | None = None
    discontinuity_sequence: int = 0
    skipped_segments: int | None = None  # set (even to 0) only in a delta update
    preload_hint: PreloadHint | None = None
    rendition_reports: tuple[RenditionReport, ...] = ()
    endlist: bool = False
    independent_segments: bool = True
    version: int = 10
    playlist_type: str | None = None  # "VOD" or "EVENT" (EXT-X-PLAYLIST-TYPE); None when live

    def __bytes__(self) -> bytes:
        from streamhub.protocols.hls.render import render_media_playlist

        return render_media_playlist(self).encode()


@dataclass(frozen=True, slots=True)
class Variant:
    """One EXT-X-STREAM-INF entry of a multivariant playlist."""

    uri: str
    bandwidth: int
    average_bandwidth: int | None = None
    codecs: str | None = None
    resolution: tuple[int, int] | None = None
    frame_rate: float | None = None


@dataclass(frozen=True, slots=True)
class MultivariantPlaylist:
    """A multivariant (master) playlist listing variant streams in ladder order."""

    variants: tuple[Variant, ...]
    independent_segments: bool = True
    version: int | None = None

    def __bytes__(self) -> bytes:
        from streamhub.protocols.hls.render import render_multivariant_playlist

        return render_multivariant_playlist(self).encode()
