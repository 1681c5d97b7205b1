"""Sans-I/O assembly of a fragmented MP4 byte stream into init segments and media fragments."""

from __future__ import annotations

from dataclasses import dataclass

from streamhub.protocols.fmp4.boxes import DEFAULT_MAX_BOX_SIZE, Box, BoxSplitter, Fmp4Error
from streamhub.protocols.fmp4.fragment import FragmentInfo, parse_fragment
from streamhub.protocols.fmp4.init import InitInfo, parse_moov

# Boxes that may precede a moof and belong to that fragment (CMAF / DASH / producer time).
_FRAGMENT_PREFIX = {"styp", "sidx", "prft", "emsg"}
# Top-level boxes carrying nothing a live packager needs.
_IGNORED = {"free", "skip", "mfra", "udta", "meta", "uuid", "pdin", "ssix"}


@dataclass(frozen=True, slots=True)
class InitSegment:
    """``ftyp`` + ``moov`` bytes, as served for EXT-X-MAP, with what they describe."""

    data: bytes
    info: InitInfo


@dataclass(frozen=True, slots=True)
class MediaFragment:
    """One ``moof`` + ``mdat`` pair (bytes as served for an LL-HLS part) with its timing."""

    data: bytes
    info: FragmentInfo
    prefix: tuple[Box, ...] = ()  # styp/sidx/prft/emsg seen just before the moof

    @property
    def duration(self) -> float:
        return self.info.duration

    @property
    def independent(self) -> bool:
        return self.info.independent


Event = InitSegment | MediaFragment


class FragmentAssembler:
    """Feed raw ffmpeg ``-movflags frag_keyframe+empty_moov`` output, get segments back.

    Order enforced: (ftyp) moov, then repeated [styp|sidx|prft|emsg]* moof mdat. A new ftyp/moov
    after media starts a new init (e.g. a producer restart on the same pipe). Any violation raises
    Fmp4Error and the assembler stays failed; build a new one to resynchronise.
    """

    def __init__(self, max_box_size: int = DEFAULT_MAX_BOX_SIZE) -> None:
        self._splitter = BoxSplitter(max_box_size)
        self._ftyp: Box | None = None
        self._init: InitSegment | None = None
        self._prefix: list[Box] = []
        self._moof: Box | None = None
        self._moof_info: FragmentInfo | None = None
        self._failed: Fmp4Error | None = None

    @property
    def init(self) -> InitSegment | None:
        return self._init

    def feed(self, data: bytes) -> list[Event]:
        if self._failed is not None:
            raise Fmp4Error(f"assembler already failed: {self._failed}")
        try:
            out: list[Event] = []
            for box in self._splitter.feed(data):
                event = self._on_box(box)
                if event is not None:
                    out.append(event)
            return out
        except Fmp4Error as exc:
            self._failed = exc
            raise

    def _on_box(self, box: Box) -> Event | None:
        kind = box.type
        if kind == "ftyp":
            self._expect_no_pending(kind)
            self._ftyp = box
            self._init = None
            return None
        if kind == "moov":
            self._expect_no_pending(kind)
            info = parse_moov(box)
            data = (bytes(self._ftyp) if self._ftyp is not None else b"") + bytes(box)
            self._ftyp = None
            self._init = InitSegment(data, info)
            return self._init
        if kind in _FRAGMENT_PREFIX:
            if self._moof is not None:
                raise Fmp4Error(f"{kind} between moof and mdat")
            self._prefix.append(box)
            return None
        if kind == "moof":
            if self._init is None:
                raise Fmp4Error("moof before the init segment (ftyp+moov)")
            if self._moof is not None:
                raise Fmp4Error("moof followed by another moof without an mdat")
            self._moof_info = parse_fragment(box, self._init.info)
            self._moof = box
            return None
        if kind == "mdat":
            if self._moof is None or self._moof_info is None:
                raise Fmp4Error("mdat without a preceding moof")
            fragment = MediaFragment(
                bytes(self._moof) + bytes(box), self._moof_info, tuple(self._prefix)
            )
            self._moof = None
            self._moof_info = None
            self._prefix = []
            return fragment
        if kind in _IGNORED:
            return None
        raise Fmp4Error(f"unexpected top-level box {kind!r}")

    def _expect_no_pending(self, kind: str) -> None:
        if self._moof is not None:
            raise Fmp4Error(f"{kind} between moof and mdat")
        if self._prefix:
            raise Fmp4Error(f"{kind} after {self._prefix[-1].type} without a moof")
