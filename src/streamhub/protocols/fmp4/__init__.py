"""Fragmented MP4 (ISO BMFF) boxes: splitting, init and fragment parsing, fragment assembly."""

from streamhub.protocols.fmp4.assembler import Event, FragmentAssembler, InitSegment, MediaFragment
from streamhub.protocols.fmp4.boxes import DEFAULT_MAX_BOX_SIZE, Box, BoxSplitter, Fmp4Error
from streamhub.protocols.fmp4.fragment import (
    FragmentInfo,
    TrackFragment,
    is_sync_sample,
    parse_fragment,
)
from streamhub.protocols.fmp4.init import InitInfo, TrackDefaults, TrackInfo, parse_init

__all__ = [
    "DEFAULT_MAX_BOX_SIZE",
    "Box",
    "BoxSplitter",
    "Event",
    "Fmp4Error",
    "FragmentAssembler",
    "FragmentInfo",
    "InitInfo",
    "InitSegment",
    "MediaFragment",
    "TrackDefaults",
    "TrackFragment",
    "TrackInfo",
    "is_sync_sample",
    "parse_fragment",
    "parse_init",
]
