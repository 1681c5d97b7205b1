// Channel page player: /hls/<login>/master.m3u8 with hls.js in low-latency mode, the player
// controls, the live channel info (title, category, tags, viewers, uptime) and follow button.
(function () {
  "use strict";
  const root = document.getElementById("player");
  const video = document.getElementById("video");
  const quality = document.getElementById("quality");
  const latencyEl = document.getElementById("latency");
  const statsEl = document.getElementById("stats");
  const liveDot = document.getElementById("live-dot");
  const playBtn = document.getElementById("play");
  const muteBtn = document.getElementById("unmute");
  const volume = document.getElementById("volume");
  const layout = document.getElementById("channel-layout");
  const state = { hls: null, live: false, latency: null, errors: [], raid: null, startedAt: null };
  window.streamhubPlayer = state;
  const loadedAt = Date.now();  // browser clock; see serverLoadedAt
  let serverLoadedAt = null;    // page load time on the server's clock (from the Date header)
  const SOUND_KEY = "streamhub.sound";  // set when following a raid: keep the sound settings
  const VOLUME_KEY = "streamhub.volume";
  const THEATER_KEY = "streamhub.theater";
  let data = {};
  try { data = JSON.parse(document.getElementById("channel-data").textContent || "{}"); } catch (err) { data = {}; }
  state.startedAt = typeof data.started_at === "string" ? data.started_at : null;

  function text(el, value) { if (el) el.textContent = value; }

  // The channel's accent color (validated #RRGGBB by the server, checked again here).
  if (typeof data.accent === "string" && /^#[0-9A-Fa-f]{6}$/.test(data.accent)) {
    document.documentElement.style.setProperty("--accent", data.accent);
    document.documentElement.style.setProperty("--channel-accent", data.accent);
  }

  // Scheduled times are written in UTC by the server; show them in the viewer's zone.
  document.querySelectorAll("time.local-time").forEach(function (t) {
    const d = new Date(t.getAttribute("datetime"));
    if (!isNaN(d)) {
      text(t, d.toLocaleString(undefined, { weekday: "short", month: "short", day: "numeric",
        hour: "2-digit", minute: "2-digit" }));
    }
  });

  // After following a raid, keep playing with the sound the viewer had (if autoplay allows).
  (function restoreSound() {
    let saved = null;
    try {
      const vol = parseFloat(localStorage.getItem(VOLUME_KEY) || "");
      if (vol >= 0 && vol <= 1) video.volume = vol;
      saved = JSON.parse(sessionStorage.getItem(SOUND_KEY) || "null");
      sessionStorage.removeItem(SOUND_KEY);
    } catch (err) { saved = null; }
    if (!saved || typeof saved !== "object") return;
    if (typeof saved.volume === "number" && saved.volume >= 0 && saved.volume <= 1) {
      video.volume = saved.volume;
    }
    if (saved.muted === false) video.muted = false;
  })();

  function showSound() {
    text(muteBtn, video.muted ? "Unmute" : "Mute");
    volume.value = String(video.muted ? 0 : video.volume);
  }
  function showPlaying() {
    text(playBtn, video.paused ? "Play" : "Pause");
    playBtn.setAttribute("aria-label", video.paused ? "Play" : "Pause");
  }

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
    hls.on(Hls.Events.MANIFEST_PARSED, function (_e, info) {
      while (quality.options.length > 1) quality.remove(1);
      info.levels.forEach(function (level, i) {
        const opt = document.createElement("option");
        opt.value = String(i);
        const name = (level.name || level.attrs && level.attrs.NAME) || (level.height + "p");
        opt.textContent = level.height + "p" + (level.frameRate ? Math.round(level.frameRate) : "") +
          " (" + Math.round(level.bitrate / 1000) + " kb/s)";
        opt.dataset.name = name;
        quality.appendChild(opt);
      });
      quality.value = "-1";
      video.play().catch(function () {
        if (video.muted) return;
        video.muted = true;  // unmuted autoplay refused: play muted instead
        showSound();
        video.play().catch(function () {});
      });
    });
    hls.on(Hls.Events.ERROR, function (_e, info) {
      state.errors.push(info.details);
      if (!info.fatal) return;
      if (info.type === Hls.ErrorTypes.MEDIA_ERROR) { hls.recoverMediaError(); return; }
      detach();
      setTimeout(poll, 2000);
    });
    hls.loadSource(root.dataset.master);
    hls.attachMedia(video);
  }

  function detach() {
    if (state.hls) { state.hls.destroy(); state.hls = null; }
    while (quality.options.length > 1) quality.remove(1);
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

  // ---- controls ----
  quality.addEventListener("change", function () {
    if (state.hls) state.hls.currentLevel = parseInt(quality.value, 10);
  });
  muteBtn.addEventListener("click", function () {
    video.muted = !video.muted;
    if (!video.muted && video.volume === 0) video.volume = 0.5;
    showSound();
  });
  volume.addEventListener("input", function () {
    const v = parseFloat(volume.value);
    video.volume = v;
    video.muted = v === 0;
    text(muteBtn, video.muted ? "Unmute" : "Mute");
    try { localStorage.setItem(VOLUME_KEY, String(v)); } catch (err) { /* ignore */ }
  });
  playBtn.addEventListener("click", function () {
    if (video.paused) {
      // back to the live edge after a pause
      if (state.hls && state.hls.liveSyncPosition) video.currentTime = state.hls.liveSyncPosition;
      video.play().catch(function () {});
    } else video.pause();
  });
  video.addEventListener("play", showPlaying);
  video.addEventListener("pause", showPlaying);
  video.addEventListener("volumechange", function () { text(muteBtn, video.muted ? "Unmute" : "Mute"); });
  document.getElementById("fullscreen").addEventListener("click", function () {
    if (document.fullscreenElement) document.exitFullscreen().catch(function () {});
    else if (root.requestFullscreen) root.requestFullscreen().catch(function () {});
  });
  video.addEventListener("dblclick", function () { document.getElementById("fullscreen").click(); });
  const theaterBtn = document.getElementById("theater");
  function setTheater(on) {
    layout.classList.toggle("theater", on);
    document.body.classList.toggle("theater-mode", on);
    theaterBtn.setAttribute("aria-pressed", on ? "true" : "false");
    text(theaterBtn, on ? "Exit theater" : "Theater");
    try { localStorage.setItem(THEATER_KEY, on ? "1" : ""); } catch (err) { /* ignore */ }
  }
  theaterBtn.addEventListener("click", function () { setTheater(!layout.classList.contains("theater")); });
  try { if (localStorage.getItem(THEATER_KEY) === "1") setTheater(true); } catch (err) { /* ignore */ }
  showSound();
  showPlaying();

  // ---- raids ----
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

  // ---- live channel info ----
  function setLive(live) {
    state.live = live;
    root.classList.toggle("live", live);
    layout.classList.toggle("is-live", live);
    text(liveDot, live ? "LIVE" : "OFFLINE");
    document.getElementById("viewers").classList.toggle("hidden", !live);
    document.getElementById("uptime").classList.toggle("hidden", !live);
    if (live) attach(); else detach();
  }

  function showCategory(id, name, tags) {
    const link = document.getElementById("category");
    const valid = typeof id === "string" && /^[0-9]{1,10}$/.test(id) && typeof name === "string" && name;
    link.classList.toggle("hidden", !valid);
    if (valid) { link.setAttribute("href", "/directory/category/" + id); text(link, name); }
    const box = document.getElementById("tags");
    const list = Array.isArray(tags) ? tags.filter(function (t) { return typeof t === "string"; }) : [];
    box.replaceChildren.apply(box, list.map(function (t) { return StreamHub.el("span", { className: "tag" }, t); }));
  }

  function showUptime() {
    const el = document.getElementById("uptime");
    const t = state.startedAt ? Date.parse(state.startedAt) : NaN;
    if (!state.live || isNaN(t)) { text(el, ""); return; }
    const s = Math.max(0, Math.floor((Date.now() - t) / 1000));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    text(el, (h ? h + ":" + String(m).padStart(2, "0") : String(m)) + ":" + String(sec).padStart(2, "0"));
  }
  setInterval(showUptime, 1000);

  async function pollViewers() {
    if (!state.live || !root.dataset.room) return;
    try {
      const r = await fetch(root.dataset.room, { cache: "no-store" });
      if (!r.ok) return;
      const s = await r.json();
      const n = typeof s.connections === "number" ? s.connections : 0;
      text(document.getElementById("viewers"), n + (n === 1 ? " viewer" : " viewers"));
    } catch (err) { /* try again later */ }
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
        if (typeof s.started_at === "string") state.startedAt = s.started_at;
        const wasLive = state.live;
        setLive(s.live === true);
        if (s.live === true && !wasLive) pollViewers();
        if (typeof s.title === "string") text(document.getElementById("title"), s.title);
        if ("game_id" in s) showCategory(s.game_id, s.game_name, s.tags);
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
      (q ? " - " + q.droppedVideoFrames + " dropped" : ""));
  }, 500);

  // ---- follow / unfollow (Helix extension POST/DELETE /users/follows) ----
  const followBtn = document.getElementById("follow");
  let followers = typeof data.followers === "number" ? data.followers : 0;
  function showFollow(following) {
    followBtn.dataset.following = following ? "true" : "false";
    followBtn.classList.toggle("secondary", following);
    text(followBtn, following ? "Unfollow" : "Follow");
    text(document.getElementById("followers"), followers + (followers === 1 ? " follower" : " followers"));
  }
  if (followBtn) {
    followBtn.addEventListener("click", async function () {
      const errEl = document.getElementById("follow-error");
      errEl.classList.add("hidden");
      followBtn.disabled = true;
      const following = followBtn.dataset.following === "true";
      try {
        const t = await StreamHub.token();
        if (!t) throw new Error("Log in first.");
        if (following) {
          await StreamHub.helix("DELETE", "/users/follows", { from_id: t.user_id, to_id: data.user_id });
        } else {
          await StreamHub.helix("POST", "/users/follows", {}, { from_id: t.user_id, to_id: data.user_id });
        }
        const total = await StreamHub.helix("GET", "/channels/followers", { broadcaster_id: data.user_id });
        if (total && typeof total.total === "number") followers = total.total;
        showFollow(!following);
      } catch (err) {
        text(errEl, err.message || String(err));
        errEl.classList.remove("hidden");
      } finally {
        followBtn.disabled = false;
      }
    });
  }

  poll();
  setInterval(poll, 5000);
  setInterval(pollViewers, 15000);
})();
