// Directory pages: refresh each live card's viewer count, uptime and thumbnail without a reload.
(function () {
  "use strict";
  const root = document.querySelector(".live-refresh");
  if (!root) return;
  const every = Math.max(5, Number(root.dataset.refresh) || 30) * 1000;

  function uptime(iso) {
    const s = Math.max(0, Math.floor((Date.now() - Date.parse(iso)) / 1000));
    const mm = String(Math.floor(s % 3600 / 60)).padStart(2, "0");
    const ss = String(s % 60).padStart(2, "0");
    return Math.floor(s / 3600) + ":" + mm + ":" + ss;
  }

  function tickUptimes() {
    document.querySelectorAll(".thumb-uptime[data-started]").forEach(function (node) {
      node.textContent = uptime(node.dataset.started);
    });
  }

  function update(stream) {
    document.querySelectorAll('.stream-card[data-login="' + CSS.escape(stream.login) + '"]').forEach(function (card) {
      const count = card.querySelector(".viewer-count");
      if (count) count.textContent = String(stream.viewers);
      if (!stream.thumbnail_url) return;
      const img = card.querySelector("img.thumb-img");
      if (img) {
        if (img.getAttribute("src") !== stream.thumbnail_url) img.setAttribute("src", stream.thumbnail_url);
        return;
      }
      const none = card.querySelector(".thumb-none");
      if (none) {
        none.replaceWith(StreamHub.el("img", {
          className: "thumb-img", src: stream.thumbnail_url, width: 320, height: 180,
          alt: "Live preview of " + stream.login,
        }));
      }
    });
  }

  async function refresh() {
    try {
      const r = await fetch("/directory/live.json", { credentials: "same-origin" });
      if (!r.ok) return;
      const data = await r.json();
      const live = new Set();
      data.streams.forEach(function (s) { live.add(s.login); update(s); });
      document.querySelectorAll(".stream-card[data-login]").forEach(function (card) {
        card.classList.toggle("ended", !live.has(card.dataset.login));
      });
    } catch (err) { /* offline for a moment: try again next time */ }
  }

  tickUptimes();
  setInterval(tickUptimes, 1000);
  setInterval(refresh, every);
  window.streamhubDirectory = { refresh: refresh };
})();
