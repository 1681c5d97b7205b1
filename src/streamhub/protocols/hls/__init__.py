"""LL-HLS playlists (RFC 8216bis): pure model dataclasses and M3U8 renderers."""

from streamhub.protocols.hls.model import (
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
)
from streamhub.protocols.hls.render import (
    format_date_time,
    format_decimal,
    format_duration,
    render_media_playlist,
    render_multivariant_playlist,
)

__all__ = [
    "MediaPlaylist",
    "MultivariantPlaylist",
    "Part",
    "PendingSegment",
    "PlaylistModelError",
    "PreloadHint",
    "RenditionReport",
    "Segment",
    "ServerControl",
    "Variant",
    "format_date_time",
    "format_decimal",
    "format_duration",
    "render_media_playlist",
    "render_multivariant_playlist",
]
