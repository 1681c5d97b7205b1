"""Recorded sessions on disk (`<root>/<login>/<session_id>/<rendition>/...`): validated paths,
VOD playlists, and a lazily made thumbnail per recording. Blocking file I/O: call it from a
worker thread."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from streamhub.channels.service import LOGIN_RE
from streamhub.delivery import vod
from streamhub.packaging import SegmentRecord, read_index
from streamhub.packaging.store import INDEX_FILE

SESSION_RE = re.compile(r"^[A-Za-z0-9]{1,40}$")
RENDITION_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$")
MEDIA_FILE_RE = re.compile(r"^(?:init-[0-9]{1,9}\.mp4|seg-[0-9]{1,12}\.m4s)$")
THUMB_FILE = "thumb.jpg"


@dataclass(frozen=True, slots=True)
class Recording:
    """One recorded session's folder (already validated and known to exist)."""

    folder: Path

    def renditions(self) -> list[str]:
        """Rendition folders holding at least one recorded segment, by name."""
        names = sorted(p.name for p in self.folder.iterdir()
                       if p.is_dir() and RENDITION_RE.fullmatch(p.name))
        return [n for n in names if self.records(n)]

    def records(self, rendition: str) -> list[SegmentRecord]:
        if not RENDITION_RE.fullmatch(rendition):
            return []
        return vod.ordered(read_index(self.folder, rendition))

    def media_playlist(self, rendition: str) -> str | None:
        records = self.records(rendition)
        return vod.media_playlist(records) if records else None

    def summaries(self) -> list[vod.RenditionSummary]:
        out = []
        for name in self.renditions():
            records = self.records(name)
            first = records[0]
            init = _read(self.folder / name / first.init_uri)
            sample = _read(self.folder / name / records[min(1, len(records) - 1)].uri)
            summary = vod.describe(name, records, init, sample)
            if summary is not None:
                out.append(summary)
        return out

    def master_playlist(self) -> str | None:
        summaries = self.summaries()
        return vod.multivariant_playlist(summaries) if summaries else None

    def duration(self) -> float:
        """Seconds of the longest rendition (0.0 when nothing was recorded)."""
        return max((vod.total_duration(self.records(n)) for n in self.renditions()), default=0.0)

    def file(self, rendition: str, name: str) -> Path | None:
        """The path of a recorded init/media segment, None unless the names are well-formed
        and the file exists inside this recording."""
        if not RENDITION_RE.fullmatch(rendition) or not MEDIA_FILE_RE.fullmatch(name):
            return None
        path = (self.folder / rendition / name).resolve()
        if not path.is_relative_to(self.folder) or not path.is_file():
            return None
        return path

    @property
    def thumb_path(self) -> Path:
        return self.folder / THUMB_FILE

    def thumbnail_source(self) -> bytes | None:
        """Init + first media segment of the lowest-bandwidth rendition (a frame to grab)."""
        summaries = self.summaries()
        if not summaries:
            return None
        low = min(summaries, key=lambda s: s.peak_bandwidth)
        first = self.records(low.name)[0]
        init = _read(self.folder / low.name / first.init_uri)
        media = _read(self.folder / low.name / first.uri)
        return init + media if init is not None and media is not None else None


class Recordings:
    """Every recording under the node's media root."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def get(self, login: str, session_id: str) -> Recording | None:
        """The recording of `login`'s session `session_id`, None when the names are not
        well-formed or nothing was recorded. The path is built only from checked names and
        must resolve inside the media root."""
        if not LOGIN_RE.fullmatch(login) or not SESSION_RE.fullmatch(session_id):
            return None
        root = self.root.resolve()
        folder = (root / login / session_id).resolve()
        if not folder.is_relative_to(root) or not folder.is_dir():
            return None
        return Recording(folder)

    def has(self, login: str, session_id: str) -> bool:
        """Cheap check (no index is parsed): some rendition recorded at least one segment."""
        found = self.get(login, session_id)
        return found is not None and any(
            (p / INDEX_FILE).is_file() and (p / INDEX_FILE).stat().st_size > 0
            for p in found.folder.iterdir() if RENDITION_RE.fullmatch(p.name))


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None
