// Shared helpers for the site's scripts: DOM building (text only, never HTML), the logged-in
// viewer, and Helix calls with the browser's web token (POST /web/token).
(function () {
  "use strict";
  function meta(name) {
    const el = document.querySelector('meta[name="' + name + '"]');
    return el ? el.getAttribute("content") || "" : "";
  }

  // el("a", {href: "/x", className: "y"}, "text", child...): children are strings (as text) or nodes.
  function el(tag, attrs) {
    const node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      const value = attrs[key];
      if (value === null || value === undefined || value === false) return;
      if (key === "className") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.slice(0, 2) === "on" && typeof value === "function") node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    });
    for (let i = 2; i < arguments.length; i++) {
      const child = arguments[i];
      if (child === null || child === undefined || child === false) continue;
      node.append(typeof child === "string" || typeof child === "number" ? String(child) : child);
    }
    return node;
  }

  const TOKEN_KEY = "streamhub.webtoken";
  let pending = null;

  // The viewer's API token {access_token, client_id, user_id, login, expires_at}, or null
  // when nobody is logged in. Cached in sessionStorage until 5 minutes before it expires.
  async function token(fresh) {
    const login = meta("streamhub-viewer");
    if (!login) return null;
    if (!fresh) {
      try {
        const saved = JSON.parse(sessionStorage.getItem(TOKEN_KEY) || "null");
        if (saved && saved.login === login && saved.expires_at > Date.now() + 300000) return saved;
      } catch (err) { /* storage disabled or garbage: fetch a new one */ }
    }
    if (!pending) {
      pending = fetch("/web/token", {
        method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": meta("streamhub-csrf") },
      }).then(function (r) {
        if (!r.ok) return null;
        return r.json().then(function (t) {
          t.expires_at = Date.now() + t.expires_in * 1000;
          try { sessionStorage.setItem(TOKEN_KEY, JSON.stringify(t)); } catch (err) { /* ignore */ }
          return t;
        });
      }).finally(function () { pending = null; });
    }
    return pending;
  }

  // Call Helix: helix("GET", "/channels", {broadcaster_id: 1}) -> parsed JSON body.
  // Throws an Error whose message is the API's message on a non-2xx answer.
  async function helix(method, path, query, body) {
    const url = new URL("/helix" + path, location.origin);
    Object.keys(query || {}).forEach(function (k) {
      const v = query[k];
      if (Array.isArray(v)) v.forEach(function (x) { url.searchParams.append(k, x); });
      else if (v !== null && v !== undefined) url.searchParams.set(k, v);
    });
    for (let attempt = 0; attempt < 2; attempt++) {
      const t = await token(attempt > 0);
      if (!t) throw new Error("Log in first.");
      const headers = { "Authorization": "Bearer " + t.access_token, "Client-Id": t.client_id };
      let payload;
      if (body instanceof FormData || body instanceof Blob) payload = body;
      else if (body !== undefined) { payload = JSON.stringify(body); headers["Content-Type"] = "application/json"; }
      const r = await fetch(url, { method: method, headers: headers, body: payload });
      if (r.status === 401 && attempt === 0) continue;  // revoked or expired: one fresh token
      const text = await r.text();
      let data = null;
      try { data = text ? JSON.parse(text) : null; } catch (err) { data = null; }
      if (!r.ok) throw new Error((data && data.message) || ("HTTP " + r.status));
      return data;
    }
    throw new Error("Not authorized.");
  }

  function timeAgo(iso) {
    const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    if (s < 60) return Math.round(s) + "s";
    if (s < 3600) return Math.round(s / 60) + "m";
    if (s < 86400) return Math.floor(s / 3600) + "h " + Math.round((s % 3600) / 60) + "m";
    return Math.round(s / 86400) + "d";
  }

  window.StreamHub = {
    el: el, meta: meta, token: token, helix: helix, timeAgo: timeAgo,
    viewer: function () { return meta("streamhub-viewer") || null; },
    chatUrl: function () { return meta("streamhub-chat"); },
    csrf: function () { return meta("streamhub-csrf"); },
  };
})();
