"""LL-HLS packaging: per-rendition part/segment cutting, stream groups and segment stores."""

from streamhub.packaging.errors import NotFound, PackagerError, PlaylistError, Unavailable
from streamhub.packaging.group import StreamPackager, playlist_uri, sibling_uri
from streamhub.packaging.rendition import (
    PART_HOLD_BACK_FACTOR,
    SKIP_UNTIL_FACTOR,
    RenditionPackager,
    init_uri,
    part_uri,
    segment_uri,
)
from streamhub.packaging.store import (
    DiskSegmentStore,
    SegmentRecord,
    SegmentSink,
    atomic_write,
    read_index,
)

__all__ = [
    "PART_HOLD_BACK_FACTOR",
    "SKIP_UNTIL_FACTOR",
    "DiskSegmentStore",
    "NotFound",
    "PackagerError",
    "PlaylistError",
    "RenditionPackager",
    "SegmentRecord",
    "SegmentSink",
    "StreamPackager",
    "Unavailable",
    "atomic_write",
    "init_uri",
    "part_uri",
    "playlist_uri",
    "read_index",
    "segment_uri",
    "sibling_uri",
]
