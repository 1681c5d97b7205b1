"""Latency and CPU bench: StreamHub LL-HLS vs an ffmpeg-HLS baseline, and cores per channel.

    .venv/bin/python bench/latency/run.py [--seconds 60] [--preset veryfast] [--json out.json]
        [--variants all|name,name] [--skip-baseline] [--skip-bare]

Prints figures; asserts nothing. Every process it starts is stopped by pid; only 127.0.0.1.
See docs/benchmarks.md for what is measured and how to read it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from baseline import Baseline
from common import (
    FFMPEG,
    HLS_JS,
    CpuWindow,
    Publisher,
    cmdline,
    descendants,
    parent_pid,
    source_encode_args,
    stop_process,
    wait_for,
)
from node import Node
from player import Chromium, PlaybackRun, player_html
from playwright.sync_api import sync_playwright

LOGIN = "bench"
CPU_WARMUP_S = 5.0

# The watch page's hls.js config (src/streamhub/web/static/watch.js), for the injected control.
PRODUCT_CONFIG: dict[str, Any] = {
    "lowLatencyMode": True,
    "maxLiveSyncPlaybackRate": 1.5,
    "liveDurationInfinity": True,
    "backBufferLength": 30,
    "enableWorker": True,
}
# One-time jump to hls.js' live sync position 1 s after playback starts (hls.js never catches
# up by itself in LL mode: its rate control needs more than 1 s of forward buffer).
SEEK_LIVE_JS = """
  video.addEventListener("playing", function first() {
    video.removeEventListener("playing", first);
    setTimeout(function () {
      const p = hls.liveSyncPosition;
      if (p && p > video.currentTime + 0.1) video.currentTime = p;
    }, 1000);
  });
"""
# Page-side catch-up: 1.1x while more than 0.1 s behind hls.js' target and at least 0.3 s is
# buffered (hls.js' own controller is disabled with maxLiveSyncPlaybackRate 1 so it does not
# reset the rate).
CATCH_UP_JS = """
  setInterval(function () {
    const lat = hls.latency, tgt = hls.targetLatency, b = video.buffered;
    const ahead = b.length ? b.end(b.length - 1) - video.currentTime : 0;
    if (!lat || !tgt) return;
    if (lat - tgt > 0.1 && ahead > 0.3) video.playbackRate = 1.1;
    else if (lat - tgt < 0.03 || ahead < 0.2) video.playbackRate = 1;
  }, 250);
"""
# Lowest rendition only (x264 renditions add the transcoder's encoder delay; source is a copy).
PIN_LOWEST_JS = """
  hls.on(Hls.Events.MANIFEST_PARSED, function (_e, data) {
    let low = 0;
    data.levels.forEach(function (l, i) { if (l.height < data.levels[low].height) low = i; });
    hls.currentLevel = low;
  });
