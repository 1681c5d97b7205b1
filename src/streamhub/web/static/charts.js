// Small SVG line charts (no library): time on x, one or more series on y, axis labels and
// the last value. StreamHubCharts.line(figure, {series: [{name, points: [[t, v], ...]}], unit}).
(function () {
  "use strict";
  const NS = "http://www.w3.org/2000/svg";
  const W = 420, H = 170, LEFT = 46, RIGHT = 10, TOP = 10, BOTTOM = 24;

  function svg(tag, attrs, text) {
    const node = document.createElementNS(NS, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // A "nice" upper bound for the y axis (1, 2, 2.5 or 5 times a power of ten).
  function niceMax(value) {
    if (!(value > 0)) return 1;
    const power = Math.pow(10, Math.floor(Math.log10(value)));
    const steps = [1, 2, 2.5, 5, 10];
    for (let i = 0; i < steps.length; i++) if (steps[i] * power >= value) return steps[i] * power;
    return 10 * power;
  }

  function formatNumber(v) {
    if (v === null || v === undefined || !isFinite(v)) return "–";
    const a = Math.abs(v);
    if (a >= 10000) return (v / 1000).toFixed(a >= 100000 ? 0 : 1) + "k";
    if (a >= 100) return String(Math.round(v));
    if (a >= 10) return v.toFixed(1).replace(/\.0$/, "");
    return v.toFixed(2).replace(/\.?0+$/, "") || "0";
  }

  function clock(t) {
    const d = new Date(t * 1000);
    return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0") +
      ":" + String(d.getSeconds()).padStart(2, "0");
  }

  // At most `max` points per series: keeps the first and last, evenly thins the rest.
  function thin(points, max) {
    if (points.length <= max) return points;
    const out = [];
    const step = (points.length - 1) / (max - 1);
    for (let i = 0; i < max; i++) out.push(points[Math.round(i * step)]);
    return out;
  }

  function line(figure, options) {
    const series = (options.series || []).map(function (s) {
      return { name: s.name, points: thin((s.points || []).filter(function (p) {
        return p[1] !== null && p[1] !== undefined && isFinite(p[1]);
      }), 600) };
    });
    const unit = options.unit || "";
    const all = [];
    series.forEach(function (s) { s.points.forEach(function (p) { all.push(p); }); });
    const root = svg("svg", { viewBox: "0 0 " + W + " " + H, class: "chart-svg", role: "img",
      "aria-label": (figure.dataset.title || "") + " chart" });
    const plotW = W - LEFT - RIGHT, plotH = H - TOP - BOTTOM;
    let t0 = Infinity, t1 = -Infinity, vmax = 0;
    all.forEach(function (p) { t0 = Math.min(t0, p[0]); t1 = Math.max(t1, p[0]); vmax = Math.max(vmax, p[1]); });
    const ymax = niceMax(vmax);
    if (!all.length) { t0 = 0; t1 = 1; }
    if (t1 <= t0) t1 = t0 + 1;
    const x = function (t) { return LEFT + (t - t0) / (t1 - t0) * plotW; };
    const y = function (v) { return TOP + plotH - Math.min(v, ymax) / ymax * plotH; };

    // grid and y labels: 0, half, max
    [0, 0.5, 1].forEach(function (f) {
      const yy = TOP + plotH - f * plotH;
      root.append(svg("line", { x1: LEFT, x2: W - RIGHT, y1: yy, y2: yy, class: f === 0 ? "axis" : "grid" }));
      root.append(svg("text", { x: LEFT - 6, y: yy + 4, class: "label", "text-anchor": "end" },
        formatNumber(ymax * f)));
    });
    root.append(svg("line", { x1: LEFT, x2: LEFT, y1: TOP, y2: TOP + plotH, class: "axis" }));
    // x labels: first and last sample time
    if (all.length) {
      root.append(svg("text", { x: LEFT, y: H - 6, class: "label", "text-anchor": "start" }, clock(t0)));
      root.append(svg("text", { x: W - RIGHT, y: H - 6, class: "label", "text-anchor": "end" }, clock(t1)));
    } else {
      root.append(svg("text", { x: LEFT + plotW / 2, y: TOP + plotH / 2, class: "label",
        "text-anchor": "middle" }, "Waiting for data…"));
    }
    series.forEach(function (s, i) {
      if (!s.points.length) return;
      const d = s.points.map(function (p, j) {
        return (j ? "L" : "M") + x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1);
      }).join(" ");
      const path = svg("path", { d: d, class: "series series-" + (i % 6), fill: "none" });
      path.setAttribute("data-points", String(s.points.length));
      path.setAttribute("data-series", s.name || "");
      root.append(path);
      const last = s.points[s.points.length - 1];
      root.append(svg("circle", { cx: x(last[0]), cy: y(last[1]), r: 3, class: "dot series-" + (i % 6) }));
    });

    const caption = document.createElement("figcaption");
    const title = document.createElement("span");
    title.className = "chart-title";
    title.textContent = figure.dataset.title || "";
    caption.append(title);
    series.forEach(function (s, i) {
      const last = s.points.length ? s.points[s.points.length - 1][1] : null;
      const value = document.createElement("span");
      value.className = "chart-last series-" + (i % 6);
      value.textContent = (series.length > 1 ? s.name + " " : "") + formatNumber(last) + (unit ? " " + unit : "");
      caption.append(value);
    });
    figure.replaceChildren(caption, root);
  }

  window.StreamHubCharts = { line: line, formatNumber: formatNumber, niceMax: niceMax };
})();
