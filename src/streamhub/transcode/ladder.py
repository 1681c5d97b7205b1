"""Ladder policy: which renditions a source gets (pure; never upscales)."""

from __future__ import annotations

from dataclasses import dataclass

from streamhub.config import Rendition


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What the encoder announced about its stream."""

    width: int
    height: int
    fps: float
    video_kbps: float | None = None
    has_audio: bool = True
    audio_is_aac: bool = True


@dataclass(frozen=True, slots=True)
class Output:
    """One planned output: `source` (video copied) or a scaled x264 rung."""

    name: str
    copy_video: bool
    width: int
    height: int
    fps: float
    video_kbps: int
    audio_kbps: int

    @property
    def bandwidth(self) -> int:
        """Advertised peak bits per second (video + audio, 10 % container overhead)."""
        return int((self.video_kbps + self.audio_kbps) * 1000 * 1.1)


def _even(value: float) -> int:
    rounded = round(value)
    return rounded + (rounded % 2)


def plan_outputs(
    source: SourceInfo, ladder: tuple[Rendition, ...], *, source_only: bool = False
) -> list[Output]:
    """The source copy plus every rung strictly below the source height, highest first."""
    src_kbps = int(source.video_kbps) if source.video_kbps else 6000
    outputs = [
        Output(
            name="source",
            copy_video=True,
            width=source.width,
            height=source.height,
            fps=source.fps,
            video_kbps=src_kbps,
            audio_kbps=160,
        )
    ]
    if source_only:
        return outputs
    aspect = source.width / source.height if source.height else 16 / 9
    for rung in sorted(ladder, key=lambda r: r.height, reverse=True):
        if rung.height >= source.height:
            continue
        outputs.append(
            Output(
                name=rung.name,
                copy_video=False,
                width=_even(rung.height * aspect),
                height=rung.height,
                fps=min(rung.fps, source.fps) if source.fps > 0 else rung.fps,
                video_kbps=rung.video_kbps,
                audio_kbps=rung.audio_kbps,
            )
        )
    return outputs