"""
CATCH_UP_CONFIG: dict[str, Any] = {**PRODUCT_CONFIG, "maxLiveSyncPlaybackRate": 1}
VARIANTS: dict[str, dict[str, Any]] = {
    # same config as the watch page, in an injected page (checks the injection changes nothing)
    "product": {"config": PRODUCT_CONFIG},
    # hls.js defaults in LL mode: target = PART-HOLD-BACK, no catch-up (rate 1)
    "ll-defaults": {"config": {"lowLatencyMode": True}},
    # each stall raises hls.js' target latency by 1 s (up to TARGETDURATION): make it 0.2 s
    "stall-0.2": {"config": {**PRODUCT_CONFIG, "liveSyncOnStallIncrease": 0.2}},
    # aim closer than PART-HOLD-BACK (0.6 s = 3 parts): 2 parts behind the edge
    "sync-0.4": {
        "config": {**PRODUCT_CONFIG, "liveSyncDuration": 0.4, "liveSyncOnStallIncrease": 0.2}
    },
    "seek-live": {"config": PRODUCT_CONFIG, "js": SEEK_LIVE_JS},
    "catch-up": {"config": CATCH_UP_CONFIG, "js": CATCH_UP_JS},
    "catch-up-0.4": {
        "config": {**CATCH_UP_CONFIG, "liveSyncDuration": 0.4, "liveSyncOnStallIncrease": 0.2},
        "js": CATCH_UP_JS,
    },
    "pin-lowest": {"config": PRODUCT_CONFIG, "js": PIN_LOWEST_JS},
    # a player that ignores LL-HLS (parts unused): what non-LL clients get from StreamHub
    "no-ll": {"config": {"lowLatencyMode": False}},
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- phase 1: StreamHub


def first_frame_lateness(pub: Publisher) -> float | None:
    """How much later than its steady-state slot the publisher's first frame went out (ffmpeg's
    -re initial burst and the RTMP handshake); a PDT anchored on that arrival is this late."""
    t0 = pub.t0()
    return None if t0 is None or not pub.sent else round(pub.sent[0] - t0, 3)


def hlsjs_routes(node: Node) -> tuple[dict[str, tuple[str, bytes]], bool]:
    """Serve hls.js from node_modules in the browser if the node does not (it copies it into
    web/static/vendor only on `make install`)."""
    status, _ = node.get("/static/vendor/hls.min.js")
    if status == 200:
        return {}, True
    return {"**/static/vendor/hls.min.js": ("application/javascript", HLS_JS.read_bytes())}, False


def cpu_sampler(pids: dict[str, int], seconds: float) -> tuple[CpuWindow, Any]:
    """A CpuWindow started CPU_WARMUP_S into sampling and stopped just before the end."""
    window = CpuWindow(pids)
    warm = CPU_WARMUP_S if seconds >= 30 + CPU_WARMUP_S + 2 else 0.0
    state = {"started": False, "stopped": False}

    def on_sample(elapsed: float) -> None:
        if not state["started"] and elapsed >= warm:
            window.start()
            state["started"] = True
        elif state["started"] and not state["stopped"] and elapsed >= seconds - 1.0:
            window.stop()
            state["stopped"] = True

    return window, on_sample


def phase_streamhub(args: argparse.Namespace, tmp: Path, chromium: Chromium) -> dict[str, Any]:
    out: dict[str, Any] = {}
    node = Node(tmp / "node", preset=args.preset)
    pub: Publisher | None = None
    try:
        log(f"node up: http {node.http_port}, rtmp {node.rtmp_port}")
        user = node.create_user(LOGIN)
        budget = 120 + args.seconds * (2 + len(args.variant_list)) + 30 * len(args.variant_list)
        pub = Publisher(node.rtmp_url(user["stream_key"]), seconds=budget)
        t_pub = time.monotonic()
        state = node.wait_live(LOGIN)
        out["time_to_live_s"] = round(time.monotonic() - t_pub, 2)
        tc = state["health"]["transcoder"]
        ff_pid = int(tc["pid"])
        out["ffmpeg_is_child_of_node"] = parent_pid(ff_pid) == node.pid
        out["ffmpeg_argv"] = cmdline(ff_pid)
        out["renditions"] = [
            f"{r['name']} {r.get('width')}x{r.get('height')}" for r in state["renditions"]
        ]
        _status, playlist = node.get(state["renditions"][0]["uri"])
        out["media_playlist_head"] = playlist.decode(errors="replace").splitlines()[:8]
        routes, served = hlsjs_routes(node)
        out["hlsjs_served_by_node"] = served
        if not served:
            log("node answers 404 for /static/vendor/hls.min.js: serving it from node_modules")
        others = [p for p in descendants(node.pid) if p != ff_pid]
        pids = {"node_python": node.pid, "node_ffmpeg": ff_pid, "publisher": pub.proc.pid}
        pids.update({f"node_other_{p}": p for p in others})
        window, on_sample = cpu_sampler(pids, args.seconds)
        log(f"live after {out['time_to_live_s']} s; playing the watch page for {args.seconds} s")
        run = chromium.play(
            f"{node.base_url}/{LOGIN}",
            label="streamhub watch page",
            seconds=args.seconds,
            routes=routes,
            on_sample=on_sample,
        )
        out["playback"] = run.report(pub.sent_at)
        out["cpu"] = window.result
        after = node.state(LOGIN)
        out["transcoder_after"] = after["health"]["transcoder"]
        out["input_after"] = after["health"]["input"]
        if int(after["health"]["transcoder"]["pid"]) != ff_pid:
            out["cpu"]["warning"] = "the transcoder restarted during the window"
        out["variants"] = {}
        for name in args.variant_list:
            variant = VARIANTS[name]
            config = variant["config"]
            url = f"{node.base_url}/__bench__/{name}.html"
            html = player_html(
                f"/hls/{LOGIN}/master.m3u8",
                config,
                "/static/vendor/hls.min.js",
                variant.get("js", ""),
            )
            vroutes = {**routes, url: ("text/html", html.encode())}
            log(f"variant {name}: {json.dumps(config)}")
            try:
                vrun = chromium.play(
                    url, label=f"variant {name}", seconds=args.seconds, routes=vroutes
                )
                out["variants"][name] = {
                    "config": config,
                    "js": variant.get("js", ""),
                    **vrun.report(pub.sent_at),
                }
            except Exception as exc:  # one variant failing must not lose the others
                out["variants"][name] = {"config": config, "error": repr(exc)}
        out["publisher_video_tags"] = len(pub.sent)
        out["first_frame_lateness_s"] = first_frame_lateness(pub)
        out["node_log_tail"] = node.log_tail(15).splitlines()
    finally:
        if pub is not None:
            pub.stop()
        node.stop()
    return out


# ---------------------------------------------------------------- phase 2: baseline


def phase_baseline(args: argparse.Namespace, tmp: Path, chromium: Chromium) -> dict[str, Any]:
    out: dict[str, Any] = {}
    base = Baseline(tmp / "baseline", preset=args.preset, segment_type=args.baseline_segments)
    pub: Publisher | None = None
    try:
        out["ffmpeg_argv"] = base.argv
        budget = 120 + args.seconds * 2
        for _attempt in range(10):  # the listener needs a moment before it accepts
            time.sleep(1.0)
            pub = Publisher(base.rtmp_url, seconds=budget)
            time.sleep(2.0)
            if pub.proc.poll() is None:
                break
            pub.stop()
            pub = None
            if base.proc is not None and base.proc.poll() is not None:
                raise RuntimeError(f"ffmpeg -listen exited: {base.log_path.read_text()[-2000:]}")
        if pub is None:
            raise RuntimeError("publisher could not connect to ffmpeg -listen")
        t_pub = time.monotonic()
        wait_for(
            lambda: base.segments() >= 3 and (base.hls_dir / "master.m3u8").exists(),
            timeout=60,
            what="baseline playlist with 3 segments",
        )
        out["time_to_live_s"] = round(time.monotonic() - t_pub, 2)
        out["media_playlist_head"] = (base.hls_dir / "index.m3u8").read_text().splitlines()[:8]
        config = {"lowLatencyMode": False}
        url = base.write_page("player.html", player_html("hls/master.m3u8", config, "hls.min.js"))
        assert base.proc is not None
        window, on_sample = cpu_sampler({"ffmpeg_hls": base.proc.pid}, args.seconds)
        log(f"baseline live after {out['time_to_live_s']} s; playing for {args.seconds} s")
        run: PlaybackRun = chromium.play(
            url, label="baseline ffmpeg hls 1s", seconds=args.seconds, on_sample=on_sample
        )
        out["hlsjs_config"] = config
        out["playback"] = run.report(pub.sent_at)
        out["cpu"] = window.result
    finally:
        if pub is not None:
            pub.stop()
        base.stop()
    return out


# ---------------------------------------------------------------- phase 3: bare ffmpeg


def bare_argv(product_argv: list[str] | None, src: Path) -> tuple[list[str], str]:
    """The node's own ffmpeg command line with stdin replaced by `-re -i src` and each output
    pipe by /dev/null; falls back to an equivalent hand-written ladder."""
    if product_argv and "pipe:0" in product_argv:
        argv = [FFMPEG, "-y"]
        skip_next_pipe = False
        for i, a in enumerate(product_argv[1:], start=1):
            if a == "-progress":
                skip_next_pipe = True
                argv.append(a)
                continue
            if a == "pipe:0" and product_argv[i - 1] == "-i":
                argv[-1:] = ["-re", "-i", str(src)]
                continue
            if a.startswith("pipe:") and not skip_next_pipe:
                argv.append("/dev/null")
                continue
            skip_next_pipe = False
            argv.append(a)
        if "-re" in argv:
            return argv, "node's ffmpeg argv (stdin -> -re file, pipes -> /dev/null)"
    kbps = {"480p": "1500k", "360p": "800k"}
    argv = [
        FFMPEG,
        "-y",
        "-hide_banner",
        "-nostats",
        "-loglevel",
        "warning",
        "-re",
        "-f",
        "flv",
        "-i",
        str(src),
        "-filter_complex",
        "[0:v]split=2[a][b];[a]scale=854:480:flags=bilinear[v480p];"
        "[b]scale=640:360:flags=bilinear[v360p]",
    ]
    frag = [
        "-f",
        "mp4",
        "-movflags",
        "frag_keyframe+empty_moov+default_base_moof",
        "-frag_duration",
        "200000",
        "/dev/null",
    ]
    argv += ["-map", "0:v:0", "-map", "0:a:0", "-c:v", "copy", "-c:a", "copy", *frag]
    for name in ("480p", "360p"):
        argv += [
            "-map",
            f"[v{name}]",
            "-map",
            "0:a:0",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-tune",
            "zerolatency",
            "-b:v",
            kbps[name],
            "-maxrate",
            kbps[name],
            "-bufsize",
            kbps[name],
            "-g",
            "60",
            "-keyint_min",
            "60",
            "-sc_threshold",
            "0",
            "-c:a",
            "copy",
            *frag,
        ]
    return argv, "hand-written ladder (node argv unavailable)"


def phase_bare(
    args: argparse.Namespace, tmp: Path, product_argv: list[str] | None, window_s: float
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    src = tmp / "source-720p30.flv"
    length = window_s + CPU_WARMUP_S + 15
    log(f"pre-generating {length:.0f} s of 720p30 FLV")
    subprocess.run(
        [
            FFMPEG,
            "-hide_banner",
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            *source_encode_args(preset="veryfast", seconds=length, realtime=False),
            "-f",
            "flv",
            str(src),
        ],
        check=True,
        timeout=600,
    )
    argv, how = bare_argv(product_argv, src)
    out["argv_origin"] = how
    out["ffmpeg_argv"] = argv
    log_path = tmp / "bare-ffmpeg.log"
    with log_path.open("w") as errlog:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errlog
        )
        try:
            time.sleep(CPU_WARMUP_S)
            if proc.poll() is not None:
                raise RuntimeError(f"bare ffmpeg exited: {log_path.read_text()[-2000:]}")
            window = CpuWindow({"bare_ffmpeg": proc.pid})
            window.start()
            log(f"bare ffmpeg ladder running; measuring {window_s:.0f} s")
            time.sleep(window_s)
            out["cpu"] = window.stop()
        finally:
            stop_process(proc, grace=5)
    speeds = [
        ln.split("=", 1)[1].strip()
        for ln in log_path.read_text().splitlines()
        if ln.startswith("speed=")
    ]
    out["last_speed"] = speeds[-1] if speeds else None
    return out


# ---------------------------------------------------------------- report


def fmt(v: Any, width: int = 7, digits: int = 2) -> str:
    if v is None:
        return "-".rjust(width)
    if isinstance(v, float):
        return f"{v:.{digits}f}".rjust(width)
    return str(v).rjust(width)


def latency_rows(title: str, pb: dict[str, Any]) -> list[str]:
    rows = [title]
    for key, label in (
        ("latency_pixel_clock", "ingest->picture, pixel clock (truth)"),
        ("latency_page", "ingest->picture by PDT (player.latency)"),
        ("pdt_error", "PDT - true ingest time of that frame"),
        ("hls_latency", "hls.js latency estimate"),
        ("hls_target_latency", "hls.js target latency"),
        ("buffer_ahead", "buffer ahead of playhead"),
    ):
        s = pb.get(key) or {}
        rows.append(
            f"  {label:<40}{fmt(s.get('n'), 5)}{fmt(s.get('p50'))}{fmt(s.get('p95'))}"
            f"{fmt(s.get('min'))}{fmt(s.get('max'))}"
        )
    rows.append(
        f"  {'frames / dropped / frozen samples':<40}{pb.get('frames')} / "
        f"{pb.get('dropped_frames')} / {pb.get('frozen_samples')}"
        f"   startup {pb.get('startup_s')} s, heights {pb.get('video_heights')}"
    )
    if pb.get("hls_errors"):
        rows.append(f"  {'hls.js errors':<40}{pb['hls_errors']}")
    return rows


def ratio(a: dict[str, Any] | None, b: dict[str, Any] | None, key: str) -> float | None:
    try:
        return round(float(a[key]["p50"]) / float(b[key]["p50"]), 2)  # type: ignore[index]
    except (TypeError, KeyError, ZeroDivisionError):
        return None


def print_report(res: dict[str, Any]) -> None:
    head = f"  {'':<40}{'n':>5}{'p50':>7}{'p95':>7}{'min':>7}{'max':>7}   (seconds)"
    lines = ["", f"StreamHub latency bench  {res['date']}  {res['machine']}", head]
    sh = res.get("streamhub") or {}
    if sh.get("playback"):
        lines += latency_rows(
            "StreamHub LL-HLS, watch page (hls.js lowLatencyMode)", sh["playback"]
        )
    for name, v in (sh.get("variants") or {}).items():
        if "error" in v:
            lines.append(f"variant {name}: ERROR {v['error']}")
        else:
            lines += latency_rows(
                f"StreamHub, injected page, hls.js variant '{name}'"
                f"{' + page JS' if v.get('js') else ''} {json.dumps(v['config'])}",
                v,
            )
    bl = res.get("baseline") or {}
    if bl.get("playback"):
        lines += latency_rows(
            "Baseline: ffmpeg -listen -> x264 -> hls muxer 1 s segments, hls.js default (non-LL)",
            bl["playback"],
        )
    rows = []
    if sh.get("playback"):
        rows.append(("StreamHub watch page", sh["playback"]))
    rows += [
        (f"StreamHub variant {k}", v)
        for k, v in (sh.get("variants") or {}).items()
        if "error" not in v
    ]
    if bl.get("playback"):
        rows.append(("baseline ffmpeg HLS 1 s", bl["playback"]))
    if rows:
        lines += [
            "",
            f"  {'summary (seconds)':<34}{'true p50':>9}{'p95':>7}{'PDT p50':>9}"
            f"{'hls.js p50':>11}{'dropped':>9}{'frozen':>8}",
        ]
        for label, pb in rows:
            t, d, h = pb["latency_pixel_clock"], pb["latency_page"], pb["hls_latency"]
            lines.append(
                f"  {label:<34}{fmt(t['p50'], 9)}{fmt(t['p95'])}{fmt(d['p50'], 9)}"
                f"{fmt(h['p50'], 11)}{fmt(pb['dropped_frames'], 9)}"
                f"{fmt(pb['frozen_samples'], 8)}"
            )
    r = res.get("ratios") or {}
    if r:
        lines.append(
            f"baseline_p50 / streamhub_p50: PDT {r.get('pdt')}x, "
            f"pixel clock {r.get('pixel_clock')}x"
        )
    lines.append("")
    cpu = res.get("cpu_summary") or {}
    if cpu:
        lines.append(f"CPU, cores = CPU-seconds / wall-seconds (window {cpu.get('window_s')} s)")
        for key, label in (
            ("node_python", "StreamHub node (python process)"),
            ("node_ffmpeg", "StreamHub ffmpeg (its child)"),
            ("node_total", "StreamHub total"),
            ("bare_ffmpeg", "bare ffmpeg, same ladder, -re from file"),
            ("ffmpeg_overhead", "StreamHub ffmpeg - bare ffmpeg"),
            ("publisher", "publisher ffmpeg (source encode)"),
            ("baseline_ffmpeg", "baseline ffmpeg (1 rendition + hls)"),
        ):
            if cpu.get(key) is not None:
                lines.append(f"  {label:<40}{cpu[key]:>7.3f}")
        if cpu.get("machine"):
            lines.append(f"  machine during StreamHub window: {cpu['machine']}")
    print("\n".join(lines), flush=True)


def summarise(res: dict[str, Any]) -> None:
    sh, bl, bare = res.get("streamhub") or {}, res.get("baseline") or {}, res.get("bare") or {}
    if sh.get("playback") and bl.get("playback"):
        res["ratios"] = {
            "pdt": ratio(bl["playback"], sh["playback"], "latency_page"),
            "pixel_clock": ratio(bl["playback"], sh["playback"], "latency_pixel_clock"),
        }
    cores = (sh.get("cpu") or {}).get("cores") or {}
    cpu: dict[str, Any] = {"window_s": (sh.get("cpu") or {}).get("wall_s")}
    cpu["node_python"] = cores.get("node_python")
    cpu["node_ffmpeg"] = cores.get("node_ffmpeg")
    others = [v for k, v in cores.items() if k.startswith("node_other_") and v is not None]
    if cpu["node_python"] is not None and cpu["node_ffmpeg"] is not None:
        cpu["node_total"] = round(cpu["node_python"] + cpu["node_ffmpeg"] + sum(others), 4)
    cpu["publisher"] = cores.get("publisher")
    cpu["bare_ffmpeg"] = ((bare.get("cpu") or {}).get("cores") or {}).get("bare_ffmpeg")
    if cpu["bare_ffmpeg"] is not None and cpu["node_ffmpeg"] is not None:
        cpu["ffmpeg_overhead"] = round(cpu["node_ffmpeg"] - cpu["bare_ffmpeg"], 4)
    cpu["baseline_ffmpeg"] = ((bl.get("cpu") or {}).get("cores") or {}).get("ffmpeg_hls")
    if sh.get("cpu"):
        cpu["machine"] = (
            f"busy {sh['cpu'].get('machine_busy_fraction')}, "
            f"loadavg {tuple(round(x, 2) for x in sh['cpu'].get('loadavg', ()))}"
        )
    res["cpu_summary"] = cpu


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seconds", type=float, default=60.0, help="sampling time per playback")
    p.add_argument("--preset", default="veryfast", help="x264 preset of the node's ladder")
    p.add_argument("--json", type=Path, help="write every figure and sample summary here")
    p.add_argument(
        "--variants",
        default="",
        help=f"hls.js configs to try on the node: 'all' or a comma list of {', '.join(VARIANTS)}",
    )
    p.add_argument("--baseline-segments", default="mpegts", choices=["mpegts", "fmp4"])
    p.add_argument(
        "--skip-streamhub",
        action="store_true",
        help="(bare ffmpeg then uses the hand-written ladder)",
    )
    p.add_argument("--skip-baseline", action="store_true")
    p.add_argument("--skip-bare", action="store_true")
    args = p.parse_args(argv)
    names = list(VARIANTS) if args.variants == "all" else [v for v in args.variants.split(",") if v]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        p.error(f"unknown variants {unknown}; known: {list(VARIANTS)}")
    args.variant_list = names
    if args.seconds < 10:
        p.error("--seconds must be at least 10")

    res: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {platform.platform()}, "
        f"loadavg at start {tuple(round(x, 2) for x in os.getloadavg())}",
        "args": {
            "seconds": args.seconds,
            "preset": args.preset,
            "variants": names,
            "baseline_segments": args.baseline_segments,
        },
        "ffmpeg": FFMPEG,
    }
    with tempfile.TemporaryDirectory(prefix="streamhub-bench-") as tmpname, sync_playwright() as pw:
        tmp = Path(tmpname)
        chromium = Chromium(pw)
        try:
            if not args.skip_streamhub:
                try:
                    res["streamhub"] = phase_streamhub(args, tmp, chromium)
                except Exception as exc:
                    log(f"StreamHub phase failed: {exc!r}")
                    res["streamhub"] = {"error": repr(exc)}
            if not args.skip_baseline:
                try:
                    res["baseline"] = phase_baseline(args, tmp, chromium)
                except Exception as exc:
                    log(f"baseline phase failed: {exc!r}")
                    res["baseline"] = {"error": repr(exc)}
        finally:
            chromium.close()
        if not args.skip_bare:
            sh_cpu = (res.get("streamhub") or {}).get("cpu") or {}
            window = max(30.0, float(sh_cpu.get("wall_s") or 0) or args.seconds - 6)
            try:
                res["bare"] = phase_bare(
                    args, tmp, (res.get("streamhub") or {}).get("ffmpeg_argv"), window
                )
            except Exception as exc:
                log(f"bare ffmpeg phase failed: {exc!r}")
                res["bare"] = {"error": repr(exc)}
    summarise(res)
    print_report(res)
    if args.json:
        args.json.write_text(json.dumps(res, indent=2, default=str))
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
