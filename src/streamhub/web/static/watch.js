// Watch page: plays /hls/<login>/master.m3u8 with hls.js in low-latency mode.
(function () {
  "use strict";
  const root = document.getElementById("player");
  const video = document.getElementById("video");
  const quality = document.getElementById("quality");
  const latencyEl = document.getElementById("latency");
  const statsEl = document.getElementById("stats");
  const liveDot = document.getElementById("live-dot");
  const state = { hls: null, live: false, latency: null, errors: [], raid: null };
  window.streamhubPlayer = state;
  const loadedAt = Date.now();  // browser clock; see serverLoadedAt
  let serverLoadedAt = null;    // page load time on the server's clock (from the Date header)
  const SOUND_KEY = "streamhub.sound";  // set when following a raid: keep the sound settings

  // After following a raid, keep playing with the sound the viewer had (if autoplay allows).
  (function restoreSound() {
    let saved = null;
    try {
      saved = JSON.parse(sessionStorage.getItem(SOUND_KEY) || "null");
      sessionStorage.removeItem(SOUND_KEY);
    } catch (err) { saved = null; }
    if (!saved || typeof saved !== "object") return;
    if (typeof saved.volume === "number" && saved.volume >= 0 && saved.volume <= 1) {
      video.volume = saved.volume;
    }
    if (saved.muted === false) video.muted = false;
  })();

  function text(el, value) { el.textContent = value; }

  function attach() {
    if (state.hls) return;
    // Force hls.js: Chromium answers "maybe" to canPlayType for HLS but cannot play it.
    if (!window.Hls || !Hls.isSupported()) {
      text(statsEl, "This browser cannot play HLS (no Media Source Extensions).");
      return;
    }
    const hls = new Hls({
      lowLatencyMode: true,
      // hls.js only speeds up with more than 1 s buffered, which a low-latency stream never
      // has; the catch-up below does it instead (bench/latency: p50 1.1 s -> 0.64 s).
      maxLiveSyncPlaybackRate: 1,
      // each stall would otherwise add a whole second to the target latency for good
      liveSyncOnStallIncrease: 0.2,
      liveDurationInfinity: true,
      backBufferLength: 30,
      enableWorker: true,
    });
    state.hls = hls;
    hls.on(Hls.Events.MANIFEST_PARSED, function (_e, data) {
      while (quality.options.length > 1) quality.remove(1);
      data.levels.forEach(function (level, i) {
        const opt = document.createElement("option");
        opt.value = String(i);
        const name = (level.name || level.attrs && level.attrs.NAME) || (level.height + "p");
        opt.textContent = level.height + "p" + (level.frameRate ? Math.round(level.frameRate) : "") +
          " (" + Math.round(level.bitrate / 1000) + " kb/s)";
        opt.dataset.name = name;
        quality.appendChild(opt);
      });
      video.play().catch(function () {
        if (video.muted) return;
        video.muted = true;  // unmuted autoplay refused: play muted instead
        text(document.getElementById("unmute"), "Unmute");
        video.play().catch(function () {});
      });
    });
    hls.on(Hls.Events.ERROR, function (_e, data) {
      state.errors.push(data.details);
      if (!data.fatal) return;
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR) { hls.recoverMediaError(); return; }
      detach();
      setTimeout(poll, 2000);
    });
    hls.loadSource(root.dataset.master);
    hls.attachMedia(video);
  }

  function detach() {
    if (state.hls) { state.hls.destroy(); state.hls = null; }
  }

  // Catch up with the live edge: 1.1x while more than 0.1 s behind hls.js' target latency
  // and at least 0.3 s is buffered; normal speed near the target or when the buffer is thin.
  setInterval(function () {
    const hls = state.hls;
    if (!hls || video.paused) return;
    const lat = hls.latency, target = hls.targetLatency, b = video.buffered;
    const ahead = b.length ? b.end(b.length - 1) - video.currentTime : 0;
    if (!lat || !target) return;
    if (lat - target > 0.1 && ahead > 0.3) video.playbackRate = 1.1;
    else if (lat - target < 0.03 || ahead < 0.2) video.playbackRate = 1;
  }, 250);

  quality.addEventListener("change", function () {
    if (state.hls) state.hls.currentLevel = parseInt(quality.value, 10);
  });
  document.getElementById("unmute").addEventListener("click", function () {
    video.muted = !video.muted;
    text(this, video.muted ? "Unmute" : "Mute");
  });
  text(document.getElementById("unmute"), video.muted ? "Unmute" : "Mute");

  // A raid that went out after this page was loaded: say so, then follow it (~3 s later).
  function followRaid(raid) {
    if (state.raid || !raid || typeof raid !== "object") return;
    if (typeof raid.to_login !== "string" || !/^[a-z0-9_]{1,25}$/.test(raid.to_login)) return;
    const at = Date.parse(raid.at);
    const since = serverLoadedAt === null ? loadedAt : serverLoadedAt;
    if (!(at > since)) return;
    state.raid = raid;
    const notice = document.createElement("div");
    notice.id = "raid-notice";
    notice.className = "raid-notice";
    notice.setAttribute("role", "status");
    text(notice, "Raiding " + (typeof raid.to_name === "string" ? raid.to_name : raid.to_login) + "\u2026");
    root.appendChild(notice);
    try {
      sessionStorage.setItem(SOUND_KEY, JSON.stringify({ muted: video.muted, volume: video.volume }));
    } catch (err) { /* storage disabled: follow without the sound settings */ }
    setTimeout(function () { location.assign("/" + raid.to_login); }, 3000);
  }

  function setLive(live) {
    state.live = live;
    root.classList.toggle("live", live);
    text(liveDot, live ? "LIVE" : "OFFLINE");
    if (live) attach(); else detach();
  }

  // Category and tags under the title (textContent only: they are user input).
  function showCategory(name, tags) {
    let el = document.getElementById("category");
    if (!el) {
      el = document.createElement("p");
      el.id = "category";
      el.className = "category";
      document.getElementById("title").after(el);
    }
    const list = Array.isArray(tags) ? tags.filter(function (t) { return typeof t === "string"; }) : [];
    text(el, [name].concat(list.map(function (t) { return "#" + t; })).filter(Boolean).join("  "));
  }

  async function poll() {
    try {
      const sent = Date.now();
      const r = await fetch(root.dataset.state, { cache: "no-store" });
      if (serverLoadedAt === null) {
        // The Date header has whole seconds: this errs up to 1 s early, towards following.
        const date = Date.parse(r.headers.get("Date") || "");
        if (!isNaN(date)) serverLoadedAt = loadedAt + (date - Math.round((sent + Date.now()) / 2));
      }
      if (r.ok) {
        const s = await r.json();
        if (s.raid) followRaid(s.raid);
        setLive(s.live === true);
        if (typeof s.title === "string") text(document.getElementById("title"), s.title);
        if (typeof s.game_name === "string") showCategory(s.game_name, s.tags);
      }
    } catch (err) { /* network blip: try again */ }
  }

  setInterval(function () {
    const hls = state.hls;
    if (!hls) { text(latencyEl, "-"); return; }
    // Ingest-to-picture latency: now minus the program-date-time of the playing position.
    const pdt = hls.playingDate;
    if (pdt) {
      state.latency = (Date.now() - pdt.getTime()) / 1000;
      text(latencyEl, state.latency.toFixed(2) + " s");
    }
    const level = hls.levels && hls.levels[hls.currentLevel];
    const q = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : null;
    text(statsEl, (level ? level.height + "p" : "") + (hls.autoLevelEnabled ? " (auto)" : "") +
      (q ? " - " + q.totalVideoFrames + " frames, " + q.droppedVideoFrames + " dropped" : ""));
  }, 500);

  poll();
  setInterval(poll, 5000);
})();
