"""A live stream's rendition ladder: multivariant playlist and cross-rendition reports."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from streamhub.packaging.errors import NotFound, Unavailable
from streamhub.packaging.rendition import RenditionPackager
from streamhub.packaging.store import DiskSegmentStore, SegmentSink
from streamhub.protocols.hls import (
    MultivariantPlaylist,
    RenditionReport,
    Variant,
    render_multivariant_playlist,
)


def playlist_uri(rendition: str) -> str:
    """Media playlist URI relative to the multivariant playlist."""
    return f"{rendition}/index.m3u8"


def sibling_uri(rendition: str) -> str:
    """Media playlist URI relative to a sibling rendition's media playlist."""
    return f"../{rendition}/index.m3u8"


class StreamPackager:
    """Holds one stream's renditions in ladder order (best first).

    Renditions given by name are created with the shared settings below, which keeps
    TARGETDURATION and SERVER-CONTROL identical across the ladder (RFC 8216bis 6.2.4).
    ``store_root`` creates a :class:`DiskSegmentStore` owned (and closed at :meth:`end`) by
    this group; alternatively pass any ``store``.
    """

    def __init__(
        self,
        renditions: Iterable[RenditionPackager | str] = (),
        *,
        part_target: float = 0.2,
        segment_target: float = 2.0,
        window_segments: int = 7,
        store: SegmentSink | None = None,
        store_root: Path | None = None,
        clock: Callable[[], float] = time.time,
        block_timeout: float | None = None,
    ) -> None:
        if store is not None and store_root is not None:
            raise ValueError("pass either store or store_root, not both")
        self._owned_store = DiskSegmentStore(store_root) if store_root is not None else None
        self._store: SegmentSink | None = self._owned_store or store
        self._settings: dict[str, Any] = {
            "part_target": part_target,
            "segment_target": segment_target,
            "window_segments": window_segments,
            "clock": clock,
            "block_timeout": block_timeout,
        }
        self._renditions: dict[str, RenditionPackager] = {}
        for r in renditions:
            self.add(r)

    def add(self, rendition: RenditionPackager | str) -> RenditionPackager:
        """Append a rendition (an instance, or a name to create with the group settings)."""
        if isinstance(rendition, str):
            rendition = RenditionPackager(rendition, store=self._store, **self._settings)
        if rendition.name in self._renditions:
            raise ValueError(f"duplicate rendition {rendition.name!r}")
        self._renditions[rendition.name] = rendition
        rendition.set_report_source(partial(self.reports_for, rendition.name))
        return rendition

    @property
    def renditions(self) -> Sequence[RenditionPackager]:
        return tuple(self._renditions.values())

    @property
    def store(self) -> SegmentSink | None:
        return self._store

    def rendition(self, name: str) -> RenditionPackager | None:
        """The rendition called ``name``, or None."""
        return self._renditions.get(name)

    def _require(self, name: str) -> RenditionPackager:
        r = self._renditions.get(name)
        if r is None:
            raise NotFound(f"no rendition {name!r}")
        return r

    def feed(self, name: str, data: bytes, wallclock: float | None = None) -> None:
        """Route producer bytes to rendition ``name`` (see RenditionPackager.feed)."""
        self._require(name).feed(data, wallclock)

    def set_frame_rate(self, name: str, fps: float | None) -> None:
        self._require(name).frame_rate = fps

    def reports_for(self, name: str) -> list[RenditionReport]:
        """EXT-X-RENDITION-REPORTs for every sibling of ``name`` that has media."""
        out: list[RenditionReport] = []
        for other in self._renditions.values():
            if other.name == name:
                continue
            report = other.report(sibling_uri(other.name))
            if report is not None:
                out.append(report)
        return out

    def discontinuity(self) -> None:
        for r in self._renditions.values():
            r.discontinuity()

    def set_media_epoch(self, wallclock: float) -> None:
        """Media time 0 of every rendition's producer was ingested at ``wallclock``."""
        for r in self._renditions.values():
            r.set_media_epoch(wallclock)

    def end(self) -> None:
        """End every rendition (ENDLIST); an owned disk store finishes its queue and stops."""
        for r in self._renditions.values():
            r.end()
        if self._owned_store is not None:
            self._owned_store.close(wait=False)

    def describe(self) -> list[dict[str, Any]]:
        """JSON-friendly state of each rendition, for health/status pages."""
        out: list[dict[str, Any]] = []
        for r in self._renditions.values():
            bw = r.bandwidth
            out.append(
                {
                    "name": r.name,
                    "codecs": r.codecs,
                    "width": r.width,
                    "height": r.height,
                    "frame_rate": r.frame_rate,
                    "bandwidth": bw[0] if bw else None,
                    "average_bandwidth": bw[1] if bw else None,
                    "target_duration": r.target_duration,
                    "last_msn": r.last_msn,
                    "last_part": r.last_part,
                    "ended": r.ended,
                }
            )
        return out

    def multivariant_model(self, prefix: str = "") -> MultivariantPlaylist:
        variants: list[Variant] = []
        for r in self._renditions.values():
            bandwidth = r.bandwidth
            if r.codecs is None or bandwidth is None:
                continue  # no init segment or no media yet
            peak, average = bandwidth
            resolution = (r.width, r.height) if r.width and r.height else None
            variants.append(
                Variant(
                    uri=prefix + playlist_uri(r.name),
                    bandwidth=max(peak, 1),
                    average_bandwidth=max(average, 1),
                    codecs=r.codecs,
                    resolution=resolution,
                    frame_rate=r.frame_rate,
                )
            )
        if not variants:
            raise Unavailable("no rendition has media yet")
        return MultivariantPlaylist(tuple(variants))

    def multivariant_playlist(self, prefix: str = "") -> str:
        """The multivariant playlist text; ``prefix`` is put before each ``<name>/index.m3u8``.

        Renditions without media yet are left out; raises Unavailable (503) if none has any.
        """
        return render_multivariant_playlist(self.multivariant_model(prefix))

    multivariant = multivariant_playlist
