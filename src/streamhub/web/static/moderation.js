// Dashboard > Moderation: ban/timeout/unban, the live chat with per-message actions, room
// modes, blocked terms, moderators and VIPs, and the moderation log. Everything goes through
// Helix with the viewer's web token; the chat view reads the channel's chat over WebSocket.
(function () {
  "use strict";
  const H = window.StreamHub;
  const el = H.el;
  const root = document.getElementById("moderation");  // the channel: own, or one moderated
  const channelId = root.dataset.channelId;
  const channelLogin = root.dataset.channelLogin;
  let me = null;  // the moderator acting: the logged-in viewer's id

  function $(id) { return document.getElementById(id); }

  function say(id, text, ok) {
    const box = $(id);
    box.textContent = text;
    box.className = ok ? "ok" : "error";
  }

  async function userByLogin(login) {
    const name = String(login || "").trim().replace(/^@/, "").toLowerCase();
    if (!/^[a-z0-9_]{1,25}$/.test(name)) throw new Error("Enter a valid username.");
    const found = await H.helix("GET", "/users", { login: name });
    if (!found.data.length) throw new Error("No user named " + name + ".");
    return found.data[0];
  }

  function fmtTime(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return d.toLocaleString();
  }

  function fmtDuration(seconds) {
    const units = [[86400, "d"], [3600, "h"], [60, "min"], [1, "s"]];
    for (const [size, unit] of units) {
      if (seconds >= size && seconds % size === 0) return (seconds / size) + " " + unit;
    }
    return seconds + " s";
  }

  // ---- ban / timeout / unban ----

  function timeoutSeconds() {
    const choice = $("mod-duration").value;
    const raw = choice === "custom" ? $("mod-custom").value : choice;
    const seconds = Number(raw);
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > 1209600) {
      throw new Error("A timeout lasts from 1 second to 14 days (1209600 seconds).");
    }
    return seconds;
  }

  async function ban(userId, seconds, reason) {
    const data = { user_id: userId, reason: reason || "" };
    if (seconds) data.duration = seconds;
    await H.helix("POST", "/moderation/bans", { broadcaster_id: channelId, moderator_id: me },
                  { data: data });
  }

  async function unban(userId) {
    await H.helix("DELETE", "/moderation/bans",
                  { broadcaster_id: channelId, moderator_id: me, user_id: userId });
  }

  async function runModAction(kind) {
    const form = $("mod-form");
    try {
      const user = await userByLogin($("mod-user").value);
      const reason = $("mod-reason").value.trim();
      if (kind === "timeout") {
        const seconds = timeoutSeconds();
        await ban(user.id, seconds, reason);
        say("mod-status", user.display_name + " is timed out for " + fmtDuration(seconds) + ".", true);
      } else if (kind === "ban") {
        await ban(user.id, null, reason);
        say("mod-status", user.display_name + " is banned.", true);
      } else {
        await unban(user.id);
        say("mod-status", user.display_name + " is unbanned.", true);
      }
      form.reset();
      $("mod-custom").classList.add("hidden");
    } catch (err) {
      say("mod-status", err.message, false);
    }
    loadBanned();
    loadLog(true);
  }

  $("mod-duration").addEventListener("change", function () {
    $("mod-custom").classList.toggle("hidden", this.value !== "custom");
  });
  $("mod-form").addEventListener("submit", function (ev) { ev.preventDefault(); runModAction("timeout"); });
  $("mod-ban").addEventListener("click", function () { runModAction("ban"); });
  $("mod-unban").addEventListener("click", function () { runModAction("unban"); });

  async function loadBanned() {
    const body = $("banned").querySelector("tbody");
    try {
      const rows = await H.helix("GET", "/moderation/banned", { broadcaster_id: channelId, first: 100 });
      body.replaceChildren.apply(body, rows.data.map(function (b) {
        return el("tr", { dataset: { login: b.user_login } },
          el("td", {}, el("a", { href: "/" + b.user_login }, b.user_name)),
          el("td", {}, b.expires_at ? fmtTime(b.expires_at) : "permanent"),
          el("td", {}, b.reason || ""),
          el("td", {}, el("button", {
            type: "button", className: "secondary unban",
            onclick: async function () {
              try { await unban(b.user_id); say("mod-status", b.user_name + " is unbanned.", true); }
              catch (err) { say("mod-status", err.message, false); }
              loadBanned(); loadLog(true);
            },
          }, "Unban")));
      }));
      $("banned-empty").classList.toggle("hidden", rows.data.length > 0);
    } catch (err) {
      say("mod-status", err.message, false);
    }
  }
  $("banned-refresh").addEventListener("click", loadBanned);

  // ---- live chat ----

  const parseLine = window.StreamHubIrc.parseLine;

  const view = $("chat-view");
  const seenIds = new Set();

  function markGone(line, why) {
    if (line.classList.contains("gone")) return;
    line.classList.add("gone");
    line.querySelector(".mod-actions").remove();
    line.append(el("span", { className: "gone-note" }, why));
  }

  function addMessage(m) {
    const id = m.tags.id;
    if (!id || seenIds.has(id)) return;
    seenIds.add(id);
    const login = (m.prefix.split("!")[0] || "").toLowerCase();
    const name = m.tags["display-name"] || login;
    let text = m.params[1] || "";
    const action = /^\u0001ACTION (.*)\u0001$/.exec(text);
    if (action) text = action[1];
    const userId = m.tags["user-id"];
    const mine = userId === me;
    const nameEl = el("strong", { className: "chat-name" }, name);
    if (/^#[0-9a-fA-F]{6}$/.test(m.tags.color || "")) nameEl.style.color = m.tags.color;  // CSSOM: allowed by the CSP
    const actions = el("span", { className: "mod-actions" });
    if (!mine) {
      actions.append(
        el("button", { type: "button", className: "link act-delete", title: "Delete message",
          onclick: function () { deleteMessage(id, line); } }, "Delete"),
        el("button", { type: "button", className: "link act-timeout", title: "Time out for 10 minutes",
          onclick: function () { quick(userId, name, 600); } }, "Timeout"),
        el("button", { type: "button", className: "link act-ban", title: "Ban",
          onclick: function () { quick(userId, name, null); } }, "Ban"));
    }
    const sent = Number(m.tags["tmi-sent-ts"]) || Date.now();
    const line = el("li", { className: "chat-line", dataset: { id: id, login: login, userId: userId || "" } },
      el("time", { className: "muted" }, new Date(sent).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })),
      " ", nameEl, action ? " " : ": ", el("span", { className: "chat-text" }, text), actions);
    const atBottom = view.scrollTop + view.clientHeight >= view.scrollHeight - 30;
    view.append(line);
    while (view.children.length > 300) view.firstElementChild.remove();
    if (atBottom) view.scrollTop = view.scrollHeight;
  }

  async function deleteMessage(id, line) {
    try {
      await H.helix("DELETE", "/moderation/chat", { broadcaster_id: channelId, moderator_id: me, message_id: id });
      markGone(line, "(deleted)");
      say("mod-status", "Message deleted.", true);
    } catch (err) {
      say("mod-status", err.message, false);
    }
    loadLog(true);
  }

  async function quick(userId, name, seconds) {
    try {
      await ban(userId, seconds, "");
      say("mod-status", name + (seconds ? " is timed out for " + fmtDuration(seconds) + "." : " is banned."), true);
    } catch (err) {
      say("mod-status", err.message, false);
    }
    loadBanned(); loadLog(true);
  }

  function onLine(m) {
    if (!m) return;  // a line that does not parse
    if (m.command === "PRIVMSG") addMessage(m);
    else if (m.command === "CLEARMSG") {
      const line = view.querySelector('li[data-id="' + CSS.escape(m.tags["target-msg-id"] || "") + '"]');
      if (line) markGone(line, "(deleted)");
    } else if (m.command === "CLEARCHAT") {
      const who = m.params[1];
      view.querySelectorAll("li.chat-line").forEach(function (line) {
        if (!who || line.dataset.login === who) {
          markGone(line, who ? (m.tags["ban-duration"] ? "(timed out)" : "(banned)") : "(cleared)");
        }
      });
      if (who) { loadBanned(); }
    } else if (m.command === "ROOMSTATE") {
      roomState(m.tags);
    }
  }

  async function loadRecent() {
    try {
      const r = await fetch("/api/chat/rooms/" + encodeURIComponent(channelLogin) + "/recent-messages?limit=100");
      if (!r.ok) return;
      const body = await r.json();
      (body.messages || []).forEach(function (raw) { onLine(parseLine(raw)); });
    } catch (err) { /* history is optional */ }
  }

  let retry = 1000;
  async function connectChat() {
    const t = await H.token();
    const status = $("chat-conn");
    if (!t) { status.textContent = "log in to read chat"; return; }
    const ws = new WebSocket(H.chatUrl(), "irc");
    ws.onopen = function () {
      ws.send("CAP REQ :twitch.tv/tags twitch.tv/commands\r\n");
      ws.send("PASS oauth:" + t.access_token + "\r\n");
      ws.send("NICK " + t.login + "\r\n");
      ws.send("JOIN #" + channelLogin + "\r\n");
    };
    ws.onmessage = function (ev) {
      String(ev.data).split("\r\n").forEach(function (raw) {
        if (!raw) return;
        const m = parseLine(raw);
        if (!m) return;
        if (m.command === "PING") ws.send("PONG :" + (m.params[0] || "tmi.twitch.tv") + "\r\n");
        else if (m.command === "ROOMSTATE" && status.dataset.state !== "live") {
          status.textContent = "connected";  // joined: the first ROOMSTATE answers JOIN
          status.dataset.state = "live";
          retry = 1000;
          onLine(m);
        } else if (m.command === "NOTICE" && /authentication failed/i.test(m.params[1] || "")) {
          status.textContent = "chat login failed";
          H.token(true);
        } else onLine(m);
      });
    };
    ws.onclose = function () {
      status.textContent = "disconnected, reconnecting\u2026";
      status.dataset.state = "";
      setTimeout(connectChat, retry);
      retry = Math.min(retry * 2, 30000);
    };
  }

  // ---- room modes ----

  function showModes(s) {
    const parts = [];
    if (s.slow_mode) parts.push("Slow mode (" + s.slow_mode_wait_time + " s)");
    if (s.follower_mode) parts.push("Followers-only (" + s.follower_mode_duration + " min)");
    if (s.subscriber_mode) parts.push("Subscribers-only");
    if (s.emote_mode) parts.push("Emote-only");
    if (s.unique_chat_mode) parts.push("Unique chat");
    $("modes-state").textContent = parts.length ? "On: " + parts.join(" \u00b7 ") : "No room modes are on.";
    $("mode-slow").checked = !!s.slow_mode;
    if (s.slow_mode) $("mode-slow-seconds").value = s.slow_mode_wait_time;
    $("mode-followers").checked = !!s.follower_mode;
    if (s.follower_mode) $("mode-followers-minutes").value = s.follower_mode_duration;
    $("mode-subs").checked = !!s.subscriber_mode;
    $("mode-emote").checked = !!s.emote_mode;
    $("mode-unique").checked = !!s.unique_chat_mode;
  }

  let modes = null;
  function roomState(tags) {  // ROOMSTATE tags (a full one on join, changes afterwards)
    if (!modes) return;
    if ("slow" in tags) { const v = Number(tags.slow); modes.slow_mode = v > 0; if (v > 0) modes.slow_mode_wait_time = v; }
    if ("followers-only" in tags) { const v = Number(tags["followers-only"]); modes.follower_mode = v >= 0; if (v >= 0) modes.follower_mode_duration = v; }
    if ("subs-only" in tags) modes.subscriber_mode = tags["subs-only"] === "1";
    if ("emote-only" in tags) modes.emote_mode = tags["emote-only"] === "1";
    if ("r9k" in tags) modes.unique_chat_mode = tags.r9k === "1";
    showModes(modes);
  }

  async function loadModes() {
    try {
      const r = await H.helix("GET", "/chat/settings", { broadcaster_id: channelId, moderator_id: me });
      modes = r.data[0];
      showModes(modes);
    } catch (err) { say("modes-status", err.message, false); }
  }

  $("modes-form").addEventListener("submit", async function (ev) {
    ev.preventDefault();
    const body = {
      slow_mode: $("mode-slow").checked,
      follower_mode: $("mode-followers").checked,
      subscriber_mode: $("mode-subs").checked,
      emote_mode: $("mode-emote").checked,
      unique_chat_mode: $("mode-unique").checked,
    };
    if (body.slow_mode) body.slow_mode_wait_time = Number($("mode-slow-seconds").value);
    if (body.follower_mode) body.follower_mode_duration = Number($("mode-followers-minutes").value);
    try {
      const r = await H.helix("PATCH", "/chat/settings", { broadcaster_id: channelId, moderator_id: me }, body);
      modes = r.data[0];
      showModes(modes);
      say("modes-status", "Room modes saved.", true);
    } catch (err) { say("modes-status", err.message, false); }
    loadLog(true);
  });

  // ---- blocked terms ----

  async function loadTerms() {
    const list = $("terms-list");
    try {
      const r = await H.helix("GET", "/moderation/blocked_terms", { broadcaster_id: channelId, moderator_id: me, first: 100 });
      list.replaceChildren.apply(list, r.data.map(function (t) {
        return el("li", { dataset: { term: t.text } }, el("span", {}, t.text), el("button", {
          type: "button", className: "link remove",
          onclick: async function () {
            try {
              await H.helix("DELETE", "/moderation/blocked_terms", { broadcaster_id: channelId, moderator_id: me, id: t.id });
              say("terms-status", "Removed \u201c" + t.text + "\u201d.", true);
            } catch (err) { say("terms-status", err.message, false); }
            loadTerms(); loadLog(true);
          },
        }, "Remove"));
      }));
      if (!r.data.length) list.append(el("li", { className: "muted" }, "No blocked terms."));
    } catch (err) { say("terms-status", err.message, false); }
  }

  $("terms-form").addEventListener("submit", async function (ev) {
    ev.preventDefault();
    const text = $("term-text").value.trim();
    try {
      await H.helix("POST", "/moderation/blocked_terms", { broadcaster_id: channelId, moderator_id: me }, { text: text });
      say("terms-status", "Blocked \u201c" + text + "\u201d.", true);
      $("term-text").value = "";
    } catch (err) { say("terms-status", err.message, false); }
    loadTerms(); loadLog(true);
  });

  // ---- moderators and VIPs ----

  const ROLES = {
    mods: { path: "/moderation/moderators", noun: "moderator" },
    vips: { path: "/channels/vips", noun: "VIP" },
  };

  async function loadRole(kind) {
    const role = ROLES[kind];
    const list = $(kind + "-list");
    try {
      const r = await H.helix("GET", role.path, { broadcaster_id: channelId, first: 100 });
      list.replaceChildren.apply(list, r.data.map(function (u) {
        return el("li", { dataset: { login: u.user_login } },
          el("a", { href: "/" + u.user_login }, u.user_name),
          el("button", { type: "button", className: "link remove", onclick: async function () {
            try {
              await H.helix("DELETE", role.path, { broadcaster_id: channelId, user_id: u.user_id });
              say("roles-status", u.user_name + " is no longer a " + role.noun + ".", true);
            } catch (err) { say("roles-status", err.message, false); }
            loadRole(kind); loadLog(true);
          } }, "Remove"));
      }));
      if (!r.data.length) list.append(el("li", { className: "muted" }, "None yet."));
    } catch (err) { say("roles-status", err.message, false); }
  }

  const ownChannel = !!$("mods-form");  // moderators and VIPs: the broadcaster's only
  Object.keys(ROLES).forEach(function (kind) {
    if (!ownChannel) return;
    $(kind + "-form").addEventListener("submit", async function (ev) {
      ev.preventDefault();
      const role = ROLES[kind];
      try {
        const user = await userByLogin($(kind + "-login").value);
        await H.helix("POST", role.path, { broadcaster_id: channelId, user_id: user.id });
        say("roles-status", user.display_name + " is now a " + role.noun + ".", true);
        $(kind + "-login").value = "";
      } catch (err) { say("roles-status", err.message, false); }
      loadRole(kind); loadLog(true);
    });
  });

  // ---- moderation log ----

  const ACTIONS = {
    ban: "banned", timeout: "timed out", unban: "unbanned", delete_message: "deleted a message of",
    clear: "cleared the chat", modes: "changed room modes", add_moderator: "added moderator",
    remove_moderator: "removed moderator", add_vip: "added VIP", remove_vip: "removed VIP",
    add_blocked_term: "blocked a term", remove_blocked_term: "unblocked a term",
    add_emote: "added emote", remove_emote: "removed emote", add_editor: "added editor",
    remove_editor: "removed editor",
  };
  // A "modes" entry's details are the changed ROOMSTATE tags as JSON: say them in words.
  function modeDetails(text) {
    let change;
    try { change = JSON.parse(text); } catch (err) { return text; }
    if (!change || typeof change !== "object") return text;
    const words = [];
    Object.keys(change).forEach(function (k) {
      const v = Number(change[k]);
      if (k === "slow") words.push(v > 0 ? "slow mode " + v + " s" : "slow mode off");
      else if (k === "followers-only") words.push(v >= 0 ? "followers-only " + v + " min" : "followers-only off");
      else if (k === "subs-only") words.push("subscribers-only " + (v ? "on" : "off"));
      else if (k === "emote-only") words.push("emote-only " + (v ? "on" : "off"));
      else if (k === "r9k") words.push("unique chat " + (v ? "on" : "off"));
      else words.push(k + " " + change[k]);
    });
    return words.join(", ");
  }

  let logCursor = null;
  let logBusy = false;

  async function loadLog(fresh) {
    if (logBusy) { if (fresh) setTimeout(function () { loadLog(true); }, 300); return; }
    logBusy = true;
    const body = $("modlog").querySelector("tbody");
    try {
      const r = await H.helix("GET", "/moderation/log", { broadcaster_id: channelId, first: 50, after: fresh ? null : logCursor });
      if (fresh) body.replaceChildren();
      r.data.forEach(function (e) {
        body.append(el("tr", { dataset: { action: e.action, id: e.id } },
          el("td", { title: fmtTime(e.created_at) }, H.timeAgo(e.created_at) + " ago"),
          el("td", { className: "log-mod" }, e.moderator_name || "(system)"),
          el("td", { className: "log-action" }, ACTIONS[e.action] || e.action),
          el("td", { className: "log-user" }, e.user_name || ""),
          el("td", { className: "log-details" }, e.action === "modes" ? modeDetails(e.details) : e.details || "")));
      });
      logCursor = r.pagination.cursor || null;
      $("log-more").classList.toggle("hidden", !logCursor);
      $("modlog-empty").classList.toggle("hidden", body.children.length > 0);
    } catch (err) {
      say("mod-status", err.message, false);
    } finally {
      logBusy = false;
    }
  }
  $("log-refresh").addEventListener("click", function () { loadLog(true); });
  $("log-more").addEventListener("click", function () { loadLog(false); });

  async function start() {
    const t = await H.token();
    if (!t) return;
    me = t.user_id;
    await loadModes();
    loadBanned(); loadTerms(); if (ownChannel) { loadRole("mods"); loadRole("vips"); }
    loadLog(true);
    await loadRecent();
    connectChat();
    root.dataset.ready = "1";
  }
  start();
})();
