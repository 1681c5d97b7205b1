// Creator dashboard, Stream tab: stream key (show / copy / reset), stream info (title,
// category search, tags) saved through Helix, and live status + health charts polled from
// /api/dashboard/health. All text goes to the DOM as text.
(function () {
  "use strict";
  const SH = window.StreamHub;
  const root = document.getElementById("stream-dashboard");
  const frame = document.getElementById("dashboard");
  if (!root || !frame) return;
  const broadcasterId = frame.dataset.broadcasterId;
  const $ = function (id) { return document.getElementById(id); };
  const DOTS = "••••••••••••••••••••";
  const MAX_SAMPLES = 20000;

  function say(node, text, kind) {
    node.textContent = text;
    node.className = kind || "notice";
    node.classList.toggle("hidden", !text);
  }

  // ---- stream key and server ----
  let streamKey = null;
  let keyShown = false;
  const keyInput = $("stream-key");
  const keyMessage = $("key-message");

  async function fetchKey() {
    if (streamKey) return streamKey;
    const body = await SH.helix("GET", "/streams/key", { broadcaster_id: broadcasterId });
    streamKey = body.data[0].stream_key;
    return streamKey;
  }

  function showKey(show) {
    keyShown = show;
    keyInput.value = show && streamKey ? streamKey : DOTS;
    keyInput.dataset.hidden = show ? "0" : "1";
    $("key-show").textContent = show ? "Hide" : "Show";
  }

  $("key-show").addEventListener("click", async function () {
    if (keyShown) { showKey(false); return; }
    try {
      await fetchKey();
      showKey(true);
      say(keyMessage, "");
    } catch (err) { say(keyMessage, "Could not load your key: " + err.message, "error"); }
  });

  async function copyText(text) {
    if (navigator.clipboard && navigator.clipboard.writeText) {
      await navigator.clipboard.writeText(text);
      return;
    }
    throw new Error("the clipboard is not available here");
  }

  $("key-copy").addEventListener("click", async function () {
    try {
      await copyText(await fetchKey());
      say(keyMessage, "Stream key copied to the clipboard.", "ok");
    } catch (err) {
      say(keyMessage, "Could not copy: " + err.message + ". Show the key and copy it by hand.", "error");
    }
  });

  $("rtmp-copy").addEventListener("click", async function () {
    try {
      await copyText($("rtmp-url").value);
      say(keyMessage, "Server URL copied.", "ok");
    } catch (err) { say(keyMessage, "Could not copy: " + err.message, "error"); }
  });

  $("key-reset").addEventListener("click", function () {
    $("key-reset-confirm").classList.remove("hidden");
    $("key-reset").disabled = true;
    $("key-reset-no").focus();
  });
  function closeConfirm() {
    $("key-reset-confirm").classList.add("hidden");
    $("key-reset").disabled = false;
  }
  $("key-reset-no").addEventListener("click", closeConfirm);
  $("key-reset-yes").addEventListener("click", async function () {
    $("key-reset-yes").disabled = true;
    try {
      const body = await SH.helix("POST", "/streams/key/reset", { broadcaster_id: broadcasterId });
      streamKey = body.data[0].stream_key;
      showKey(keyShown);
      closeConfirm();
      say(keyMessage, "New stream key issued; the old one no longer works. Update your encoder.", "ok");
    } catch (err) {
      say(keyMessage, "Could not reset the key: " + err.message, "error");
    } finally { $("key-reset-yes").disabled = false; }
  });

  // ---- stream info ----
  const form = $("stream-info");
  const infoMessage = $("info-message");
  const catInput = $("category-input");
  const catResults = $("category-results");
  let category = { id: "", name: "" };

  function showCategory() {
    $("category-current").textContent = category.id ? "Category: " + category.name : "No category";
  }

  async function loadInfo() {
    try {
      const body = await SH.helix("GET", "/channels", { broadcaster_id: broadcasterId });
      const ch = body.data[0];
      $("title-input").value = ch.title || "";
      category = { id: ch.game_id || "", name: ch.game_name || "" };
      catInput.value = category.name;
      $("tags-input").value = (ch.tags || []).join(" ");
      showCategory();
    } catch (err) { say(infoMessage, "Could not load your channel: " + err.message, "error"); }
  }

  function closeResults() {
    catResults.classList.add("hidden");
    catResults.replaceChildren();
    catInput.setAttribute("aria-expanded", "false");
  }

  function choose(found) {
    category = { id: found.id, name: found.name };
    catInput.value = found.name;
    showCategory();
    closeResults();
  }

  let searchTimer = null;
  let searchSeq = 0;
  catInput.addEventListener("input", function () {
    clearTimeout(searchTimer);
    const query = catInput.value.trim();
    if (!query) { closeResults(); return; }
    searchTimer = setTimeout(async function () {
      const mine = ++searchSeq;
      try {
        const body = await SH.helix("GET", "/search/categories", { query: query, first: 8 });
        if (mine !== searchSeq) return;  // a newer search is on its way
        catResults.replaceChildren();
        (body.data || []).forEach(function (c) {
          catResults.append(SH.el("li", { role: "option" },
            SH.el("button", { type: "button", className: "link", dataset: { id: c.id },
              onclick: function () { choose(c); } }, c.name)));
        });
        if (!body.data || !body.data.length) catResults.append(SH.el("li", { className: "muted" }, "No category found"));
        catResults.classList.remove("hidden");
        catInput.setAttribute("aria-expanded", "true");
      } catch (err) { say(infoMessage, err.message, "error"); }
    }, 200);
  });
  catInput.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape") closeResults();
    if (ev.key === "Enter") {
      ev.preventDefault();
      const first = catResults.querySelector("button");
      if (first) first.click();
    }
  });
  $("category-clear").addEventListener("click", function () {
    category = { id: "", name: "" };
    catInput.value = "";
    showCategory();
    closeResults();
  });

  form.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    const tags = $("tags-input").value.split(/[\s,]+/).filter(Boolean);
    if (!catInput.value.trim()) category = { id: "", name: "" };
    const body = { title: $("title-input").value, game_id: category.id, tags: tags };
    $("info-save").disabled = true;
    try {
      await SH.helix("PATCH", "/channels", { broadcaster_id: broadcasterId }, body);
      catInput.value = category.name;
      showCategory();
      say(infoMessage, "Saved. Viewers see the change right away.", "ok");
    } catch (err) {
      say(infoMessage, err.message, "error");
    } finally { $("info-save").disabled = false; }
  });

  // ---- live status and health ----
  let sessionId = null;
  let samples = [];
  let startedAt = null;
  let failures = 0;
  const interval = Math.min(10, Math.max(1, Number(root.dataset.interval) || 5)) * 1000;
  const fmt = window.StreamHubCharts.formatNumber;

  function duration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return h + ":" + String(m).padStart(2, "0") + ":" + String(r).padStart(2, "0");
  }

  function tickUptime() {
    $("uptime").textContent = startedAt ? duration((Date.now() - startedAt) / 1000) : "—";
  }
  setInterval(tickUptime, 1000);

  function value(v, unit, digits) {
    if (v === null || v === undefined) return "—";
    return (digits === undefined ? fmt(v) : Number(v).toFixed(digits)) + (unit ? " " + unit : "");
  }

  function series(pick) {
    return samples.map(function (s) { return [s.t, pick(s)]; });
  }

  function renderStats(now) {
    $("stat-bitrate").textContent = value(now.bitrate_kbps, "kb/s");
    $("stat-fps").textContent = value(now.fps, "fps");
    $("stat-keyframe").textContent = value(now.keyframe_interval_s, "s");
    $("stat-speed").textContent = now.speed === null ? "—" : fmt(now.speed) + "x";
    const dropped = (now.drop_frames || 0) + (now.dropped_input_tags || 0);
    $("stat-dropped").textContent = now.drop_frames === null && now.dropped_input_tags === null ? "—" : String(dropped);
    $("stat-restarts").textContent = (now.restarts === null ? "—" : String(now.restarts)) + " / " + String(now.reconnects || 0);
    const warnings = [];
    if (now.keyframe_interval_s !== null && now.keyframe_interval_s > 4) {
      warnings.push("Keyframe interval is " + fmt(now.keyframe_interval_s) + " s: set it to 2 s in your encoder.");
    }
    if (now.speed !== null && now.speed < 0.9) warnings.push("The transcoder is slower than real time; viewers may buffer.");
    if (now.transcoder_state && now.transcoder_state !== "running") warnings.push("Transcoder: " + now.transcoder_state + ".");
    if (now.state === "reconnecting") warnings.push("Your encoder disconnected; waiting for it to come back.");
    say($("health-warning"), warnings.join(" "), "error");

    const body = $("renditions").querySelector("tbody");
    body.replaceChildren();
    (now.renditions || []).forEach(function (r) {
      body.append(SH.el("tr", { dataset: { rendition: r.name } },
        SH.el("td", {}, r.name),
        SH.el("td", {}, r.width && r.height ? r.width + "×" + r.height : "—"),
        SH.el("td", {}, value(r.fps, "fps")),
        SH.el("td", {}, value(r.kbps, "kb/s"))));
    });
  }

  function renderCharts() {
    const C = window.StreamHubCharts;
    C.line($("chart-bitrate"), { unit: "kb/s", series: [{ name: "input", points: series(function (s) { return s.bitrate_kbps; }) }] });
    C.line($("chart-fps"), { unit: "fps", series: [{ name: "input", points: series(function (s) { return s.fps; }) }] });
    C.line($("chart-viewers"), { series: [{ name: "viewers", points: series(function (s) { return s.viewers; }) }] });
    C.line($("chart-chat"), { unit: "msg/min", series: [{ name: "chat", points: series(function (s) { return s.chat_per_min; }) }] });
    C.line($("chart-speed"), { unit: "x", series: [{ name: "speed", points: series(function (s) { return s.speed; }) }] });
    const names = [];
    samples.forEach(function (s) {
      (s.renditions || []).forEach(function (r) { if (names.indexOf(r.name) < 0) names.push(r.name); });
    });
    C.line($("chart-renditions"), { unit: "kb/s", series: names.map(function (name) {
      return { name: name, points: series(function (s) {
        const r = (s.renditions || []).find(function (x) { return x.name === name; });
        return r ? r.kbps : null;
      }) };
    }) });
  }

  function render(data) {
    const badge = $("live-status");
    const reconnecting = data.state === "reconnecting";
    badge.textContent = data.live ? (reconnecting ? "RECONNECTING" : "LIVE") : "OFFLINE";
    badge.className = "live-badge " + (data.live ? (reconnecting ? "reconnecting" : "live") : "offline");
    startedAt = data.live && data.started_at ? Date.parse(data.started_at) : null;
    tickUptime();
    const now = data.current || (samples.length ? samples[samples.length - 1] : null);
    $("viewers").textContent = data.live && now && now.viewers !== null ? String(now.viewers) : "—";
    $("chat-rate").textContent = data.live && now ? fmt(now.chat_per_min) + " msg/min" : "—";
    const hasHealth = data.live || samples.length > 0;
    $("health").classList.toggle("hidden", !hasHealth);
    $("health-empty").classList.toggle("hidden", data.live);
    if (!hasHealth) return;
    if (!data.live) $("health-empty").textContent = "You are offline. The charts show your last session.";
    if (now) renderStats(now);
    renderCharts();
  }

  async function poll() {
    const url = new URL(root.dataset.healthUrl, location.origin);
    if (sessionId) {
      url.searchParams.set("session", sessionId);
      url.searchParams.set("after", samples.length ? samples[samples.length - 1].seq : 0);
    }
    try {
      const r = await fetch(url, { credentials: "same-origin", cache: "no-store" });
      if (r.status === 401) { say($("health-empty"), "Your session ended: log in again.", "error"); return; }
      if (!r.ok) throw new Error("HTTP " + r.status);
      const data = await r.json();
      const history = data.history;
      if (history) {
        if (history.session_id !== sessionId) { sessionId = history.session_id; samples = []; }
        const last = samples.length ? samples[samples.length - 1].seq : 0;
        history.samples.forEach(function (s) { if (s.seq > last) samples.push(s); });
        if (samples.length > MAX_SAMPLES) samples = samples.slice(samples.length - MAX_SAMPLES);
      } else { sessionId = null; samples = []; }  // no session on record (any more)
      failures = 0;
      render(data);
    } catch (err) {
      failures += 1;
      if (failures >= 3) say($("health-warning"), "Cannot reach the server (" + err.message + "); retrying.", "error");
    } finally {
      setTimeout(poll, interval);
    }
  }

  showKey(false);
  loadInfo();
  poll();
})();
