"""The ffmpeg command line for one live stream (pure; golden-tested)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from streamhub.transcode.ladder import Output, SourceInfo

FMP4_FLAGS = "frag_keyframe+empty_moov+default_base_moof"


def build_argv(
    ffmpeg: str,
    source: SourceInfo,
    outputs: Sequence[Output],
    output_fds: Sequence[int],
    *,
    preset: str = "veryfast",
    segment_seconds: float = 2.0,
    fragment_seconds: float = 0.2,
) -> list[str]:
    """ffmpeg reading FLV on stdin and writing one fMP4 (CMAF) stream per output fd."""
    if len(outputs) != len(output_fds):
        raise ValueError("one fd per output")
    argv = [
        ffmpeg, "-hide_banner", "-nostats", "-loglevel", "warning",
        "-progress", "pipe:2", "-stats_period", "1",
        "-fflags", "+genpts", "-probesize", "500000", "-analyzeduration", "500000",
        "-f", "flv", "-i", "pipe:0",
    ]
    scaled = [o for o in outputs if not o.copy_video]
    if scaled:
        parts = []
        if len(scaled) > 1:
            labels = "".join(f"[s{i}]" for i in range(len(scaled)))
            parts.append(f"[0:v]split={len(scaled)}{labels}")
        for i, out in enumerate(scaled):
            src = f"[s{i}]" if len(scaled) > 1 else "[0:v]"
            chain = f"scale={out.width}:{out.height}:flags=bilinear,setsar=1"
            if out.fps < source.fps:
                chain += f",fps={_num(out.fps)}"
            parts.append(f"{src}{chain}[v{out.name}]")
        argv += ["-filter_complex", ";".join(parts)]
    audio_codec = ["-c:a", "copy"] if source.audio_is_aac else None
    for out, fd in zip(outputs, output_fds, strict=True):
        if out.copy_video:
            argv += ["-map", "0:v:0"]
        else:
            argv += ["-map", f"[v{out.name}]"]
        if source.has_audio:
            argv += ["-map", "0:a:0"]
        if out.copy_video:
            argv += ["-c:v", "copy"]
        else:
            gop = max(1, math.ceil(out.fps * segment_seconds))
            kbps = f"{out.video_kbps}k"
            argv += [
                "-c:v", "libx264", "-preset", preset, "-tune", "zerolatency",
                "-profile:v", "main", "-pix_fmt", "yuv420p",
                "-b:v", kbps, "-maxrate", kbps, "-bufsize", kbps,
                "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
                "-force_key_frames", f"expr:gte(t,n_forced*{_num(segment_seconds)})",
                "-x264-params", "open_gop=0:scenecut=0",
            ]
        if source.has_audio:
            argv += audio_codec or ["-c:a", "aac", "-b:a", f"{out.audio_kbps}k"]
        argv += [
            "-f", "mp4", "-movflags", FMP4_FLAGS,
            "-frag_duration", str(int(fragment_seconds * 1_000_000)),
            "-flush_packets", "1", "-max_muxing_queue_size", "1024",
            f"pipe:{fd}",
        ]
    return argv


def _num(value: float) -> str:
    """A compact decimal for ffmpeg (30.0 -> '30', 29.97 -> '29.97')."""
    return f"{value:.3f}".rstrip("0").rstrip(".")
