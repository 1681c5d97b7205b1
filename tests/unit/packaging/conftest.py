"""Real ffmpeg fMP4 (IDR every 2 s, 200 ms fragments) and helpers to drive packagers."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import pytest

from streamhub.packaging import RenditionPackager
from streamhub.protocols.fmp4 import FragmentAssembler, InitSegment, MediaFragment
from tests.media import make_fmp4

T0 = 1_700_000_000.0
SECONDS = 6


@dataclass(frozen=True)
class Stream:
    raw: bytes
    init: InitSegment
    fragments: list[MediaFragment]


def make_stream(path: Path) -> Stream:
    raw = make_fmp4(path, seconds=SECONDS, gop=60)
    events = FragmentAssembler().feed(raw)
    init = events[0]
    assert isinstance(init, InitSegment)
    frags = [e for e in events if isinstance(e, MediaFragment)]
    return Stream(raw, init, frags)


@pytest.fixture(scope="session")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Stream:
    return make_stream(tmp_path_factory.mktemp("pkg") / "av.mp4")


class Feeder:
    """Feeds a packager one producer run, fragment by fragment, with a synthetic ingest clock."""

    def __init__(self, packager: RenditionPackager, stream: Stream, *, seed: int = 0) -> None:
        self.packager = packager
        self.stream = stream
        self.rnd = random.Random(seed)
        self.next = 0
        self.wall = T0
        self.started = False

    def _feed_chunked(self, data: bytes) -> None:
        i = 0
        while i < len(data):
            n = self.rnd.randint(1, 9000)
            self.packager.feed(data[i : i + n], self.wall)
            i += n

    def fragments(self, count: int) -> None:
        if not self.started:
            self._feed_chunked(self.stream.init.data)
            self.started = True
        for frag in self.stream.fragments[self.next : self.next + count]:
            self.wall += frag.duration
            self._feed_chunked(frag.data)
        self.next += count

    def rest(self) -> None:
        self.fragments(len(self.stream.fragments) - self.next)

    def restart(self) -> None:
        """A new producer: discontinuity, then the same media again from the start."""
        self.packager.discontinuity()
        self.next = 0
        self.started = False
        self.wall += 3.0  # restart gap
