"""Golden argv for the per-stream ffmpeg command line."""

from streamhub.config import DEFAULT_LADDER
from streamhub.transcode.argv import build_argv
from streamhub.transcode.ladder import SourceInfo, plan_outputs

HEAD = [
    "ffmpeg", "-hide_banner", "-nostats", "-loglevel", "warning",
    "-progress", "pipe:2", "-stats_period", "1",
    "-fflags", "+genpts", "-probesize", "500000", "-analyzeduration", "500000",
    "-f", "flv", "-i", "pipe:0",
]
TAIL = ["-f", "mp4", "-movflags", "frag_keyframe+empty_moov+default_base_moof",
        "-frag_duration", "200000", "-flush_packets", "1", "-max_muxing_queue_size", "1024"]


def x264(kbps: int, gop: int, preset: str = "veryfast") -> list[str]:
    return [
        "-c:v", "libx264", "-preset", preset, "-tune", "zerolatency",
        "-profile:v", "main", "-pix_fmt", "yuv420p",
        "-b:v", f"{kbps}k", "-maxrate", f"{kbps}k", "-bufsize", f"{kbps}k",
        "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
        "-force_key_frames", "expr:gte(t,n_forced*2)",
        "-x264-params", "open_gop=0:scenecut=0",
    ]


def test_1080p60_full_ladder_golden() -> None:
    src = SourceInfo(1920, 1080, 60.0, 8000)
    outs = plan_outputs(src, DEFAULT_LADDER)
    argv = build_argv("ffmpeg", src, outs, [3, 4, 5, 6])
    assert argv == [
        *HEAD,
        "-filter_complex",
        "[0:v]split=3[s0][s1][s2];"
        "[s0]scale=1280:720:flags=bilinear,setsar=1,fps=30[v720p];"
        "[s1]scale=854:480:flags=bilinear,setsar=1,fps=30[v480p];"
        "[s2]scale=640:360:flags=bilinear,setsar=1,fps=30[v360p]",
        "-map", "0:v:0", "-map", "0:a:0", "-c:v", "copy", "-c:a", "copy", *TAIL, "pipe:3",
        "-map", "[v720p]", "-map", "0:a:0", *x264(3000, 60), "-c:a", "copy", *TAIL, "pipe:4",
        "-map", "[v480p]", "-map", "0:a:0", *x264(1500, 60), "-c:a", "copy", *TAIL, "pipe:5",
        "-map", "[v360p]", "-map", "0:a:0", *x264(800, 60), "-c:a", "copy", *TAIL, "pipe:6",
    ]


def test_720p30_no_audio_single_rung_golden() -> None:
    src = SourceInfo(1280, 720, 30.0, has_audio=False)
    outs = plan_outputs(src, DEFAULT_LADDER)[:2]
    argv = build_argv("/usr/bin/ffmpeg", src, outs, [7, 9], preset="ultrafast",
                      segment_seconds=1.0, fragment_seconds=0.25)
    tail = [*TAIL[:5], "250000", *TAIL[6:]]
    gop_expr = x264(1500, 30, "ultrafast")
    gop_expr[gop_expr.index("expr:gte(t,n_forced*2)")] = "expr:gte(t,n_forced*1)"
    assert argv == [
        "/usr/bin/ffmpeg", *HEAD[1:],
        "-filter_complex", "[0:v]scale=854:480:flags=bilinear,setsar=1[v480p]",
        "-map", "0:v:0", "-c:v", "copy", *tail, "pipe:7",
        "-map", "[v480p]", *gop_expr, *tail, "pipe:9",
    ]


def test_non_aac_audio_is_transcoded() -> None:
    src = SourceInfo(640, 360, 30.0, audio_is_aac=False)
    argv = build_argv("ffmpeg", src, plan_outputs(src, DEFAULT_LADDER), [3])
    assert "-filter_complex" not in argv
    i = argv.index("-c:a")
    assert argv[i : i + 4] == ["-c:a", "aac", "-b:a", "160k"]


def test_fd_count_must_match() -> None:
    src = SourceInfo(640, 360, 30.0)
    try:
        build_argv("ffmpeg", src, plan_outputs(src, DEFAULT_LADDER), [3, 4])
    except ValueError:
        return
    raise AssertionError("expected ValueError")
