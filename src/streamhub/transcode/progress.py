"""Parse ffmpeg `-progress` key=value blocks from stderr into health figures (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Progress:
    """The last complete progress block ffmpeg reported."""

    frame: int = 0
    fps: float = 0.0
    speed: float = 0.0
    bitrate_kbps: float = 0.0
    out_time_s: float = 0.0
    dup_frames: int = 0
    drop_frames: int = 0


@dataclass(slots=True)
class ProgressParser:
    """Feed stderr lines; returns a Progress at the end of each block, else None.

    Lines that are not `key=value` are ffmpeg log messages; they are kept in `messages`.
    """

    _block: dict[str, str] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)

    def feed_line(self, line: str) -> Progress | None:
        text = line.strip()
        if not text:
            return None
        key, sep, value = text.partition("=")
        if not sep or " " in key:
            self.messages.append(text)
            del self.messages[:-50]
            return None
        self._block[key] = value.strip()
        if key != "progress":
            return None
        block, self._block = self._block, {}
        return Progress(
            frame=_int(block.get("frame")),
            fps=_float(block.get("fps")),
            speed=_float(block.get("speed", "").rstrip("x")),
            bitrate_kbps=_float(block.get("bitrate", "").replace("kbits/s", "")),
            out_time_s=_int(block.get("out_time_us")) / 1_000_000,
            dup_frames=_int(block.get("dup_frames")),
            drop_frames=_int(block.get("drop_frames")),
        )


def _float(raw: str | None) -> float:
    try:
        return float(raw) if raw not in (None, "", "N/A") else 0.0
    except ValueError:
        return 0.0


def _int(raw: str | None) -> int:
    try:
        return int(raw) if raw not in (None, "", "N/A") else 0
    except ValueError:
        return 0
