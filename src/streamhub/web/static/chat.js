// Channel page chat panel: Twitch IRC over WebSocket (subprotocol "irc"), logged in with the
// viewer's web token or anonymously (read-only). Every piece of message data reaches the DOM
// as text nodes or as attributes of elements built here (never parsed as HTML).
(function () {
  "use strict";
  const el = StreamHub.el;
  const panel = document.getElementById("chat");
  if (!panel) return;
  const channel = panel.dataset.login;
  const logEl = document.getElementById("chat-log");
  const input = document.getElementById("chat-input");
  const sendBtn = document.getElementById("chat-send");
  const form = document.getElementById("chat-form");
  const statusEl = document.getElementById("chat-status");
  const bannersEl = document.getElementById("chat-banners");
  const moreBtn = document.getElementById("chat-more");
  const card = document.getElementById("chat-card");
  const replyBar = document.getElementById("chat-reply");
  const MAX_LINES = 300;
  const MAX_INPUT = 500;
  const REFUSALS = new Set(["msg_banned", "msg_timedout", "msg_rejected", "msg_rejected_mandatory",
    "msg_subsonly", "msg_followersonly", "msg_followersonly_zero", "msg_followersonly_followed",
    "msg_emoteonly", "msg_slowmode", "msg_r9k", "msg_duplicate", "msg_ratelimit", "no_permission",
    "msg_channel_suspended", "msg_not_joined", "msg_requires_verified_phone_number"]);
  const DEFAULT_COLORS = ["#FF0000", "#0000FF", "#008000", "#B22222", "#FF7F50", "#9ACD32", "#FF4500",
    "#2E8B57", "#DAA520", "#D2691E", "#5F9EA0", "#1E90FF", "#FF69B4", "#8A2BE2", "#00FF7F"];

  const me = { login: null, userId: null, anonymous: true, isMod: false, exempt: false, tags: {} };
  const chat = {
    ws: null, connected: false, joined: false, backoff: 1000, authFailed: false,
    pending: [], replyTo: null, room: {}, cooldownUntil: 0, blockedUntil: 0, blockReason: "",
    byId: new Map(), stick: true, cardTarget: null,
  };
  window.streamhubChat = chat;  // state for tests and debugging
  const emoteIds = new Map();   // emote code -> id (for history and own messages, which carry no emotes tag)
  const badgeTitles = new Map(); // "set/version" -> title

  // ---- IRC lines ----
  const irc = window.StreamHubIrc;
  const parseLine = irc.parseLine, escapeTag = irc.escapeTag, nickOf = irc.nickOf;

  function send(line) {
    if (chat.ws && chat.ws.readyState === WebSocket.OPEN) chat.ws.send(line.replace(/[\r\n]/g, " ") + "\r\n");
  }

  // ---- colors ----
  function readableColor(color, login) {
    let hex = typeof color === "string" && /^#[0-9A-Fa-f]{6}$/.test(color) ? color : null;
    if (!hex) {
      let h = 0;
      for (let i = 0; i < login.length; i++) h = (h * 31 + login.charCodeAt(i)) >>> 0;
      hex = DEFAULT_COLORS[h % DEFAULT_COLORS.length];
    }
    let r = parseInt(hex.slice(1, 3), 16), g = parseInt(hex.slice(3, 5), 16), b = parseInt(hex.slice(5, 7), 16);
    // too dark on the dark panel: mix with white until it reads
    for (let i = 0; i < 6 && 0.2126 * r + 0.7152 * g + 0.0722 * b < 100; i++) {
      r = Math.round(r + (255 - r) * 0.3); g = Math.round(g + (255 - g) * 0.3); b = Math.round(b + (255 - b) * 0.3);
    }
    return "#" + [r, g, b].map(function (x) { return x.toString(16).padStart(2, "0"); }).join("");
  }

  // ---- message text: emotes as images, the rest as text ----
  function emoteRanges(cps, tag) {
    const ranges = [];
    if (typeof tag === "string") {
      tag.split("/").forEach(function (group) {
        const colon = group.indexOf(":");
        const id = group.slice(0, colon);
        if (colon < 1 || !/^[A-Za-z0-9_]{1,40}$/.test(id)) return;
        group.slice(colon + 1).split(",").forEach(function (span) {
          const m = /^(\d+)-(\d+)$/.exec(span);
          if (!m) return;
          const s = parseInt(m[1], 10), e = parseInt(m[2], 10);
          if (s <= e && e < cps.length) ranges.push({ s: s, e: e, id: id });
        });
      });
    } else {
      let start = 0;
      for (let i = 0; i <= cps.length; i++) {
        if (i === cps.length || cps[i] === " ") {
          const word = cps.slice(start, i).join("");
          if (word && emoteIds.has(word)) ranges.push({ s: start, e: i - 1, id: emoteIds.get(word) });
          start = i + 1;
        }
      }
    }
    ranges.sort(function (a, b) { return a.s - b.s; });
    return ranges;
  }
  function messageNodes(text, emotesTag) {
    const cps = Array.from(text);
    const out = [];
    let pos = 0;
    emoteRanges(cps, emotesTag).forEach(function (r) {
      if (r.s < pos) return;  // overlapping ranges: keep the first
      if (r.s > pos) out.push(document.createTextNode(cps.slice(pos, r.s).join("")));
      const code = cps.slice(r.s, r.e + 1).join("");
      out.push(el("img", { className: "emote", src: "/emotes/" + r.id, alt: code, title: code }));
      pos = r.e + 1;
    });
    if (pos < cps.length) out.push(document.createTextNode(cps.slice(pos).join("")));
    return out;
  }

  // ---- the log ----
  function atBottom() { return logEl.scrollHeight - logEl.scrollTop - logEl.clientHeight < 40; }
  logEl.addEventListener("scroll", function () {
    chat.stick = atBottom();
    if (chat.stick) moreBtn.classList.add("hidden");
  });
  moreBtn.addEventListener("click", function () {
    chat.stick = true;
    logEl.scrollTop = logEl.scrollHeight;
    moreBtn.classList.add("hidden");
  });
  function append(line, historical) {
    if (historical) line.classList.add("historical");
    logEl.appendChild(line);
    while (logEl.childElementCount > MAX_LINES) {
      const first = logEl.firstElementChild;
      if (first.dataset.id) chat.byId.delete(first.dataset.id);
      first.remove();
    }
    if (chat.stick) logEl.scrollTop = logEl.scrollHeight;
    else moreBtn.classList.remove("hidden");
  }
  function system(text, kind) {
    append(el("div", { className: "chat-line chat-system" + (kind ? " " + kind : "") }, text));
  }

  function badgeNodes(badges) {
    const out = [];
    (badges || "").split(",").forEach(function (b) {
      if (!/^[a-z0-9_-]{1,40}\/[A-Za-z0-9_-]{1,20}$/.test(b)) return;
      const parts = b.split("/");
      const title = badgeTitles.get(b) || parts[0];
      out.push(el("img", { className: "badge", src: "/helix/chat/badges/images/" + parts[0] + "/" + parts[1] + ".png",
        alt: title, title: title, dataset: { badge: parts[0] } }));
    });
    return out;
  }

  // "\u0001ACTION waves\u0001" (a /me) -> {text: "waves", action: true}
  function unwrapAction(raw) {
    if (raw.startsWith("\u0001ACTION ")) return { text: raw.slice(8).replace(/\u0001$/, ""), action: true };
    return { text: raw, action: false };
  }

  function renderMessage(msg, historical) {
    const tags = msg.tags;
    const unwrapped = unwrapAction(msg.params[1] || "");
    const text = unwrapped.text, action = unwrapped.action;
    const login = (tags.login || nickOf(msg.prefix) || "").toLowerCase();
    const name = tags["display-name"] || login;
    const id = tags.id || "";
    if (id && chat.byId.has(id)) return;  // already shown (history, or our own echo)
    const color = readableColor(tags.color, login);
    const line = el("div", { className: "chat-line chat-message" + (action ? " action" : ""),
      dataset: { user: login, userId: tags["user-id"] || "", id: id } });
    if (tags["reply-parent-msg-id"]) {
      const parent = tags["reply-parent-display-name"] || tags["reply-parent-user-login"] || "";
      line.appendChild(el("div", { className: "chat-reply-parent" },
        "Replying to @" + parent + ": " + unwrapAction(tags["reply-parent-msg-body"] || "").text));
    }
    const nameEl = el("button", { type: "button", className: "chat-name" }, name);
    nameEl.style.color = color;
    nameEl.addEventListener("click", function () { openCard(login, name, id); });
    const body = el("span", { className: "chat-body" });
    messageNodes(text, tags.emotes).forEach(function (n) { body.appendChild(n); });
    if (action) body.style.color = color;
    line.append(el("span", { className: "chat-badges" }, ...badgeNodes(tags.badges)), nameEl,
      action ? " " : el("span", { className: "chat-colon" }, ": "), body);
    if (id && !me.anonymous) {
      line.appendChild(el("button", { type: "button", className: "chat-reply-btn", title: "Reply",
        onclick: function () { setReply(id, name, text); } }, "Reply"));
    }
    if (id) chat.byId.set(id, line);
    append(line, historical);
  }

  function removeMessage(id) {
    const line = chat.byId.get(id);
    if (line) { line.remove(); chat.byId.delete(id); }
  }
  function removeUser(userId, login) {
    Array.from(logEl.querySelectorAll(".chat-message")).forEach(function (line) {
      if ((userId && line.dataset.userId === userId) || (login && line.dataset.user === login)) {
        if (line.dataset.id) chat.byId.delete(line.dataset.id);
        line.remove();
      }
    });
  }

  // ---- input state: anonymous, connecting, timed out/banned, slow mode ----
  function block(untilMs, reason) {
    chat.blockedUntil = untilMs;
    chat.blockReason = reason;
    updateInput();
  }
  function secondsLeft(t) { return Math.max(0, Math.ceil((t - Date.now()) / 1000)); }
  function updateInput() {
    const now = Date.now();
    let disabled = false, placeholder = "Send a message", status = "";
    if (me.anonymous) { disabled = true; placeholder = "Log in to chat"; }
    else if (!chat.joined) { disabled = true; placeholder = "Connecting to chat\u2026"; }
    if (!me.anonymous && chat.blockedUntil > now) {
      disabled = true;
      status = chat.blockedUntil === Infinity ? chat.blockReason
        : "You are timed out for " + secondsLeft(chat.blockedUntil) + " more seconds.";
      placeholder = chat.blockedUntil === Infinity ? "You are banned from this chat" : "You are timed out";
    } else if (chat.blockedUntil && chat.blockedUntil <= now) {
      chat.blockedUntil = 0;
    }
    input.disabled = disabled;
    input.placeholder = placeholder;
    panel.classList.toggle("chat-blocked", chat.blockedUntil > now);
    if (status || statusEl.dataset.kind === "block") {
      statusEl.textContent = status;
      statusEl.dataset.kind = status ? "block" : "";
    }
    const cooldown = chat.cooldownUntil > now ? secondsLeft(chat.cooldownUntil) : 0;
    sendBtn.disabled = disabled || cooldown > 0;
    sendBtn.textContent = cooldown > 0 ? "Chat (" + cooldown + "s)" : "Chat";
    sendBtn.classList.toggle("cooldown", cooldown > 0);
  }
  setInterval(updateInput, 250);
  function setStatus(text) {
    if (statusEl.dataset.kind === "block" && chat.blockedUntil > Date.now()) return;
    statusEl.textContent = text;
    statusEl.dataset.kind = text ? "conn" : "";
  }

  function showBanners() {
    const r = chat.room, items = [];
    const slow = parseInt(r.slow || "0", 10);
    if (slow > 0) items.push("Slow mode (" + slow + "s)");
    const fol = parseInt(r["followers-only"] === undefined ? "-1" : r["followers-only"], 10);
    if (fol >= 0) items.push(fol > 0 ? "Followers-only (" + fol + " min)" : "Followers-only");
    if (r["subs-only"] === "1") items.push("Subscribers-only");
    if (r["emote-only"] === "1") items.push("Emote-only");
    if (r.r9k === "1") items.push("Unique chat");
    bannersEl.replaceChildren.apply(bannersEl, items.map(function (t) {
      return el("span", { className: "chat-banner" }, t);
    }));
  }

  // ---- replies and the moderator card ----
  function setReply(id, name, text) {
    chat.replyTo = { id: id, name: name, text: text };
    document.getElementById("chat-reply-text").textContent = "Replying to @" + name + ": " + text;
    replyBar.classList.remove("hidden");
    if (!input.disabled) input.focus();
  }
  function clearReply() { chat.replyTo = null; replyBar.classList.add("hidden"); }
  document.getElementById("chat-reply-cancel").addEventListener("click", clearReply);

  function openCard(login, name, msgId) {
    if (!me.isMod || !/^[a-z0-9_]{1,25}$/.test(login)) return;
    chat.cardTarget = { login: login, msgId: msgId };
    document.getElementById("chat-card-name").textContent = name;
    card.querySelector('[data-action="delete"]').classList.toggle("hidden", !msgId);
    card.classList.remove("hidden");
  }
  document.getElementById("chat-card-close").addEventListener("click", function () { card.classList.add("hidden"); });
  card.querySelectorAll("button[data-action]").forEach(function (b) {
    b.addEventListener("click", function () {
      const t = chat.cardTarget;
      if (!t) return;
      const cmd = { timeout: "/timeout " + t.login + " 600", ban: "/ban " + t.login,
        unban: "/unban " + t.login, delete: "/delete " + t.msgId }[b.dataset.action];
      if (cmd) send("PRIVMSG #" + channel + " :" + cmd);
      card.classList.add("hidden");
    });
  });

  // ---- sending ----
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    const text = input.value.replace(/[\r\n]/g, " ").trim().slice(0, MAX_INPUT);
    if (!text || input.disabled || sendBtn.disabled) return;
    const isCommand = /^[/.]/.test(text) && !/^[/.]me /.test(text);
    let line = "PRIVMSG #" + channel + " :" + text;
    const reply = isCommand ? null : chat.replyTo;
    if (reply) line = "@reply-parent-msg-id=" + escapeTag(reply.id) + " " + line;
    if (!isCommand) chat.pending.push({ text: text, reply: reply });
    send(line);
    input.value = "";
    clearReply();
  });

  function ownMessage(ack, sent) {
    let text = sent.text;
    if (/^[/.]me /.test(text)) text = "\u0001ACTION " + text.slice(4) + "\u0001";
    const tags = Object.assign({}, ack.tags, { "user-id": me.userId || "", login: me.login });
    delete tags.emotes;
    if (sent.reply) {
      Object.assign(tags, { "reply-parent-msg-id": sent.reply.id, "reply-parent-display-name": sent.reply.name,
        "reply-parent-msg-body": sent.reply.text });
    }
    renderMessage({ tags: tags, prefix: me.login, command: "PRIVMSG", params: ["#" + channel, text] });
    const slow = parseInt(chat.room.slow || "0", 10);
    if (slow > 0 && !me.exempt) chat.cooldownUntil = Date.now() + slow * 1000;
    updateInput();
  }

  // ---- incoming lines ----
  function handle(msg) {
    const t = msg.tags;
    switch (msg.command) {
      case "PING": send("PONG :" + (msg.params[0] || "tmi.twitch.tv")); break;
      case "001": chat.connected = true; break;
      case "GLOBALUSERSTATE": if (t["user-id"]) me.userId = t["user-id"]; break;
      case "JOIN":
        if (nickOf(msg.prefix) === (me.login || "").toLowerCase()) {
          chat.joined = true; chat.backoff = 1000; setStatus(""); updateInput();
        }
        break;
      case "USERSTATE": {
        const badges = t.badges || "";
        me.isMod = t.mod === "1" || /(^|,)(broadcaster|moderator)\//.test(badges);
        me.exempt = me.isMod || /(^|,)vip\//.test(badges);
        panel.classList.toggle("chat-mod", me.isMod);
        if (t.id) {
          const sent = chat.pending.shift();
          if (sent) ownMessage(msg, sent);
          if (chat.blockedUntil && chat.blockedUntil !== Infinity) chat.blockedUntil = 0;
        }
        break;
      }
      case "ROOMSTATE": Object.assign(chat.room, t); showBanners(); break;
      case "PRIVMSG": renderMessage(msg, t.historical === "1"); break;
      case "CLEARMSG": if (t["target-msg-id"]) removeMessage(t["target-msg-id"]); break;
      case "CLEARCHAT": {
        const target = (msg.params[1] || "").toLowerCase();
        if (!target) {
          logEl.replaceChildren();
          chat.byId.clear();
          system("Chat was cleared by a moderator");
          break;
        }
        removeUser(t["target-user-id"] || "", target);
        const dur = parseInt(t["ban-duration"] || "", 10);
        system(target + (dur > 0 ? " has been timed out for " + dur + " seconds." : " has been banned."), "mod-action");
        if (me.login && target === me.login.toLowerCase() && !me.anonymous) {
          if (dur > 0) block(Date.now() + dur * 1000, "");
          else block(Infinity, "You are banned from this chat.");
        }
        break;
      }
      case "USERNOTICE": {
        const kind = /^[a-z_]{1,40}$/.test(t["msg-id"] || "") ? t["msg-id"] : "notice";
        const line = el("div", { className: "chat-line chat-usernotice " + kind });
        if (kind === "announcement") {
          const c = (t["msg-param-color"] || "PRIMARY").toLowerCase();
          if (/^[a-z]{1,12}$/.test(c)) line.classList.add("announce-" + c);
          line.appendChild(el("div", { className: "chat-usernotice-head" }, "Announcement"));
        }
        if (t["system-msg"]) line.appendChild(el("div", { className: "chat-system-msg" }, t["system-msg"]));
        if (msg.params[1]) {
          const login = (t.login || nickOf(msg.prefix) || "").toLowerCase();
          const nameEl = el("span", { className: "chat-name" }, t["display-name"] || login);
          nameEl.style.color = readableColor(t.color, login);
          const body = el("span", { className: "chat-body" });
          messageNodes(msg.params[1], t.emotes).forEach(function (n) { body.appendChild(n); });
          line.appendChild(el("div", {}, nameEl, ": ", body));
        }
        append(line);
        break;
      }
      case "NOTICE": {
        const id = t["msg-id"] || "";
        const text = msg.params[msg.params.length - 1] || "";
        if (REFUSALS.has(id)) chat.pending.shift();
        if (text === "Login authentication failed" || text === "Improperly formatted auth") chat.authFailed = true;
        if (id === "msg_timedout") {
          const m = /(\d+) more second/.exec(text);
          if (m) block(Date.now() + parseInt(m[1], 10) * 1000, "");
        } else if (id === "msg_banned") {
          block(Infinity, text || "You are banned from this chat.");
        } else if (id === "msg_slowmode") {
          const m = /(\d+) second/.exec(text);
          if (m) chat.cooldownUntil = Date.now() + parseInt(m[1], 10) * 1000;
        }
        // the room's CLEARCHAT line already says who was timed out or banned
        if (id !== "timeout_success" && id !== "ban_success") {
          system(text, "notice" + (id ? " notice-" + id.replace(/[^a-z0-9_]/g, "") : ""));
        }
        break;
      }
      case "HOSTTARGET": {
        const to = (msg.params[1] || "").split(" ")[0];
        if (to && to !== "-") system("Now raiding " + to + ".");
        break;
      }
      case "RECONNECT": if (chat.ws) chat.ws.close(); break;
      default: break;
    }
  }

  // ---- connection ----
  async function connect() {
    chat.connected = false; chat.joined = false;
    updateInput();
    let token = null;
    try { token = await StreamHub.token(chat.authFailed); } catch (err) { token = null; }
    chat.authFailed = false;
    me.anonymous = !token;
    me.login = token ? token.login : "justinfan" + String(Math.floor(10000 + Math.random() * 89999999));
    if (token) me.userId = token.user_id;
    let ws;
    try { ws = new WebSocket(StreamHub.chatUrl(), "irc"); } catch (err) { retry(); return; }
    chat.ws = ws;
    ws.addEventListener("open", function () {
      send("CAP REQ :twitch.tv/tags twitch.tv/commands twitch.tv/membership");
      if (token) send("PASS oauth:" + token.access_token);
      send("NICK " + me.login);
      send("JOIN #" + channel);
    });
    ws.addEventListener("message", function (e) {
      const handleText = function (data) {
        String(data).split(/\r?\n/).forEach(function (l) {
          if (!l) return;
          const msg = parseLine(l);
          if (msg) { try { handle(msg); } catch (err) { console.error(err); } }
        });
      };
      if (typeof e.data === "string") handleText(e.data);
      else if (e.data && e.data.text) e.data.text().then(handleText);
    });
    ws.addEventListener("close", function () {
      if (chat.ws !== ws) return;
      chat.ws = null;
      chat.pending = [];
      retry();
    });
  }
  function retry() {
    chat.connected = false; chat.joined = false;
    const wait = chat.backoff;
    chat.backoff = Math.min(chat.backoff * 2, 30000);
    setStatus("Disconnected from chat. Reconnecting in " + Math.round(wait / 1000) + " s\u2026");
    updateInput();
    setTimeout(connect, wait);
  }

  async function loadJson(url) {
    try {
      const r = await fetch(url, { cache: "no-store" });
      return r.ok ? await r.json() : null;
    } catch (err) { return null; }
  }

  async function start() {
    input.maxLength = MAX_INPUT;
    updateInput();
    const [globals, own, badges, recent] = await Promise.all([
      loadJson("/api/chat/emotes"), loadJson("/api/chat/emotes/" + channel),
      loadJson("/api/chat/badges"), loadJson("/api/chat/rooms/" + channel + "/recent-messages?limit=50"),
    ]);
    [globals, own].forEach(function (list) {
      ((list && list.data) || []).forEach(function (e) {
        if (e && typeof e.name === "string" && typeof e.id === "string") emoteIds.set(e.name, e.id);
      });
    });
    ((badges && badges.data) || []).forEach(function (set) {
      (set.versions || []).forEach(function (v) { badgeTitles.set(set.set_id + "/" + v.id, v.title); });
    });
    ((recent && recent.messages) || []).forEach(function (raw) {
      const msg = typeof raw === "string" ? parseLine(raw) : null;
      if (msg && msg.command === "PRIVMSG") renderMessage(msg, true);
    });
    system("Welcome to the chat room!");
    connect();
  }
  start();
})();
