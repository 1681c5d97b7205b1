// Dashboard > Customize: profile image, banner, accent color, bio, about panels, social links,
// channel emotes and the schedule editor. Every save goes through the real API and shows its
// success or the API's error message; user text only ever reaches the DOM as text.
(function () {
  "use strict";
  const H = window.StreamHub;
  const el = H.el;
  const root = document.getElementById("dashboard");
  const channelId = root.dataset.broadcasterId;
  const channelLogin = root.dataset.login;

  function $(id) { return document.getElementById(id); }

  function say(id, text, ok) {
    const box = $(id);
    box.textContent = text;
    box.className = ok ? "ok" : "error";
  }

  async function guard(statusId, okText, work) {
    try {
      await work();
      say(statusId, okText, true);
      return true;
    } catch (err) {
      say(statusId, err.message, false);
      return false;
    }
  }

  // ---- profile image, banner, accent color, bio ----

  function showUser(u) {
    const img = $("profile-preview");
    if (u.profile_image_url) img.src = u.profile_image_url; else img.removeAttribute("src");
    const banner = $("banner-preview");
    banner.classList.toggle("hidden", !u.offline_image_url);
    if (u.offline_image_url) banner.src = u.offline_image_url;
    $("bio").value = u.description || "";
  }

  async function loadLook() {
    try {
      const users = await H.helix("GET", "/users", { id: channelId });
      if (users.data.length) showUser(users.data[0]);
      const ch = await H.helix("GET", "/channels", { broadcaster_id: channelId });
      if (ch.data.length && /^#[0-9a-fA-F]{6}$/.test(ch.data[0].accent_color || "")) {
        $("accent-color").value = ch.data[0].accent_color.toLowerCase();
        $("profile-preview").style.borderColor = ch.data[0].accent_color;  // CSSOM, CSP-safe
      }
    } catch (err) { say("images-status", err.message, false); }
  }

  function uploadImage(kind) {
    const input = $(kind + "-file");
    return guard("images-status", (kind === "profile" ? "Profile image" : "Banner") + " updated.", async function () {
      const file = input.files[0];
      if (!file) throw new Error("Choose an image file first.");
      const r = await H.helix("PUT", "/users/" + kind + "_image", {}, file);
      showUser(r.data[0]);
      input.value = "";
    });
  }
  $("profile-upload").addEventListener("click", function () { uploadImage("profile"); });
  $("banner-upload").addEventListener("click", function () { uploadImage("banner"); });

  $("accent-save").addEventListener("click", function () {
    guard("accent-status", "Accent color saved.", function () {
      const color = $("accent-color").value;
      return H.helix("PATCH", "/channels", { broadcaster_id: channelId }, { accent_color: color }).then(function () {
        $("profile-preview").style.borderColor = color;
      });
    });
  });

  $("bio-save").addEventListener("click", function () {
    guard("bio-status", "Bio saved.", async function () {
      const r = await H.helix("PUT", "/users", { description: $("bio").value });
      showUser(r.data[0]);
    });
  });

  // ---- list editors (panels, social links): edit rows, reorder, delete, save all ----

  function listEditor(opts) {
    let items = [];
    const list = $(opts.list);

    function sync() {  // the inputs' values back into `items`
      list.querySelectorAll("li.editor-row").forEach(function (li, i) {
        opts.fields.forEach(function (f) { items[i][f.name] = li.querySelector("[name=" + f.name + "]").value; });
      });
    }

    function move(i, by) {
      sync();
      const j = i + by;
      if (j < 0 || j >= items.length) return;
      const tmp = items[i]; items[i] = items[j]; items[j] = tmp;
      render();
    }

    function render() {
      list.replaceChildren.apply(list, items.map(function (item, i) {
        const inputs = opts.fields.map(function (f) {
          const attrs = { name: f.name, maxlength: f.max, placeholder: f.label, "aria-label": f.label + " " + (i + 1) };
          const input = f.multiline ? el("textarea", Object.assign({ rows: 3 }, attrs)) : el("input", Object.assign({ type: f.type || "text" }, attrs));
          input.value = item[f.name] || "";
          return el("label", {}, el("span", { className: "muted" }, f.label), input);
        });
        if (opts.image) inputs.push(opts.image(item, function () { sync(); render(); }));
        return el("li", { className: "editor-row" },
          el("div", { className: "editor-fields" }, ...inputs),
          el("div", { className: "editor-buttons" },
            el("button", { type: "button", className: "secondary move-up", disabled: i === 0, title: "Move up", onclick: function () { move(i, -1); } }, "\u2191"),
            el("button", { type: "button", className: "secondary move-down", disabled: i === items.length - 1, title: "Move down", onclick: function () { move(i, 1); } }, "\u2193"),
            el("button", { type: "button", className: "danger remove", onclick: function () { sync(); items.splice(i, 1); render(); } }, "Delete")));
      }));
      if (!items.length) list.append(el("li", { className: "muted" }, opts.empty));
    }

    return {
      set: function (data) { items = data.map(function (x) { return Object.assign({}, x); }); render(); },
      add: function () {
        sync();
        if (items.length >= opts.max) { say(opts.status, "At most " + opts.max + " " + opts.noun + ".", false); return; }
        const blank = {};
        opts.fields.forEach(function (f) { blank[f.name] = ""; });
        items.push(blank);
        render();
        const inputs = list.querySelectorAll("li:last-child input");
        if (inputs.length) inputs[0].focus();
      },
      values: function () { sync(); return items.map(function (x) { return Object.assign({}, x); }); },
    };
  }

  // A panel row's image: uploaded at once (PUT /channels/panels/image), kept by "Save panels".
  function panelImage(item, changed) {
    const box = el("div", { className: "panel-image" });
    if (item.image_url) {
      box.append(el("img", { src: item.image_url, alt: "Panel image", className: "panel-image-preview" }),
        el("button", { type: "button", className: "link remove-image", onclick: function () {
          item.image_url = ""; changed();
        } }, "Remove image"));
    }
    const input = el("input", { type: "file", className: "panel-image-file", accept: "image/png,image/jpeg,image/gif,image/webp",
      "aria-label": "Panel image" });
    input.addEventListener("change", function () {
      const file = input.files[0];
      if (!file) return;
      guard("panels-status", "Image uploaded: save the panels to keep it.", async function () {
        const r = await H.helix("PUT", "/channels/panels/image", { broadcaster_id: channelId }, file);
        item.image_url = r.data[0].image_url;
        changed();
      });
    });
    box.append(el("label", {}, el("span", { className: "muted" }, "Image (up to 1 MB, 1024 px)"), input));
    return box;
  }

  const panels = listEditor({
    list: "panels-list", status: "panels-status", max: 20, noun: "panels", empty: "No panels yet.",
    fields: [{ name: "title", label: "Title", max: 100 }, { name: "body", label: "Description", max: 2000, multiline: true },
             { name: "link_url", label: "Link (https://...)", max: 500, type: "url" }],
    image: panelImage,
  });
  const links = listEditor({
    list: "links-list", status: "links-status", max: 5, noun: "links", empty: "No links yet.",
    fields: [{ name: "title", label: "Title", max: 64 }, { name: "url", label: "URL", max: 500, type: "url" }],
  });

  function showPanelsPreview(data) {
    const box = $("panels-preview");
    box.replaceChildren.apply(box, data.map(function (p) {
      return el("article", { className: "panel" },
        p.image_url ? (p.link_url ? el("a", { href: p.link_url, rel: "noopener nofollow", target: "_blank" },
          el("img", { src: p.image_url, alt: p.title || "Panel image", className: "panel-img" }))
          : el("img", { src: p.image_url, alt: p.title || "Panel image", className: "panel-img" })) : null,
        p.title ? el("h4", { className: "panel-title" }, p.title) : null,
        p.body ? el("p", { className: "panel-body" }, p.body) : null,
        p.link_url ? el("a", { href: p.link_url, rel: "noopener nofollow", target: "_blank" }, p.link_url) : null);
    }));
    if (!data.length) box.append(el("p", { className: "muted" }, "No panels."));
  }

  async function loadPanels() {
    try {
      const r = await H.helix("GET", "/channels/panels", { broadcaster_id: channelId });
      panels.set(r.data);
      showPanelsPreview(r.data);
      const l = await H.helix("GET", "/channels/social_links", { broadcaster_id: channelId });
      links.set(l.data);
    } catch (err) { say("panels-status", err.message, false); }
  }

  $("panel-add").addEventListener("click", function () { panels.add(); });
  $("link-add").addEventListener("click", function () { links.add(); });
  $("panels-save").addEventListener("click", function () {
    guard("panels-status", "Panels saved.", async function () {
      const data = panels.values().map(function (p) {
        return { title: p.title, body: p.body, link_url: p.link_url || null, image_url: p.image_url || null };
      });
      const r = await H.helix("PUT", "/channels/panels", { broadcaster_id: channelId }, { data: data });
      panels.set(r.data);
      showPanelsPreview(r.data);
    });
  });
  $("links-save").addEventListener("click", function () {
    guard("links-status", "Links saved.", async function () {
      const data = links.values().map(function (x) { return { title: x.title, url: x.url }; });
      const r = await H.helix("PUT", "/channels/social_links", { broadcaster_id: channelId }, { data: data });
      links.set(r.data);
    });
  });

  // ---- emotes (chat's HTTP API; the broadcaster's bearer token) ----

  async function emoteRequest(method, code, body) {
    const t = await H.token();
    if (!t) throw new Error("Log in first.");
    const r = await fetch("/api/chat/emotes/" + encodeURIComponent(channelLogin) + "/" + encodeURIComponent(code), {
      method: method, headers: { "Authorization": "Bearer " + t.access_token }, body: body,
    });
    if (!r.ok) {
      let message = "HTTP " + r.status;
      try { message = (await r.json()).message || message; } catch (err) { /* not JSON */ }
      throw new Error(message);
    }
  }

  async function loadEmotes() {
    const list = $("emotes-list");
    try {
      const r = await fetch("/api/chat/emotes/" + encodeURIComponent(channelLogin));
      const body = await r.json();
      if (!r.ok) throw new Error(body.message || "HTTP " + r.status);
      list.replaceChildren.apply(list, body.data.map(function (e) {
        return el("li", { className: "emote", dataset: { code: e.name } },
          el("img", { src: e.url, alt: e.name, className: "emote-img", width: 56, height: 56 }),
          el("code", {}, e.name),
          e.tier ? el("span", { className: "tag" }, "Tier " + e.tier) : null,
          el("button", { type: "button", className: "link remove", onclick: function () {
            guard("emote-status", "Emote " + e.name + " deleted.", function () {
              return emoteRequest("DELETE", e.name);
            }).then(loadEmotes);
          } }, "Delete"));
      }));
      if (!body.data.length) list.append(el("li", { className: "muted" }, "No emotes yet."));
    } catch (err) { say("emote-status", err.message, false); }
  }

  $("emote-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    const code = $("emote-code").value.trim();
    guard("emote-status", "Emote " + code + " uploaded.", async function () {
      const file = $("emote-file").files[0];
      if (!file) throw new Error("Choose an image file first.");
      await emoteRequest("PUT", code, file);
      $("emote-form").reset();
    }).then(loadEmotes);
  });

  // ---- schedule ----

  const zoneOf = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  $("seg-tz").value = zoneOf;
  $("vac-zone").textContent = zoneOf;
  if (Intl.supportedValuesOf) {
    const tzs = $("tz-list");
    Intl.supportedValuesOf("timeZone").forEach(function (z) { tzs.append(el("option", { value: z })); });
  }

  // The UTC offset (ms) of `zone` at instant `utcMs`.
  function zoneOffset(zone, utcMs) {
    const parts = {};
    new Intl.DateTimeFormat("en-US", {
      timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    }).formatToParts(new Date(utcMs)).forEach(function (p) { parts[p.type] = Number(p.value); });
    return Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second) - utcMs;
  }

  // "2026-12-01T20:00" read as a wall-clock time in `zone` -> RFC 3339 UTC.
  function wallToUtc(value, zone) {
    const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(value || "");
    if (!m) throw new Error("Pick a date and time.");
    try { zoneOffset(zone, Date.now()); } catch (err) { throw new Error("Unknown time zone " + zone + "."); }
    const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
    let utc = wall - zoneOffset(zone, wall);
    utc = wall - zoneOffset(zone, utc);
    return new Date(utc).toISOString().replace(/\.\d{3}Z$/, "Z");
  }

  function utcToWall(iso, zone) {
    const ms = Date.parse(iso);
    return new Date(ms + zoneOffset(zone, ms)).toISOString().slice(0, 16);
  }

  const categories = new Map();  // name (lower case) -> id
  let categoryTimer = null;
  $("seg-category").addEventListener("input", function () {
    const q = this.value.trim();
    clearTimeout(categoryTimer);
    if (q.length < 2) return;
    categoryTimer = setTimeout(async function () {
      try {
        const r = await H.helix("GET", "/search/categories", { query: q, first: 10 });
        const list = $("category-list");
        list.replaceChildren.apply(list, r.data.map(function (c) {
          categories.set(c.name.toLowerCase(), c.id);
          return el("option", { value: c.name });
        }));
      } catch (err) { /* suggestions only */ }
    }, 250);
  });

  async function categoryId(name) {
    const key = name.trim().toLowerCase();
    if (!key) return "";
    if (categories.has(key)) return categories.get(key);
    const r = await H.helix("GET", "/games", { name: name.trim() });
    if (!r.data.length) throw new Error("No category named " + name.trim() + ".");
    categories.set(key, r.data[0].id);
    return r.data[0].id;
  }

  let editOrig = null;  // the form's values when editing began: only changes are sent

  function formValues() {
    return { start: $("seg-start").value, tz: $("seg-tz").value.trim(), duration: String($("seg-duration").value),
             title: $("seg-title").value.trim(), category: $("seg-category").value.trim() };
  }

  function editing(seg) {
    $("seg-id").value = seg ? seg.id : "";
    editOrig = null;
    $("seg-save").textContent = seg ? "Save changes" : "Add to schedule";
    $("seg-cancel-edit").classList.toggle("hidden", !seg);
    $("seg-recurring").disabled = !!seg;
    if (!seg) { $("seg-form").reset(); $("seg-tz").value = zoneOf; return; }
    const zone = $("seg-tz").value || zoneOf;
    $("seg-start").value = utcToWall(seg.start_time, zone);
    $("seg-duration").value = Math.round((Date.parse(seg.end_time) - Date.parse(seg.start_time)) / 60000);
    $("seg-title").value = seg.title || "";
    $("seg-category").value = seg.category ? seg.category.name : "";
    $("seg-recurring").checked = !!seg.is_recurring;
    editOrig = formValues();
    $("seg-start").focus();
  }
  $("seg-cancel-edit").addEventListener("click", function () { editing(null); });

  $("seg-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    const id = $("seg-id").value;
    guard("seg-status", id ? "Schedule segment updated." : "Added to the schedule.", async function () {
      const now = formValues();
      if (id && editOrig) {
        // a new start time (or zone) clears canceled occurrences, so send only what changed
        const change = {};
        if (now.start !== editOrig.start || now.tz !== editOrig.tz) {
          change.start_time = wallToUtc(now.start, now.tz);
          change.timezone = now.tz;
        }
        if (now.duration !== editOrig.duration) change.duration = now.duration;
        if (now.title !== editOrig.title) change.title = now.title;
        if (now.category !== editOrig.category) change.category_id = await categoryId(now.category);
        if (!Object.keys(change).length) throw new Error("Nothing changed.");
        await H.helix("PATCH", "/schedule/segment", { broadcaster_id: channelId, id: id }, change);
      } else {
        const body = {
          start_time: wallToUtc(now.start, now.tz), timezone: now.tz, duration: now.duration,
          title: now.title, category_id: await categoryId(now.category),
        };
        body.is_recurring = $("seg-recurring").checked;
        if (!body.category_id) delete body.category_id;
        await H.helix("POST", "/schedule/segment", { broadcaster_id: channelId }, body);
      }
      editing(null);
    }).then(loadSchedule);
  });

  function fmtRange(seg) {
    const start = new Date(seg.start_time);
    const end = new Date(seg.end_time);
    return start.toLocaleString([], { weekday: "short", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" }) +
      " \u2013 " + end.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  async function loadSchedule() {
    const body = $("schedule").querySelector("tbody");
    let data = { segments: [], vacation: null };
    try {
      data = (await H.helix("GET", "/schedule", { broadcaster_id: channelId, first: 12 })).data;
    } catch (err) {
      if (!/not created a streaming schedule/i.test(err.message)) { say("seg-status", err.message, false); return; }
    }
    body.replaceChildren.apply(body, data.segments.map(function (seg) {
      const canceled = !!seg.canceled_until;
      const act = function (label, ok, work, cls) {
        return el("button", { type: "button", className: cls, onclick: function () {
          guard("seg-status", ok, work).then(loadSchedule);
        } }, label);
      };
      return el("tr", { className: canceled ? "canceled" : "", dataset: { id: seg.id, title: seg.title } },
        el("td", {}, fmtRange(seg), canceled ? el("span", { className: "tag canceled-tag" }, "Canceled") : null),
        el("td", {}, seg.title || ""),
        el("td", {}, seg.category ? seg.category.name : ""),
        el("td", {}, seg.is_recurring ? "Weekly" : "Once"),
        el("td", { className: "seg-actions" },
          el("button", { type: "button", className: "link edit", onclick: function () { editing(seg); } }, "Edit"),
          canceled
            ? act("Restore", "Occurrence restored.", function () {
                return H.helix("PATCH", "/schedule/segment", { broadcaster_id: channelId, id: seg.id }, { is_canceled: false });
              }, "link restore")
            : act("Cancel this one", "Occurrence canceled.", function () {
                return H.helix("PATCH", "/schedule/segment", { broadcaster_id: channelId, id: seg.id }, { is_canceled: true });
              }, "link cancel-one"),
          act("Delete", seg.is_recurring ? "Weekly segment deleted." : "Segment deleted.", function () {
            return H.helix("DELETE", "/schedule/segment", { broadcaster_id: channelId, id: seg.id });
          }, "link remove")));
    }));
    $("schedule-empty").classList.toggle("hidden", data.segments.length > 0);
    const vac = data.vacation;
    $("vac-state").textContent = vac ? "On vacation from " + new Date(vac.start_time).toLocaleString() + " until " + new Date(vac.end_time).toLocaleString() + "." : "No vacation set.";
  }

  $("vac-save").addEventListener("click", function () {
    guard("vac-status", "Vacation set.", function () {
      const zone = zoneOf;  // the inputs are in the browser's time zone
      return H.helix("PATCH", "/schedule/settings", {
        broadcaster_id: channelId, is_vacation_enabled: "true", timezone: zone,
        vacation_start_time: wallToUtc($("vac-start").value, zone), vacation_end_time: wallToUtc($("vac-end").value, zone),
      });
    }).then(loadSchedule);
  });
  $("vac-clear").addEventListener("click", function () {
    guard("vac-status", "Vacation ended.", function () {
      return H.helix("PATCH", "/schedule/settings", { broadcaster_id: channelId, is_vacation_enabled: "false" });
    }).then(loadSchedule);
  });

  Promise.all([loadLook(), loadPanels(), loadEmotes(), loadSchedule()]).then(function () {
    root.dataset.ready = "1";
  });
})();
