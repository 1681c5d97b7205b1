/* VOD page: plays a recorded broadcast (HLS VOD) with hls.js and offers a quality choice. */
(function () {
  "use strict";

  document.querySelectorAll("time.local-time").forEach(function (t) {
    const d = new Date(t.getAttribute("datetime"));
    if (!isNaN(d)) {
      t.textContent = d.toLocaleString(undefined, { year: "numeric", month: "short",
        day: "numeric", hour: "2-digit", minute: "2-digit" });
    }
  });

  const box = document.getElementById("vod-player");
  const video = document.getElementById("video");
  const master = box ? box.getAttribute("data-master") : "";
  if (!video || !master) return;
  const quality = document.getElementById("quality");
  const status = document.getElementById("vod-status");
  const state = { hls: null, error: null };
  window.streamhubVod = state;

  function say(message) { if (status) status.textContent = message; }

  function levelName(level) {
    if (level.height) return level.height + "p";
    return Math.round((level.bitrate || 0) / 1000) + " kbps";
  }

  function fillQualities(hls) {
    while (quality.options.length > 1) quality.remove(1);
    hls.levels.forEach(function (level, index) {
      quality.appendChild(StreamHub.el("option", { value: String(index) }, levelName(level)));
    });
  }

  if (window.Hls && window.Hls.isSupported()) {
    const hls = new window.Hls({ startPosition: 0 });
    state.hls = hls;
    hls.on(window.Hls.Events.MANIFEST_PARSED, function () {
      fillQualities(hls);
      video.play().catch(function () { say("Press play to start."); });
    });
    hls.on(window.Hls.Events.LEVEL_SWITCHED, function (_event, data) {
      const level = hls.levels[data.level];
      if (level) say((hls.autoLevelEnabled ? "Auto: " : "") + levelName(level));
    });
    hls.on(window.Hls.Events.ERROR, function (_event, data) {
      if (!data.fatal) return;
      state.error = data.details;
      if (data.type === window.Hls.ErrorTypes.NETWORK_ERROR) {
        say("Network error; retrying.");
        hls.startLoad();
      } else if (data.type === window.Hls.ErrorTypes.MEDIA_ERROR) {
        hls.recoverMediaError();
      } else {
        say("This video cannot be played.");
      }
    });
    hls.loadSource(master);
    hls.attachMedia(video);
    quality.addEventListener("change", function () {
      const index = parseInt(quality.value, 10);
      hls.currentLevel = isNaN(index) ? -1 : index;  // -1: automatic
    });
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = master;  // Safari plays HLS itself (no quality choice)
    quality.disabled = true;
  } else {
    say("This browser cannot play HLS video.");
  }
})();
