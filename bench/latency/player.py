"""Chromium (Playwright) playing a page with hls.js; samples latency every 500 ms."""

from __future__ import annotations

import itertools
import json
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from common import (
    CLOCK_BITS,
    CLOCK_BOX,
    CLOCK_PITCH,
    CLOCK_X0,
    CLOCK_Y0,
    summary,
)
from playwright.sync_api import Browser, Page, Playwright, Route

CHROMIUM = os.environ.get("STREAMHUB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]

# A minimal player with the same contract as the watch page (window.streamhubPlayer with
# hls, live, latency, errors; latency refreshed every 500 ms from hls.playingDate).
PLAYER_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>bench player</title></head>
<body style="margin:0;background:#000">
<video id="video" muted playsinline autoplay style="width:1280px;height:720px"></video>
<script src="%(hls_js)s"></script>
<script>
(function () {
  const video = document.getElementById("video");
  const state = { hls: null, live: true, latency: null, errors: [], errorDetails: [] };
  window.streamhubPlayer = state;
  const hls = new Hls(%(config)s);
  state.hls = hls;
  hls.on(Hls.Events.MANIFEST_PARSED, function () { video.play().catch(function () {}); });
  hls.on(Hls.Events.ERROR, function (_e, data) {
    state.errors.push(data.details);
    if (state.errorDetails.length < 5) {
      state.errorDetails.push([data.details, data.fatal, data.sourceBufferName || "",
        String((data.error && data.error.message) || data.reason || "")].join(" | "));
    }
    if (data.fatal && data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
    else if (data.fatal) hls.startLoad();
  });
  hls.once(Hls.Events.MEDIA_ATTACHED, function () { hls.loadSource(%(src)s); });
  %(extra_js)s
  hls.attachMedia(video);
  setInterval(function () {
    const pdt = hls.playingDate;
    if (pdt) state.latency = (Date.now() - pdt.getTime()) / 1000;
  }, 500);
})();
</script></body></html>
"""

# One sample. The pixel clock is read from the frame on screen: reference boxes 0 (white)
# and 1 (black), then CLOCK_BITS bits of the frame number, LSB first.
SAMPLE_JS = """([bits, box, pitch, x0, y0]) => {
  const p = window.streamhubPlayer || null;
  const v = document.getElementById('video') || document.querySelector('video');
  const h = p && p.hls;
  const out = {now: Date.now(), page_latency: p ? p.latency : null,
               errors_n: p ? p.errors.length : 0};
  if (v) {
    out.ct = v.currentTime; out.rate = v.playbackRate; out.paused = v.paused;
    out.ready = v.readyState; out.height = v.videoHeight;
    const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : null;
    if (q) { out.frames = q.totalVideoFrames; out.dropped = q.droppedVideoFrames; }
    const b = v.buffered;
    out.buffer_ahead = b.length ? b.end(b.length - 1) - v.currentTime : 0;
  }
  if (h) {
    out.hls_latency = Number.isFinite(h.latency) ? h.latency : null;
    out.target_latency = h.targetLatency;
    const d = h.playingDate;
    out.pdt_latency = d ? (Date.now() - d.getTime()) / 1000 : null;
    out.level = h.currentLevel;
  }
  if (v && v.videoWidth && v.readyState >= 2) {
    const s = v.videoHeight / 720;
    const w = Math.ceil((x0 + (bits + 2) * pitch) * s), y = Math.floor(y0 * s);
    const hh = Math.max(2, Math.ceil(box * s));
    const c = window.__benchCanvas || (window.__benchCanvas = document.createElement('canvas'));
    c.width = w; c.height = hh;
    const g = c.getContext('2d', {willReadFrequently: true});
    g.drawImage(v, 0, y, w, hh, 0, 0, w, hh);
    out.clock_now = Date.now();
    const d = g.getImageData(0, 0, w, hh).data;
    const luma = (i) => {
      const cx = Math.round((x0 + i * pitch + box / 2) * s), cy = Math.round(hh / 2);
      let sum = 0, n = 0;
      for (let dy = -2; dy <= 2; dy++) for (let dx = -2; dx <= 2; dx++) {
        const k = ((cy + dy) * w + (cx + dx)) * 4;
        sum += (d[k] + d[k + 1] + d[k + 2]) / 3; n++;
      }
      return sum / n;
    };
    const white = luma(0), black = luma(1);
    if (white > 150 && black < 90) {
      const mid = (white + black) / 2;
      let frame = 0, margin = 255;
      for (let i = 0; i < bits; i++) {
        const l = luma(i + 2);
        if (l > mid) frame += Math.pow(2, i);
        margin = Math.min(margin, Math.abs(l - mid));
      }
      if (margin > 25) out.clock_frame = frame;
    }
  }
  return out;
}"""


def _r(v: Any) -> float | None:
    return None if v is None else round(float(v), 3)


def player_html(src: str, config: dict[str, Any], hls_js: str, extra_js: str = "") -> str:
    """The bench player page; `extra_js` runs with `hls` and `video` in scope, before attach."""
    return PLAYER_HTML % {
        "hls_js": hls_js,
        "src": json.dumps(src),
        "config": json.dumps(config),
        "extra_js": extra_js,
    }


@dataclass
class PlaybackRun:
    """Samples of one playback, summarised."""

    label: str
    samples: list[dict[str, Any]] = field(default_factory=list)
    start_wall: float = 0.0
    startup_s: float | None = None
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def truth_latencies(self, sent_at: Callable[[int], float | None] | None) -> list[float | None]:
        """Ground truth from the pixel clock: (when the frame was on screen) - (when the
        publisher wrote it into the RTMP socket)."""
        out: list[float | None] = []
        for s in self.samples:
            frame = s.get("clock_frame")
            sent = sent_at(int(frame)) if sent_at is not None and frame is not None else None
            out.append(None if sent is None else s["clock_now"] / 1000.0 - sent)
        return out

    def report(self, sent_at: Callable[[int], float | None] | None) -> dict[str, Any]:
        s = self.samples
        truth = self.truth_latencies(sent_at)
        dropped = frames = None
        if s and s[-1].get("frames") is not None and s[0].get("frames") is not None:
            frames = s[-1]["frames"] - s[0]["frames"]
            dropped = s[-1]["dropped"] - s[0]["dropped"]
        errors = Counter(self.errors)
        heights = Counter(x.get("height") for x in s)
        stalls = sum(
            1
            for a, b in itertools.pairwise(s)
            if b.get("ct") is not None
            and a.get("ct") is not None
            and b["ct"] - a["ct"] < 0.05
            and not b.get("paused")
        )
        return {
            "label": self.label,
            "duration_s": round((s[-1]["now"] - s[0]["now"]) / 1000, 1) if s else 0,
            "startup_s": self.startup_s,
            "latency_page": summary([x.get("page_latency") for x in s]),
            "latency_pdt": summary([x.get("pdt_latency") for x in s]),
            "latency_pixel_clock": summary(truth),
            # how much later than the true ingest time the PDT of the frame on screen is
            "pdt_error": summary(
                [
                    v - x["pdt_latency"] - (x["clock_now"] - x["now"]) / 1000.0
                    if v is not None and x.get("pdt_latency") is not None
                    else None
                    for v, x in zip(truth, s, strict=True)
                ]
            ),
            "hls_latency": summary([x.get("hls_latency") for x in s]),
            "hls_target_latency": summary([x.get("target_latency") for x in s]),
            "buffer_ahead": summary([x.get("buffer_ahead") for x in s]),
            "playback_rate": summary([x.get("rate") for x in s]),
            "frames": frames,
            "dropped_frames": dropped,
            "frozen_samples": stalls,
            "video_heights": {str(k): v for k, v in heights.items()},
            "hls_errors": dict(errors),
            "notes": self.notes,
            "series": {  # every sample, for plots: seconds since the first sample
                "t": [round((x["now"] - s[0]["now"]) / 1000, 2) for x in s],
                "pdt": [_r(x.get("page_latency")) for x in s],
                "pixel": [_r(v) for v in truth],
                "hls": [_r(x.get("hls_latency")) for x in s],
                "target": [_r(x.get("target_latency")) for x in s],
                "rate": [_r(x.get("rate")) for x in s],
                "height": [x.get("height") for x in s],
            },
        }


class Chromium:
    """One headless Chromium; each measurement opens its own page (fresh player)."""

    def __init__(self, pw: Playwright) -> None:
        if not os.path.exists(CHROMIUM):
            raise RuntimeError(f"{CHROMIUM} is missing (apt-get install chromium)")
        self.browser: Browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

    def close(self) -> None:
        self.browser.close()

    def play(
        self,
        url: str,
        *,
        label: str,
        seconds: float,
        routes: dict[str, tuple[str, bytes]] | None = None,
        on_playing: Any = None,
        on_sample: Any = None,
        startup_timeout: float = 90.0,
    ) -> PlaybackRun:
        """Open `url`, wait until currentTime advances, then sample every 0.5 s for `seconds`.

        `routes` maps URL globs to (content type, body) served by the browser itself (used for
        injected player pages and an hls.js fallback). `on_playing()` is called once playback
        started, `on_sample(elapsed)` after every sample.
        """
        run = PlaybackRun(label)
        page: Page = self.browser.new_page(viewport={"width": 1280, "height": 800})
        try:
            for glob, (ctype, body) in (routes or {}).items():

                def handler(route: Route, ctype: str = ctype, body: bytes = body) -> None:
                    route.fulfill(
                        status=200,
                        content_type=ctype,
                        body=body,
                        headers={"Cache-Control": "no-store"},
                    )

                page.route(glob, handler)
            t_open = time.monotonic()
            page.goto(url, timeout=30_000)
            page.wait_for_function(
                "() => { const v = document.getElementById('video');"
                " return v && v.videoWidth > 0 && v.currentTime > 0.3; }",
                timeout=startup_timeout * 1000,
                polling=100,
            )
            ct0 = page.evaluate("() => document.getElementById('video').currentTime")
            page.wait_for_function(
                f"() => document.getElementById('video').currentTime > {ct0 + 0.5}",
                timeout=30_000,
                polling=100,
            )
            run.startup_s = round(time.monotonic() - t_open, 2)
            if on_playing is not None:
                on_playing()
            args = [CLOCK_BITS, CLOCK_BOX, CLOCK_PITCH, CLOCK_X0, CLOCK_Y0]
            start = time.monotonic()
            run.start_wall = time.time()
            tick = 0
            while True:
                elapsed = time.monotonic() - start
                if elapsed >= seconds:
                    break
                run.samples.append(page.evaluate(SAMPLE_JS, args))
                if on_sample is not None:
                    on_sample(elapsed)
                tick += 1
                time.sleep(max(0.0, start + tick * 0.5 - time.monotonic()))
            run.notes += page.evaluate(
                "() => (window.streamhubPlayer && window.streamhubPlayer.errorDetails) || []"
            )
            run.errors = list(
                page.evaluate(
                    "() => window.streamhubPlayer ? window.streamhubPlayer.errors.slice(-5000) : []"
                )
            )
        finally:
            page.close()
        return run
