// The report's script: draws every panel from the JSON data embedded in
// the page (reports/data.go describes it). Times are virtual
// microseconds. No network, no libraries: the file works from disk.
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("data").textContent);
  const S = D.strings;
  const SVGNS = "http://www.w3.org/2000/svg";
  const W = 1200, L = 86, R = 12, PW = W - L - R;
  const PALETTE = ["#1e63c4", "#d81b60", "#00897b", "#f4511e", "#6d4c41", "#8e24aa", "#3949ab", "#7cb342", "#00acc1", "#c0ca33", "#5e35b1", "#546e7a"];
  const END = Math.max(D.end, 1);

  // ---- helpers ----
  function svgEl(tag, attrs, parent) {
    const e = document.createElementNS(SVGNS, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function htmlEl(tag, attrs, text, parent) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined && text !== null) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function title(e, text) { svgEl("title", {}, e).textContent = text; return e; }
  function fmt(us) {
    const a = Math.abs(us);
    const trim = s => s.indexOf(".") < 0 ? s : s.replace(/\.?0+$/, "");
    if (a >= 1e6) return trim((us / 1e6).toFixed(3)) + "s";
    if (a >= 1e3) return trim((us / 1e3).toFixed(1)) + "ms";
    return Math.round(us) + "µs";
  }
  function parseTime(s) {
    const m = /^\s*([0-9]*\.?[0-9]+)\s*(µs|us|ms|s)?\s*$/.exec(s);
    if (!m) return NaN;
    const v = parseFloat(m[1]);
    return v * ({ "µs": 1, us: 1, ms: 1e3, s: 1e6 }[m[2] || "s"]);
  }
  function niceStep(span, n) {
    const raw = span / n, p = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
    return 10 * p;
  }
  function lowerBound(arr, t) { // first index with arr[i] > t, minus one: last <= t
    let lo = 0, hi = arr.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (arr[mid] <= t) lo = mid + 1; else hi = mid; }
    return lo - 1;
  }
  function nodeColor(i) { return PALETTE[i % PALETTE.length]; }
  function hashColor(s) {
    let h = 0;
    for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
    return PALETTE[Math.abs(h) % PALETTE.length];
  }
  function section(id, fn) {
    try { fn(); } catch (err) {
      console.error("report: " + id + ": " + (err && err.stack || err));
      const box = document.getElementById(id);
      if (box) htmlEl("p", { class: "warn" }, "This panel could not be drawn: " + err, box);
    }
  }
  // Mouse position in SVG user units.
  function svgX(svg, clientX) {
    const r = svg.getBoundingClientRect();
    return (clientX - r.left) * W / r.width;
  }
  function newSvg(box, height, label) {
    const svg = svgEl("svg", { viewBox: "0 0 " + W + " " + height, width: W, height: height, role: "img", "aria-label": label });
    box.appendChild(svg);
    return svg;
  }
  function axis(svg, x, t0, t1, y, height) {
    const g = svgEl("g", { class: "axis" }, svg);
    const step = niceStep(t1 - t0, 10);
    for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
      svgEl("line", { x1: x(t), x2: x(t), y1: y, y2: y + height }, g);
      svgEl("text", { x: x(t), y: y - 3, "text-anchor": "middle" }, g).textContent = fmt(t);
    }
  }

  // ---- the data, decoded ----
  const nodes = D.nodes.map(i => S[i]);
  const clients = D.clients.map(i => S[i]);
  const groups = D.groups.map(i => S[i]);
  const ops = D.ops, nOps = ops.lane.length;
  const call = new Float64Array(nOps), ret = new Float64Array(nOps);
  {
    let t = 0;
    for (let i = 0; i < nOps; i++) {
      t += ops.call[i];
      call[i] = t;
      ret[i] = ops.dur[i] < 0 ? -1 : t + ops.dur[i];
    }
  }
  const OUT = { o: "ok", f: "fail", i: "info" };
  const outcome = i => OUT[ops.outcome[i]] || "info";
  const firstOp = D.first && D.first.op >= 0 ? D.first.op : -1;
  function describeOp(i) {
    const f = S[ops.f[i]], v = S[ops.value[i]], k = S[ops.key[i]], o = outcome(i);
    let s = f + (v !== "" ? " " + v : "") + (k !== "" ? " of " + k : "");
    s += "\nclient " + clients[ops.lane[i]] + ", process " + ops.process[i];
    s += "\ninvoked " + fmt(call[i]);
    if (ret[i] < 0) s += ", never answered (unknown)";
    else s += ", " + (o === "ok" ? "ok" : o === "fail" ? "failed" : "unknown") + " at " + fmt(ret[i]) + " after " + fmt(ret[i] - call[i]);
    const node = S[ops.node[i]];
    if (node) s += "\n" + (o === "ok" ? "served by " : "") + node;
    if (i === firstOp) s += "\nthe first bad operation (" + D.first.checker + ")";
    return s;
  }

  // Faults packed into rows so that overlapping ones do not hide each other.
  const faultRow = [];
  let faultRows = 0;
  {
    const ends = [];
    D.faults.map((f, i) => i).sort((a, b) => D.faults[a].start - D.faults[b].start).forEach(i => {
      const f = D.faults[i];
      let r = ends.findIndex(e => e <= f.start);
      if (r < 0) { r = ends.length; ends.push(0); }
      ends[r] = f.stop < 0 ? END : Math.max(f.stop, f.start + 1);
      faultRow[i] = r;
    });
    faultRows = ends.length;
  }
  function faultEnd(f) { return f.stop < 0 ? END : f.stop; }
  function shadeFaults(svg, x, t0, t1, y, height) {
    D.faults.forEach(f => {
      const a = Math.max(f.start, t0), b = Math.min(faultEnd(f), t1);
      if (b < a) return;
      svgEl("rect", { class: "shade" + (f.effect ? "" : " noeffect"), x: x(a), y: y, width: Math.max(x(b) - x(a), 1), height: height }, svg);
    });
  }

  // ---- tooltip ----
  const tip = document.getElementById("tooltip");
  function showTip(text, e) {
    tip.textContent = text;
    tip.hidden = false;
    moveTip(e);
  }
  function moveTip(e) {
    const pad = 14, w = tip.offsetWidth, h = tip.offsetHeight;
    let x = e.clientX + pad, y = e.clientY + pad;
    if (x + w > window.innerWidth) x = e.clientX - w - pad;
    if (y + h > window.innerHeight) y = e.clientY - h - pad;
    tip.style.left = Math.max(0, x) + "px";
    tip.style.top = Math.max(0, y) + "px";
  }
  function hideTip() { tip.hidden = true; }

  // ---- the operation timeline ----
  const DRAW_CAP = 20000;
  const view = { t0: 0, t1: END };
  let travelTime = null;
  const lifeByNode = nodes.map(() => []);
  D.life.forEach(l => { const i = nodes.indexOf(S[l.node]); if (i >= 0) lifeByNode[i].push(l); });
  const leaderGroups = groups.filter(g => D.leaders.some(l => S[l.group] === g));

  function drawTimeline() {
    const box = document.getElementById("timeline");
    box.textContent = "";
    const laneH = clients.length > 0 ? Math.max(3, Math.min(16, Math.floor(420 / clients.length))) : 0;
    const lifeH = 9;
    const top = 22;
    const faultTop = top, faultH = 12;
    const leaderTop = faultTop + faultRows * faultH + (faultRows ? 4 : 0);
    const laneTop = leaderTop + leaderGroups.length * 14 + 4;
    const lifeTop = laneTop + clients.length * laneH + 8;
    const height = lifeTop + nodes.length * lifeH + 6;
    const { t0, t1 } = view;
    const x = t => L + (t - t0) / (t1 - t0) * PW;
    const svg = newSvg(box, height, "operations per client over time, with faults and leader changes");
    axis(svg, x, t0, t1, top, height - top);
    // Lane backgrounds catch the clicks that travel in time and the drags that zoom.
    const bg = svgEl("g", {}, svg);
    clients.forEach((c, i) => {
      svgEl("rect", { class: "lane-bg bg", x: L, y: laneTop + i * laneH, width: PW, height: laneH }, bg);
      if (laneH >= 8) svgEl("text", { x: 4, y: laneTop + i * laneH + laneH - 3 }, svg).textContent = c;
    });
    if (laneH < 8 && clients.length) svgEl("text", { x: 4, y: laneTop + 10 }, svg).textContent = clients.length + " clients";
    shadeFaults(svg, x, t0, t1, laneTop, clients.length * laneH);
    // Operations in view; past the cap an even sample, with every failed,
    // unknown and bad one.
    const inView = [];
    for (let i = 0; i < nOps; i++) {
      const e = ret[i] < 0 ? END : ret[i];
      if (call[i] <= t1 && e >= t0) inView.push(i);
    }
    let draw = inView;
    if (inView.length > DRAW_CAP) {
      const must = inView.filter(i => outcome(i) !== "ok" || i === firstOp);
      const rest = inView.filter(i => outcome(i) === "ok" && i !== firstOp);
      const room = Math.max(DRAW_CAP - must.length, 0), stride = rest.length / Math.max(room, 1);
      const sample = [];
      for (let k = 0; k < room && Math.floor(k * stride) < rest.length; k++) sample.push(rest[Math.floor(k * stride)]);
      draw = must.concat(sample);
    }
    const g = svgEl("g", { class: "ops" }, svg);
    for (const i of draw) {
      const a = Math.max(call[i], t0), b = Math.min(ret[i] < 0 ? END : ret[i], t1);
      const r = svgEl("rect", {
        class: "op " + outcome(i) + (i === firstOp ? " bad" : ""), "data-i": i,
        x: x(a).toFixed(1), y: laneTop + ops.lane[i] * laneH + (laneH > 4 ? 1 : 0),
        width: Math.max(x(b) - x(a), 1).toFixed(1), height: Math.max(laneH - (laneH > 4 ? 2 : 0), 1),
      }, g);
      if (i === firstOp) r.id = "first-bad-op";
    }
    box.dataset.drawn = draw.length;
    box.dataset.inview = inView.length;
    box.dataset.total = ops.total;
    const status = document.getElementById("timeline-status");
    status.textContent = fmt(t0) + " – " + fmt(t1) + ": " + draw.length + " of " + inView.length + " operations in view drawn" +
      (draw.length < inView.length ? " (a sample: every failed and unknown one, and evenly spread successful ones; zoom in to see all)" : "") +
      (ops.total > nOps ? "; the report keeps " + nOps + " of the run's " + ops.total + " operations" : "");
    // Faults: a clickable band each, in its row.
    D.faults.forEach((f, k) => {
      const a = Math.max(f.start, t0), b = Math.min(faultEnd(f), t1);
      if (b < a) return;
      const band = svgEl("rect", {
        class: "band" + (f.effect ? "" : " noeffect"), "data-fault": k,
        x: x(a), y: faultTop + faultRow[k] * faultH, width: Math.max(x(b) - x(a), 3), height: faultH - 2,
      }, svg);
      title(band, faultSummary(f));
      if (x(b) - x(a) > 60) svgEl("text", { x: x(a) + 3, y: faultTop + faultRow[k] * faultH + 9, "pointer-events": "none" }, svg).textContent = f.fault;
    });
    if (faultRows) svgEl("text", { x: 4, y: faultTop + 9 }, svg).textContent = "faults";
    // Leaders.
    leaderGroups.forEach((grp, gi) => {
      const y = leaderTop + gi * 14;
      svgEl("text", { x: 4, y: y + 10 }, svg).textContent = grp + " leader";
      let lastX = -100;
      D.leaders.filter(l => S[l.group] === grp && l.t >= t0 && l.t <= t1).forEach(l => {
        const lx = x(l.t);
        const m = svgEl("path", { class: "leader", d: "M" + lx + " " + (y + 11) + "l-4 -8h8z" }, svg);
        title(m, S[l.node] + " became leader of " + grp + " in term " + l.term + " at " + fmt(l.t));
        if (lx - lastX > 26) { svgEl("text", { x: lx + 5, y: y + 10 }, svg).textContent = S[l.node]; lastX = lx; }
      });
    });
    // Instances: up, paused, down.
    nodes.forEach((n, ni) => {
      const y = lifeTop + ni * lifeH;
      svgEl("text", { x: 4, y: y + lifeH - 1, style: "font-size:9px" }, svg).textContent = n;
      const ls = lifeByNode[ni];
      ls.forEach((l, k) => {
        const a = Math.max(l.t, t0), b = Math.min(k + 1 < ls.length ? ls[k + 1].t : END, t1);
        if (b < a) return;
        title(svgEl("rect", { class: "life-" + l.state, x: x(a), y: y, width: Math.max(x(b) - x(a), 1), height: lifeH - 2 }, svg),
          n + " " + l.state + " from " + fmt(l.t));
      });
    });
    // The first bad thing, and the moment being travelled to.
    if (D.first && D.first.time >= t0 && D.first.time <= t1) {
      svgEl("line", { class: "bad-mark", x1: x(D.first.time), x2: x(D.first.time), y1: top, y2: lifeTop - 4 }, svg);
      svgEl("text", { x: x(D.first.time) + 3, y: laneTop - 3, fill: "#b71c1c" }, svg).textContent = "first bad";
    }
    if (travelTime !== null && travelTime >= t0 && travelTime <= t1)
      svgEl("line", { class: "cursor", x1: x(travelTime), x2: x(travelTime), y1: top, y2: height });

    // Interaction: hover an operation; click a band; drag to zoom; click to travel.
    svg.addEventListener("mouseover", e => {
      const i = e.target.dataset && e.target.dataset.i;
      if (i !== undefined) showTip(describeOp(+i), e);
    });
    svg.addEventListener("mousemove", e => { if (!tip.hidden) moveTip(e); });
    svg.addEventListener("mouseout", e => { if (e.target.dataset && e.target.dataset.i !== undefined) hideTip(); });
    const tAt = sx => t0 + (Math.min(Math.max(sx, L), L + PW) - L) / PW * (t1 - t0);
    let drag = null;
    svg.addEventListener("mousedown", e => {
      if (e.button !== 0) return;
      if (e.target.classList.contains("band")) { showFault(+e.target.dataset.fault); return; }
      const sx = svgX(svg, e.clientX);
      if (sx < L) return;
      drag = { x0: sx, brush: svgEl("rect", { class: "brush", x: sx, y: top, width: 0, height: height - top }, svg) };
      e.preventDefault();
    });
    svg.addEventListener("mousemove", e => {
      if (!drag) return;
      const sx = svgX(svg, e.clientX);
      drag.brush.setAttribute("x", Math.min(sx, drag.x0));
      drag.brush.setAttribute("width", Math.abs(sx - drag.x0));
    });
    const finish = e => {
      if (!drag) return;
      const sx = svgX(svg, e.clientX), x0 = drag.x0;
      drag.brush.remove();
      drag = null;
      if (Math.abs(sx - x0) > 4) {
        const a = tAt(Math.min(sx, x0)), b = tAt(Math.max(sx, x0));
        if (b - a >= 1) zoom(a, b);
      } else {
        travel(tAt(sx));
      }
    };
    svg.addEventListener("mouseup", finish);
    svg.addEventListener("mouseleave", e => { if (drag) { drag.brush.remove(); drag = null; } hideTip(); });
  }
  function zoom(a, b) {
    view.t0 = Math.max(0, a);
    view.t1 = Math.min(END, Math.max(b, view.t0 + 1));
    drawTimeline();
  }
  function faultSummary(f) {
    return f.fault + " (step " + f.step + ", occurrence " + f.n + "): " + f.what + "\n" + fmt(f.start) + " – " + (f.stop < 0 ? "the end" : fmt(f.stop)) +
      (f.effect ? "" : "\nno effect: " + f.why);
  }
  function showFault(k) {
    const f = D.faults[k], box = document.getElementById("fault-detail");
    box.hidden = false;
    box.textContent = "";
    box.dataset.fault = k;
    htmlEl("h3", {}, "Fault: " + f.fault + " — step " + f.step + ", occurrence " + f.n, box);
    htmlEl("p", { class: "what" }, f.what || "(no description)", box);
    const t = htmlEl("table", {}, null, box);
    const row = (k, v) => { const tr = htmlEl("tr", {}, null, t); htmlEl("th", {}, k, tr); htmlEl("td", {}, v, tr); };
    row("from", fmt(f.start));
    row("until", f.stop < 0 ? "the end of the run" : fmt(f.stop) + " (" + fmt(f.stop - f.start) + ")");
    if (f.group) row("group", f.group);
    if (f.targets) row("targets", f.targets);
    row("took effect", f.effect ? "yes" : "no: " + (f.why || "no reason recorded"));
    if (f.stats) row("on its links and disks", f.stats);
    document.querySelectorAll("rect.band.selected").forEach(e => e.classList.remove("selected"));
    document.querySelectorAll('rect.band[data-fault="' + k + '"]').forEach(e => e.classList.add("selected"));
  }

  // ---- plots ----
  function plotFrame(id, label, height, yTicks, y) {
    const box = document.getElementById(id);
    box.textContent = "";
    htmlEl("h3", {}, label, box);
    const top = 14, bottom = height - 4;
    const svg = newSvg(box, height, label);
    const x = t => L + t / END * PW;
    axis(svg, x, 0, END, top, bottom - top);
    shadeFaults(svg, x, 0, END, top, bottom - top);
    for (const [v, text] of yTicks) {
      svgEl("line", { class: "grid", x1: L, x2: L + PW, y1: y(v), y2: y(v) }, svg);
      svgEl("text", { x: L - 4, y: y(v) + 4, "text-anchor": "end" }, svg).textContent = text;
    }
    svg.addEventListener("click", e => { const sx = svgX(svg, e.clientX); if (sx >= L) travel((sx - L) / PW * END); });
    return { svg, x };
  }
  function logTicks(lo, hi) {
    const out = [];
    for (let p = Math.floor(Math.log10(lo)); Math.pow(10, p) <= hi * 1.0001; p++) {
      const v = Math.pow(10, p);
      if (v >= lo) out.push([v, fmt(v)]);
    }
    return out;
  }
  function bucketWidth() { return Math.max(1e6, niceStep(END, 150)); }
  function drawPlots() {
    const done = [];
    for (let i = 0; i < nOps; i++) if (ret[i] >= 0) done.push(i);
    if (!done.length) {
      document.getElementById("plot-latency").textContent = "No operation completed.";
      return;
    }
    let lo = Infinity, hi = 1;
    for (const i of done) { const d = Math.max(ret[i] - call[i], 1); lo = Math.min(lo, d); hi = Math.max(hi, d); }
    lo = Math.pow(10, Math.floor(Math.log10(lo)));
    hi = Math.max(hi, lo * 10);
    const H = 210, top = 14, bottom = H - 4;
    const ly = v => bottom - (Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) * (bottom - top - 4);
    // Latency over time, by invocation.
    {
      const { svg, x } = plotFrame("plot-latency", "Latency by invocation time (log scale)", H, logTicks(lo, hi), ly);
      const cap = 20000;
      let pts = done;
      if (done.length > cap) {
        const must = done.filter(i => outcome(i) !== "ok"), rest = done.filter(i => outcome(i) === "ok");
        const room = Math.max(cap - must.length, 0), stride = rest.length / Math.max(room, 1);
        pts = must.slice();
        for (let k = 0; k < room && Math.floor(k * stride) < rest.length; k++) pts.push(rest[Math.floor(k * stride)]);
        htmlEl("p", { class: "status" }, "Drawn: " + pts.length + " of " + done.length + " completed operations (every failed and unknown one, and evenly spread successful ones).", document.getElementById("plot-latency"));
      }
      const g = svgEl("g", {}, svg);
      for (const i of pts) svgEl("circle", { class: "pt " + outcome(i), cx: x(call[i]).toFixed(1), cy: ly(ret[i] - call[i]).toFixed(1), r: 1.7 }, g);
      const never = nOps - done.length;
      if (never) htmlEl("p", { class: "status" }, never + " operations never completed and have no latency.", document.getElementById("plot-latency"));
    }
    // Buckets by completion time.
    const B = bucketWidth(), nb = Math.ceil(END / B) + 1;
    const lat = Array.from({ length: nb }, () => []);
    const cnt = Array.from({ length: nb }, () => ({ ok: 0, fail: 0, info: 0 }));
    for (const i of done) {
      const b = Math.floor(ret[i] / B);
      lat[b].push(ret[i] - call[i]);
      cnt[b][outcome(i)]++;
    }
    const bx = b => (b + 0.5) * B;
    {
      const { svg, x } = plotFrame("plot-quantiles", "Latency quantiles per " + fmt(B) + " of completions (log scale)", H, logTicks(lo, hi), ly);
      const qs = [["p50", 0.5, "#1e63c4"], ["p90", 0.9, "#00897b"], ["p99", 0.99, "#f4511e"], ["max", 1, "#8e24aa"]];
      const sorted = lat.map(a => a.slice().sort((p, q) => p - q));
      qs.forEach(([name, q, color], qi) => {
        const pts = [];
        sorted.forEach((a, b) => { if (a.length) pts.push(x(bx(b)).toFixed(1) + "," + ly(a[Math.min(a.length - 1, Math.floor(q * a.length))]).toFixed(1)); });
        svgEl("polyline", { points: pts.join(" "), stroke: color }, svg);
        svgEl("text", { x: L + 8 + qi * 48, y: top + 12, fill: color, style: "fill:" + color }, svg).textContent = name;
      });
    }
    {
      let peak = 1;
      cnt.forEach(c => { peak = Math.max(peak, (c.ok + c.fail + c.info) / (B / 1e6)); });
      const step = niceStep(peak, 4), ymax = Math.ceil(peak / step) * step;
      const y = v => bottom - v / ymax * (bottom - top - 4);
      const ticks = [];
      for (let v = 0; v <= ymax; v += step) ticks.push([v, v + "/s"]);
      const { svg, x } = plotFrame("plot-throughput", "Throughput: completions per second, by outcome", H, ticks, y);
      const w = Math.max(x(B) - x(0) - 1, 1);
      cnt.forEach((c, b) => {
        let base = 0;
        for (const o of ["ok", "fail", "info"]) {
          const v = c[o] / (B / 1e6);
          if (!v) continue;
          title(svgEl("rect", { class: o + "-fill", x: x(b * B).toFixed(1), y: y(base + v).toFixed(1), width: w.toFixed(1), height: (y(base) - y(base + v)).toFixed(1) }, svg),
            fmt(b * B) + ": " + c[o] + " " + o);
          base += v;
        }
      });
    }
    {
      const y = v => bottom - v * (bottom - top - 4);
      const { svg, x } = plotFrame("plot-availability", "Availability: share of completions that succeeded, per " + fmt(B), H, [[0, "0%"], [0.5, "50%"], [1, "100%"]], y);
      let pts = [];
      const flush = () => { if (pts.length) svgEl("polyline", { points: pts.join(" "), stroke: "#2e7d32" }, svg); pts = []; };
      cnt.forEach((c, b) => {
        const n = c.ok + c.fail + c.info;
        if (!n) { flush(); return; }
        pts.push(x(bx(b)).toFixed(1) + "," + y(c.ok / n).toFixed(1));
      });
      flush();
    }
  }

  // ---- Raft ----
  const series = D.raft;
  const ROLES = ["follower", "precandidate", "candidate", "leader"];
  function raftAt(s, t) {
    const k = lowerBound(s.t, t);
    if (k < 0) return null;
    return { term: s.term[k], role: ROLES[s.role[k]] || "other", leader: S[s.leader[k]], commit: s.commit[k], applied: s.applied[k] };
  }
  function drawRaft() {
    const box = document.getElementById("raft-panels");
    box.textContent = "";
    if (!series.length) { htmlEl("p", {}, "The trace has no Raft state.", box); return; }
    groups.forEach(grp => {
      const ss = series.filter(s => S[s.group] === grp);
      if (!ss.length) return;
      htmlEl("h3", {}, "Group " + grp, box);
      const rowH = 12, top = 18, stripTop = top, chartTop = stripTop + ss.length * rowH + 18, chartH = 130, termTop = chartTop + chartH + 22, termH = 70;
      const height = termTop + termH + 6;
      const svg = newSvg(box, height, "Raft state of group " + grp);
      svg.classList.add("raft-group");
      svg.dataset.group = grp;
      const x = t => L + t / END * PW;
      axis(svg, x, 0, END, top, height - top);
      shadeFaults(svg, x, 0, END, top, height - top);
      ss.forEach((s, r) => {
        const name = S[s.node], y = stripTop + r * rowH;
        svgEl("text", { x: 4, y: y + rowH - 3, fill: nodeColor(nodes.indexOf(name)) }, svg).textContent = name;
        for (let k = 0; k < s.t.length;) {
          let j = k + 1;
          while (j < s.t.length && s.role[j] === s.role[k] && s.term[j] === s.term[k]) j++;
          const a = s.t[k], b = j < s.t.length ? s.t[j] : END, role = ROLES[s.role[k]] || "other";
          title(svgEl("rect", { class: "role-" + role, x: x(a), y: y, width: Math.max(x(b) - x(a), 1), height: rowH - 2 }, svg),
            name + ": " + role + " in term " + s.term[k] + " from " + fmt(a));
          k = j;
        }
        const ls = lifeByNode[nodes.indexOf(name)] || [];
        ls.forEach((l, k) => {
          if (l.state === "up") return;
          const a = l.t, b = k + 1 < ls.length ? ls[k + 1].t : END;
          title(svgEl("rect", { class: "life-" + l.state, x: x(a), y: y, width: Math.max(x(b) - x(a), 1), height: rowH - 2 }, svg), name + " " + l.state + " from " + fmt(a));
        });
      });
      const line = (label, yTop, h, field, step) => {
        let hiV = 1;
        ss.forEach(s => s[field].forEach(v => { hiV = Math.max(hiV, v); }));
        const y = v => yTop + h - v / hiV * h;
        svgEl("text", { x: 4, y: yTop + 10 }, svg).textContent = label;
        svgEl("text", { x: L - 4, y: yTop + 10, "text-anchor": "end" }, svg).textContent = hiV;
        svgEl("text", { x: L - 4, y: yTop + h, "text-anchor": "end" }, svg).textContent = "0";
        svgEl("line", { class: "grid", x1: L, x2: L + PW, y1: yTop + h, y2: yTop + h }, svg);
        ss.forEach(s => {
          const pts = [];
          for (let k = 0; k < s.t.length; k++) {
            if (step && k > 0) pts.push(x(s.t[k]).toFixed(1) + "," + y(s[field][k - 1]).toFixed(1));
            pts.push(x(s.t[k]).toFixed(1) + "," + y(s[field][k]).toFixed(1));
          }
          // The last state holds until the node's next change, or the end.
          if (s.t.length) pts.push(x(END).toFixed(1) + "," + y(s[field][s.t.length - 1]).toFixed(1));
          title(svgEl("polyline", { points: pts.join(" "), stroke: nodeColor(nodes.indexOf(S[s.node])) }, svg), S[s.node] + " " + label);
        });
      };
      line("commit", chartTop, chartH, "commit", false);
      line("term", termTop, termH, "term", true);
      svg.addEventListener("click", e => { const sx = svgX(svg, e.clientX); if (sx >= L) travel((sx - L) / PW * END); });
    });
  }

  // ---- panels over the run's time ----
  // The inbound queue, outbound and Kafka sections draw a panel each per
  // queue, destination or connector: strips stacked over the whole run,
  // with the axis and the fault shading behind them and a cursor at the
  // moment travelled to; a click travels there.
  const cursors = {}; // by section: a cursor per panel
  function moveCursors(t) {
    for (const k in cursors) for (const c of cursors[k]) {
      c.line.setAttribute("x1", c.x(t));
      c.line.setAttribute("x2", c.x(t));
      c.line.removeAttribute("visibility");
    }
  }
  // timePanel draws a panel's frame in box: an SVG of the strips given as
  // [gap above, height], stacked from the top, with the class and data
  // attributes given. Its rows are the strips' tops and heights; its
  // methods draw in them; done adds the cursor and the click.
  function timePanel(box, section, label, cls, data, strips) {
    const top = 18, x = t => L + t / END * PW;
    let bottom = top;
    const rows = strips.map(([gap, h]) => { bottom += gap; const r = { top: bottom, h: h }; bottom += h; return r; });
    const height = bottom + 6;
    const svg = newSvg(box, height, label);
    svg.classList.add(cls);
    for (const k in data) svg.dataset[k] = data[k];
    axis(svg, x, 0, END, top, height - top);
    shadeFaults(svg, x, 0, END, top, height - top);
    return {
      svg, x, rows, top, height,
      // scale labels a strip, rules its foot and marks its ends with
      // tick(0) and tick(hi), hi at least 1; it returns the strip's y of a
      // value, values past hi drawn at hi.
      scale(row, label, hi, tick) {
        hi = Math.max(hi, 1);
        // The label between the scale's top and bottom, clear of both.
        svgEl("text", { x: 4, y: row.top + row.h / 2 + 4 }, svg).textContent = label;
        svgEl("text", { x: L - 4, y: row.top + 10, "text-anchor": "end" }, svg).textContent = tick(hi);
        svgEl("text", { x: L - 4, y: row.top + row.h, "text-anchor": "end" }, svg).textContent = tick(0);
        svgEl("line", { class: "grid", x1: L, x2: L + PW, y1: row.top + row.h, y2: row.top + row.h }, svg);
        return v => row.top + row.h - Math.min(v, hi) / hi * row.h;
      },
      // steps draws a series that holds each value from its moment in ts
      // until the next, and the last until the end.
      steps(ts, vs, y, cls, what, stroke) {
        if (!ts.length) return;
        const pts = [];
        for (let k = 0; k < ts.length; k++) {
          if (k > 0) pts.push(x(ts[k]).toFixed(1) + "," + y(vs[k - 1]).toFixed(1));
          pts.push(x(ts[k]).toFixed(1) + "," + y(vs[k]).toFixed(1));
        }
        pts.push(x(END).toFixed(1) + "," + y(vs[ts.length - 1]).toFixed(1));
        const attrs = { class: cls, points: pts.join(" ") };
        if (stroke) attrs.stroke = stroke;
        title(svgEl("polyline", attrs, svg), what);
      },
      // bars draws into parent a bar per stretch of bin µs, the layers
      // ({v: a value per stretch, cls, what(value)}) stacked in order.
      bars(parent, bin, y, layers) {
        const w = Math.max(x(bin) - x(0) - 1, 1).toFixed(1);
        const n = Math.max(...layers.map(l => l.v.length));
        for (let b = 0; b < n; b++) {
          let base = 0;
          for (const l of layers) {
            const v = l.v[b] || 0;
            if (v) title(svgEl("rect", { class: l.cls, x: x(b * bin).toFixed(1), y: y(base + v).toFixed(1), width: w, height: (y(base) - y(base + v)).toFixed(1) }, parent),
              fmt(b * bin) + " – " + fmt((b + 1) * bin) + ": " + l.what(v));
            base += v;
          }
        }
      },
      // mark draws a ▲ at t, its tip at y, and with to a line from its
      // foot down to there.
      mark(t, y, cls, what, to) {
        const mx = x(t).toFixed(1);
        if (to !== undefined) title(svgEl("line", { class: cls, x1: mx, x2: mx, y1: y + 7, y2: to }, svg), what);
        title(svgEl("path", { class: cls, d: "M" + mx + " " + y + "l-4 7h8z" }, svg), what);
      },
      // key names coloured series at the right end of a strip's top.
      key(row, items) {
        let kx = L + PW - 4;
        for (let i = items.length - 1; i >= 0; i--) {
          const [text, color] = items[i];
          svgEl("text", { x: kx, y: row.top + 10, "text-anchor": "end", style: "fill:" + color }, svg).textContent = text;
          kx -= text.length * 7 + 8;
        }
      },
      done() {
        const line = svgEl("line", { class: "cursor", x1: 0, x2: 0, y1: top, y2: height, visibility: "hidden" }, svg);
        (cursors[section] = cursors[section] || []).push({ line, x });
        if (travelTime !== null) moveCursors(travelTime);
        svg.addEventListener("click", e => { const sx = svgX(svg, e.clientX); if (sx >= L) travel((sx - L) / PW * END); });
      },
    };
  }

  // ---- inbound queues ----
  const queues = D.queues;
  function queueAt(q, t) {
    const k = lowerBound(q.t, t);
    return k < 0 ? null : { depth: q.depth[k], bytes: q.bytes[k], repairs: q.repairs[k], outbound: q.outbound[k], settled: q.settled[k] };
  }
  function queueCaption(q) {
    const l = q.latency, parts = [];
    if (q.states) parts.push("deepest " + q.deepest + " messages waiting");
    parts.push(q.busy.total + " enqueue" + (q.busy.total === 1 ? "" : "s") + " refused as busy" + (q.busy.total ? " (the ticks under the depth)" : ""));
    if (q.resends.length) parts.push(q.resends.length + " sent again to settle (▲)");
    if (l.acked) {
      let s = l.acked + " acknowledged, " + l.settled + " of them settled";
      if (l.settled) s += ": acknowledged to settled p50 " + fmt(l.p50) + ", p99 " + fmt(l.p99) + ", max " + fmt(l.max);
      parts.push(s);
    }
    return parts.join("; ") + ".";
  }
  function drawQueues() {
    const box = document.getElementById("queue-panels");
    if (!box) return;
    box.textContent = "";
    cursors.queue = [];
    const B = bucketWidth();
    queues.forEach(q => {
      const grp = S[q.group], l = q.latency;
      htmlEl("h3", {}, grp ? "Replicaset " + grp : "Refusals that name no replicaset", box);
      htmlEl("p", { class: "status queue-caption", "data-group": grp }, queueCaption(q), box);
      const p = timePanel(box, "queue", "inbound queue of " + (grp || "no replicaset") + " over time", "queue-group", { group: grp },
        [[6, 100], [3, 14], [16, 50], [16, 60], [16, 120]]);
      const [depthRow, busyRow, repRow, rateRow, latRow] = p.rows, { svg, x } = p;
      // Depth, with the refusals as ticks under it and the resends over it.
      // A state holds until the next one the leaders recorded, or the end.
      const dy = p.scale(depthRow, "depth", q.deepest, v => v);
      p.steps(q.t, q.depth, dy, "q-depth", "messages waiting in " + grp + "'s queue");
      svgEl("text", { x: 4, y: busyRow.top + 11 }, svg).textContent = "busy";
      let most = 1;
      q.busy.n.forEach(n => { most = Math.max(most, n); });
      const bw = Math.max(x(q.busy.bin) - x(0), 1);
      const bg = svgEl("g", {}, svg);
      q.busy.at.forEach((at, k) => {
        const n = q.busy.n[k], h = 3 + (busyRow.h - 3) * n / most, t = at * q.busy.bin;
        title(svgEl("rect", { class: "busy", x: x(t).toFixed(1), y: (busyRow.top + busyRow.h - h).toFixed(1), width: bw.toFixed(1), height: h.toFixed(1) }, bg),
          fmt(t) + " – " + fmt(t + q.busy.bin) + ": " + n + " enqueue" + (n === 1 ? "" : "s") + " refused as busy");
      });
      q.resends.forEach(t => p.mark(t, depthRow.top - 6, "resend", "at " + fmt(t) + " the leader sent messages to settle again: its command never applied"));
      // The repair queue, and the outbound messages when there are any.
      let hiR = 0, anyOut = false;
      q.repairs.forEach((v, k) => { hiR = Math.max(hiR, v, q.outbound[k]); anyOut = anyOut || q.outbound[k] > 0; });
      const ry = p.scale(repRow, "repair", hiR, v => v);
      p.steps(q.t, q.repairs, ry, "q-repairs", "messages in " + grp + "'s repair queue");
      if (anyOut) p.steps(q.t, q.outbound, ry, "q-outbound", "outbound messages of " + grp);
      // Messages settled per second, from the settled count's growth.
      const settledAt = t => { const k = lowerBound(q.t, t); return k < 0 ? 0 : q.settled[k]; };
      const nb = Math.ceil(END / B), rate = [];
      let peak = 1;
      for (let b = 0; b < nb; b++) {
        const v = Math.max(settledAt(Math.min((b + 1) * B, END)) - settledAt(b * B), 0) / (B / 1e6);
        rate.push(v);
        peak = Math.max(peak, v);
      }
      const rstep = niceStep(peak, 2), rmax = Math.ceil(peak / rstep) * rstep;
      const sy = p.scale(rateRow, "settled", rmax, v => v + "/s");
      p.bars(svgEl("g", {}, svg), B, sy, [{ v: rate, cls: "q-settled", what: v => Math.round(v * B / 1e6) + " messages settled" }]);
      // The wait from acknowledgement to settling, by acknowledgement time.
      const latTop = latRow.top, latH = latRow.h;
      let lo = Infinity;
      l.wait.forEach(v => { if (v > 0) lo = Math.min(lo, v); });
      l.wp50.forEach(v => { if (v > 0) lo = Math.min(lo, v); });
      lo = lo === Infinity ? 1 : Math.pow(10, Math.floor(Math.log10(lo)));
      const hi = Math.max(l.max, lo * 10);
      const ly = v => latTop + latH - (Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) * (latH - 4);
      svgEl("text", { x: 4, y: latTop + latH / 2 + 4 }, svg).textContent = "wait";
      for (const [v, text] of logTicks(lo, hi)) {
        svgEl("line", { class: "grid", x1: L, x2: L + PW, y1: ly(v), y2: ly(v) }, svg);
        svgEl("text", { x: L - 4, y: ly(v) + 4, "text-anchor": "end" }, svg).textContent = text;
      }
      const wg = svgEl("g", {}, svg);
      let ack = 0;
      for (let k = 0; k < l.wait.length; k++) {
        ack += l.ack[k];
        svgEl("circle", { class: "pt qwait", cx: x(ack).toFixed(1), cy: ly(l.wait[k]).toFixed(1), r: 1.5 }, wg);
      }
      [["wp50", "q-p50", "p50"], ["wp99", "q-p99", "p99"]].forEach(([field, cls, name]) => {
        let pts = [];
        const flush = () => { if (pts.length) title(svgEl("polyline", { class: cls, points: pts.join(" ") }, svg), name + " per " + fmt(l.window) + " of acknowledgements"); pts = []; };
        l[field].forEach((v, w) => {
          if (v < 0) { flush(); return; }
          pts.push(x((w + 0.5) * l.window).toFixed(1) + "," + ly(v).toFixed(1));
        });
        flush();
      });
      if (l.wait.length < l.settled)
        htmlEl("p", { class: "status" }, "Drawn: " + l.wait.length + " of " + l.settled + " settled messages' waits (the slowest, and an even sample of the rest).", box);
      p.done();
    });
  }

  // ---- outbound ----
  const outbound = D.outbound;
  function outboundAt(o, t) {
    const k = lowerBound(o.t, t);
    return k < 0 ? null : { depth: o.depth[k], oldest: o.oldest[k], retrying: o.retrying[k] };
  }
  function takenBy(o, t) { // items taken as new in the stretches that ended by t
    let n = 0;
    for (let b = 0; b < o.per_taken.length && (b + 1) * o.bin <= t; b++) n += o.per_taken[b];
    return n;
  }
  function outboundCaption(o) {
    const parts = [];
    if (o.states) parts.push("deepest " + o.deepest + " message" + (o.deepest === 1 ? "" : "s") + " waiting, the oldest for up to " + fmt(o.eldest));
    else parts.push("no leader recorded its queue");
    parts.push(o.pushes + " push" + (o.pushes === 1 ? "" : "es") + " sent");
    parts.push(o.taken + " taken by the endpoint, " + o.duplicates + " taken again (duplicate" + (o.duplicates === 1 ? "" : "s") + "), " + o.refusals + " refused");
    return parts.join("; ") + ".";
  }
  function drawOutbound() {
    const box = document.getElementById("outbound-panels");
    if (!box) return;
    box.textContent = "";
    cursors.outbound = [];
    outbound.forEach(o => {
      const name = S[o.destination];
      htmlEl("h3", {}, "Destination " + name, box);
      htmlEl("p", { class: "status outbound-caption", "data-destination": name }, outboundCaption(o), box);
      const p = timePanel(box, "outbound", "outbound delivery to " + name + " over time", "outbound-destination", { destination: name },
        [[6, 90], [16, 50], [16, 60], [16, 30]]);
      const [depthRow, ageRow, takenRow, refRow] = p.rows;
      // A state holds until the next one a leader recorded, or the end.
      const dy = p.scale(depthRow, "depth", o.deepest, v => v);
      p.steps(o.t, o.depth, dy, "o-depth", "messages waiting for " + name);
      p.steps(o.t, o.retrying, dy, "o-retrying", "messages for " + name + " waiting their backoff");
      const ay = p.scale(ageRow, "oldest", o.eldest, v => fmt(v));
      p.steps(o.t, o.oldest, ay, "o-oldest", "how long the oldest message for " + name + " had waited");
      // The endpoint's records per stretch: taken, and taken again on top.
      let most = 1, mostRef = 1;
      o.per_taken.forEach((n, b) => { most = Math.max(most, n + o.per_dup[b]); });
      o.per_refused.forEach(n => { mostRef = Math.max(mostRef, n); });
      const perSec = v => Math.round(v / (o.bin / 1e6)) + "/s";
      const ty = p.scale(takenRow, "taken", most, perSec);
      const ry = p.scale(refRow, "refused", mostRef, perSec);
      const g = svgEl("g", {}, p.svg);
      p.bars(g, o.bin, ty, [{ v: o.per_taken, cls: "o-taken", what: n => n + " taken" }, { v: o.per_dup, cls: "o-dup", what: d => d + " taken again (duplicates)" }]);
      p.bars(g, o.bin, ry, [{ v: o.per_refused, cls: "o-refused", what: n => n + " refused" }]);
      p.done();
    });
  }

  // ---- Kafka ----
  const kafka = D.kafka;
  const partColor = i => PALETTE[(i + 1) % PALETTE.length]; // the sum's is PALETTE[0]
  function kafkaAt(k, t) {
    const i = lowerBound(k.t, t), g = lowerBound(k.rebalances.map(r => r.t), t), m = lowerBound(k.modes.map(m => m.t), t);
    return {
      lag: i < 0 ? 0 : k.lag[i], parts: k.part_lag.map(p => i < 0 ? 0 : p[i]),
      rebalance: g < 0 ? null : k.rebalances[g], mode: m < 0 ? null : k.modes[m],
    };
  }
  function modeName(m) { return S[m.mode] + (S[m.mode] === "slow" ? " (answers " + fmt(m.delay) + " late)" : ""); }
  function describeKafkaAt(k, t) {
    const st = kafkaAt(k, t);
    return S[k.connector] + " lag " + st.lag + (k.partitions ? " (" + st.parts.map((v, p) => "p" + p + " " + v).join(", ") + ")" : "") +
      ", " + (st.rebalance ? "generation " + st.rebalance.generation + " (" + S[st.rebalance.members] + ")" : "no generation yet") +
      ", broker " + (st.mode ? modeName(st.mode) : "not started");
  }
  // rebalanceMarks are a connector's rebalances, those closer than a
  // pixel sharing a marker.
  function rebalanceMarks(k, x) {
    const out = [];
    let last = null;
    k.rebalances.forEach(r => {
      const what = "at " + fmt(r.t) + " generation " + r.generation + " (" + S[r.why] + "): members " + (S[r.members] || "none") + "; partitions " + (S[r.assignment] || "none");
      if (last && x(r.t) - x(last.t) < 1) {
        last.label = "g" + last.first + "–" + r.generation + " " + (last.why === S[r.why] ? last.why : "…");
        last.what += "\n" + what;
        return;
      }
      last = { t: r.t, first: r.generation, why: S[r.why], label: "g" + r.generation + " " + S[r.why], what };
      out.push(last);
    });
    return out;
  }
  // modeChanges are the broker's changes of mode, each until the next or
  // the end; the first only if the broker started other than up.
  function modeChanges(k) {
    const out = [];
    let prev = "up";
    k.modes.forEach(m => {
      const name = modeName(m);
      if (name === prev) return;
      if (out.length) out[out.length - 1].until = m.t;
      out.push({ t: m.t, until: END, mode: S[m.mode], name });
      prev = name;
    });
    return out;
  }
  function kafkaTable(k, box) {
    const name = S[k.connector];
    const t = htmlEl("table", { class: "kafka-table", "data-connector": name }, null, box);
    const head = htmlEl("tr", {}, null, t), row = htmlEl("tr", {}, null, t);
    const perPart = vs => vs.map((v, p) => "partition " + p + ": " + v).join("\n");
    const cell = (key, label, text, num, hint) => {
      htmlEl("th", { class: num ? "num" : "" }, label, head);
      const td = htmlEl("td", { class: num ? "num" : "", "data-k": key }, text, row);
      if (hint) td.title = hint;
    };
    cell("partitions", "partitions", k.partitions, true);
    cell("produced", "produced", k.produced, true, perPart(k.part_produced));
    cell("committed", "committed at the end", k.committed + (k.committed < k.produced ? " (" + (k.produced - k.committed) + " not)" : ""), true, perPart(k.part_committed));
    cell("max-lag", "max lag", k.max_lag ? k.max_lag + " at " + fmt(k.max_at) : "0", false);
    cell("rebalances", "rebalances", k.generations + ": " + k.forced + " forced, " + k.joins + " join, " + k.leaves + " leave", false);
    cell("commits", "commits", k.commits + (k.rewinds ? " (" + k.rewinds + " moved back)" : ""), true);
    cell("commits-refused", "commits refused", k.commits_refused, true);
    cell("fetches-refused", "fetches refused", k.fetches_refused, true);
  }
  function drawKafka() {
    const box = document.getElementById("kafka-panels");
    if (!box) return;
    box.textContent = "";
    cursors.kafka = [];
    kafka.forEach(k => {
      const name = S[k.connector];
      htmlEl("h3", {}, "Connector " + name, box);
      const modes = modeChanges(k);
      const p = timePanel(box, "kafka", "Kafka consumer group of " + name + " over time", "kafka-connector", { connector: name },
        (modes.length ? [[4, 12], [3, 12]] : [[4, 12]]).concat([[4, 110], [16, 50], [16, 50], [16, 30]]));
      const { svg, x } = p, [markRow, modeRow] = p.rows, [lagRow, prodRow, comRow, refRow] = p.rows.slice(-4);
      // The lag: per partition thin, the sum over them thick.
      const ly = p.scale(lagRow, "lag", k.max_lag, v => v);
      k.part_lag.forEach((vs, i) => p.steps(k.t, vs, ly, "k-part", "partition " + i + ": records produced and not committed", partColor(i)));
      p.steps(k.t, k.lag, ly, "k-lag", "records produced and not committed, over the " + k.partitions + " partitions");
      if (k.partitions > 1) p.key(lagRow, [["all", PALETTE[0]]].concat(k.part_lag.map((_, i) => ["p" + i, partColor(i)])));
      // Records produced and committed per stretch, on one scale; commits refused.
      let most = 1, mostRef = 1;
      k.per_produced.forEach((n, b) => { most = Math.max(most, n, k.per_committed[b]); });
      k.per_refused.forEach(n => { mostRef = Math.max(mostRef, n); });
      const perSec = v => Math.round(v / (k.bin / 1e6)) + "/s";
      const py = p.scale(prodRow, "produced", most, perSec);
      const cy = p.scale(comRow, "committed", most, perSec);
      const ry = p.scale(refRow, "refused", mostRef, perSec);
      const g = svgEl("g", {}, svg);
      p.bars(g, k.bin, py, [{ v: k.per_produced, cls: "k-produced", what: n => n + " records produced" }]);
      p.bars(g, k.bin, cy, [{ v: k.per_committed, cls: "k-committed", what: n => n + " records committed" }]);
      p.bars(g, k.bin, ry, [{ v: k.per_refused, cls: "k-refused", what: n => n + " commit" + (n === 1 ? "" : "s") + " refused" }]);
      // Rebalances and the broker's modes: a line down the strips at
      // each, labelled where there is room; the modes other than up as
      // stretches of their own strip.
      const foot = refRow.top + refRow.h;
      let free = L;
      rebalanceMarks(k, x).forEach(m => {
        p.mark(m.t, markRow.top + 5, "k-rebalance", m.what, foot);
        const mx = x(m.t) + 6;
        if (mx >= free) {
          svgEl("text", { class: "k-rebalance", x: mx.toFixed(1), y: markRow.top + 10 }, svg).textContent = m.label;
          free = mx + m.label.length * 7 + 6;
        }
      });
      if (modes.length) svgEl("text", { x: 4, y: modeRow.top + 10 }, svg).textContent = "broker";
      modes.forEach(m => {
        const what = "from " + fmt(m.t) + (m.until < END ? " to " + fmt(m.until) : "") + " the broker was " + m.name;
        if (m.mode !== "up") {
          const w = x(m.until) - x(m.t);
          title(svgEl("rect", { class: "k-mode-" + m.mode, x: x(m.t).toFixed(1), y: modeRow.top, width: Math.max(w, 1).toFixed(1), height: modeRow.h }, svg), what);
          if (w > m.mode.length * 7 + 14) svgEl("text", { class: "k-mode", x: (x(m.t) + 7).toFixed(1), y: modeRow.top + 10, "pointer-events": "none" }, svg).textContent = m.mode;
        }
        p.mark(m.t, modeRow.top + 12, "k-mode", what, foot);
      });
      // Hovering the lag shows it at that moment, per partition.
      svg.addEventListener("mousemove", e => {
        const r = svg.getBoundingClientRect(), sy = (e.clientY - r.top) * p.height / r.height, sx = svgX(svg, e.clientX);
        if (sx < L || sy < lagRow.top || sy > lagRow.top + lagRow.h) { hideTip(); return; }
        const t = (sx - L) / PW * END;
        showTip("at " + fmt(t) + ": " + describeKafkaAt(k, t), e);
      });
      svg.addEventListener("mouseleave", hideTip);
      p.done();
      kafkaTable(k, box);
    });
  }

  // ---- replication between clusters ----
  const replication = D.replication;
  function dclinkMode(f) { const m = /\b(cut|slow|flap)\b/.exec(f.what); return m ? m[1] : "cut"; }
  function replName(o) { return S[o.cluster] + " → " + (S[o.to] || "?") + " (" + S[o.destination] + ")"; }
  function catchUpText(c) {
    return "healed at " + fmt(c.heal) + " (" + S[c.what] + "): " + (c.took < 0 ? "never caught up" : c.took === 0 ? "nothing was waiting" : "caught up after " + fmt(c.took));
  }
  function replTable(o, box) {
    const name = S[o.destination];
    const t = htmlEl("table", { class: "repl-table", "data-cluster": S[o.cluster], "data-destination": name }, null, box);
    const head = htmlEl("tr", {}, null, t), row = htmlEl("tr", {}, null, t);
    const cell = (key, label, text, num) => {
      htmlEl("th", { class: num ? "num" : "" }, label, head);
      htmlEl("td", { class: num ? "num" : "", "data-k": key }, text, row);
    };
    cell("sent", "changes sent", o.sent + " in " + o.pushes + " push" + (o.pushes === 1 ? "" : "es"), false);
    cell("acked", "acknowledged", o.acked + (o.refusals ? " (" + o.refusals + " refused)" : ""), false);
    cell("applied", "applied", o.applied, true);
    cell("stale", "skipped as stale", o.stale, true);
    cell("max-lag", "max lag", o.deepest ? o.deepest + " waiting at " + fmt(o.deepest_at) : "0", false);
    cell("max-wait", "longest wait", o.eldest ? fmt(o.eldest) + " at " + fmt(o.eldest_at) : "0", false);
    cell("catch-up", "catch-up after each heal", o.catch_up.length ? o.catch_up.map(c => fmt(c.heal) + ": " + (c.took < 0 ? "never" : fmt(c.took))).join(", ") : "no dclink healed", false);
  }
  function drawReplication() {
    const box = document.getElementById("replication-panels");
    if (!box) return;
    box.textContent = "";
    cursors.replication = [];
    const links = D.faults.filter(f => f.fault === "dclink");
    replication.forEach(o => {
      const name = S[o.destination], from = S[o.cluster];
      htmlEl("h3", {}, replName(o), box);
      const p = timePanel(box, "replication", "replication from " + from + " through " + name + " over time", "repl-destination", { cluster: from, destination: name },
        (links.length ? [[4, 14]] : []).concat([[10, 90], [16, 50], [16, 50], [16, 30]]));
      const { svg, x } = p, [depthRow, ageRow, appRow, staleRow] = p.rows.slice(-4);
      if (links.length) {
        const row = p.rows[0];
        svgEl("text", { x: 4, y: row.top + 11 }, svg).textContent = "dc links";
        links.forEach(f => {
          const mode = dclinkMode(f), a = x(f.start), w = Math.max(x(faultEnd(f)) - a, 1);
          title(svgEl("rect", { class: "r-dclink r-dclink-" + mode, x: a.toFixed(1), y: row.top, width: w.toFixed(1), height: row.h }, svg),
            fmt(f.start) + " – " + fmt(faultEnd(f)) + ": " + f.what + (f.effect ? "" : " (no effect: " + f.why + ")"));
          if (w > mode.length * 7 + 8) svgEl("text", { class: "r-dclink", x: (a + 4).toFixed(1), y: row.top + 11, "pointer-events": "none" }, svg).textContent = mode;
        });
      }
      const dy = p.scale(depthRow, "waiting", o.deepest, v => v);
      p.steps(o.t, o.depth, dy, "r-depth", "changes waiting to go from " + from + " through " + name);
      const ay = p.scale(ageRow, "oldest", o.eldest, v => fmt(v));
      p.steps(o.t, o.oldest, ay, "r-oldest", "how long the oldest change waiting for " + name + " had waited");
      let most = 1, mostStale = 1;
      o.per_applied.forEach(n => { most = Math.max(most, n); });
      o.per_stale.forEach(n => { mostStale = Math.max(mostStale, n); });
      const perSec = v => Math.round(v / (o.bin / 1e6)) + "/s";
      const g = svgEl("g", {}, svg);
      p.bars(g, o.bin, p.scale(appRow, "applied", most, perSec), [{ v: o.per_applied, cls: "r-applied", what: n => n + " change" + (n === 1 ? "" : "s") + " applied" }]);
      p.bars(g, o.bin, p.scale(staleRow, "stale", mostStale, perSec), [{ v: o.per_stale, cls: "r-stale", what: n => n + " change" + (n === 1 ? "" : "s") + " skipped as stale" }]);
      // Each heal: a ▲ and a line down the strips, and a bar along the
      // depth's foot until the queue was first empty again.
      o.catch_up.forEach(c => {
        const what = catchUpText(c);
        p.mark(c.heal, depthRow.top - 8, "r-heal", what, staleRow.top + staleRow.h);
        if (c.took > 0) title(svgEl("line", { class: "r-catchup", x1: x(c.heal).toFixed(1), x2: x(c.heal + c.took).toFixed(1), y1: depthRow.top + depthRow.h - 2, y2: depthRow.top + depthRow.h - 2 }, svg), what);
      });
      p.done();
      replTable(o, box);
    });
  }

  // ---- time travel ----
  function linksAt(t) {
    const everyone = nodes.concat(clients);
    const cut = new Set();
    for (const c of D.links) {
      if (c.t > t) break;
      if (c.kind === "heal") cut.clear();
      else if (c.kind === "cut") cut.add(S[c.from] + ">" + S[c.to]);
      else if (c.kind === "uncut") cut.delete(S[c.from] + ">" + S[c.to]);
      else if (c.kind === "partition") {
        cut.clear();
        const comp = {};
        c.parts.split("|").forEach((p, i) => p.split(",").forEach(n => { comp[n] = i; }));
        for (const a of everyone) for (const b of everyone) {
          const ca = a in comp ? comp[a] : -1, cb = b in comp ? comp[b] : -1;
          if (a !== b && ca !== cb) cut.add(a + ">" + b);
        }
      }
    }
    return cut;
  }
  function lifeAt(ni, t) {
    const ls = lifeByNode[ni];
    const k = lowerBound(ls.map(l => l.t), t);
    return k < 0 ? "not started" : ls[k].state;
  }
  function clockAt(name, t) {
    let what = "";
    for (const c of D.clock) { if (c.t > t) break; if (S[c.node] === name) what = c.what; }
    return what;
  }
  function travel(t) {
    t = Math.max(0, Math.min(END, Math.round(t)));
    travelTime = t;
    const box = document.getElementById("travel");
    box.textContent = "";
    box.dataset.time = t;
    htmlEl("h3", {}, "At " + fmt(t), box);
    const active = D.faults.filter(f => f.start <= t && t < faultEnd(f));
    let inflight = 0;
    for (let i = 0; i < nOps; i++) if (call[i] <= t && (ret[i] < 0 || ret[i] > t)) inflight++;
    htmlEl("p", {}, (active.length ? "Faults in force: " + active.map(f => f.fault + " (" + f.what + ")").join("; ") : "No fault in force") +
      ". " + inflight + " operations in flight.", box);
    const withState = queues.filter(q => q.t.length);
    if (withState.length) {
      htmlEl("p", { id: "travel-queues" }, "Inbound queues: " + withState.map(q => {
        const st = queueAt(q, t);
        return S[q.group] + " " + (st ? st.depth + " waiting (" + st.bytes + " bytes), " + st.repairs + " in repair, " + st.outbound + " outbound, " + st.settled + " settled so far" : "not yet recorded");
      }).join("; ") + ".", box);
    }
    if (outbound.length) {
      htmlEl("p", { id: "travel-outbound" }, "Outbound: " + outbound.map(o => {
        const st = outboundAt(o, t), name = S[o.destination];
        return name + " " + (st ? st.depth + " waiting (the oldest for " + fmt(st.oldest) + ", " + st.retrying + " in backoff)" : "nothing recorded yet") + ", " + takenBy(o, t) + " taken by " + fmt(Math.floor(t / o.bin) * o.bin);
      }).join("; ") + ".", box);
    }
    if (kafka.length) htmlEl("p", { id: "travel-kafka" }, "Kafka: " + kafka.map(k => describeKafkaAt(k, t)).join("; ") + ".", box);
    if (replication.length) htmlEl("p", { id: "travel-replication" }, "Replication: " + replication.map(o => {
      const k = lowerBound(o.t, t);
      return replName(o) + " " + (k < 0 ? "nothing recorded yet" : o.depth[k] + " waiting, the oldest for " + fmt(o.oldest[k]));
    }).join("; ") + ".", box);
    moveCursors(t);
    const grid = htmlEl("div", { class: "travel-grid" }, null, box);
    const left = htmlEl("div", {}, null, grid);
    const table = htmlEl("table", { class: "nodes" }, null, left);
    const head = htmlEl("tr", {}, null, table);
    ["node", "state", "clock"].forEach(h => htmlEl("th", {}, h, head));
    groups.forEach(g => htmlEl("th", {}, g + ": role, term, leader, commit/applied", head));
    nodes.forEach((n, ni) => {
      const tr = htmlEl("tr", { "data-node": n }, null, table);
      htmlEl("td", {}, n, tr);
      htmlEl("td", { class: "state" }, lifeAt(ni, t), tr);
      htmlEl("td", {}, clockAt(n, t) || "—", tr);
      groups.forEach(g => {
        const s = series.find(s => S[s.group] === g && S[s.node] === n);
        const st = s && raftAt(s, t);
        htmlEl("td", { "data-group": g }, st ? st.role + ", " + st.term + ", " + (st.leader || "—") + ", " + st.commit + "/" + st.applied : "—", tr);
      });
    });
    const right = htmlEl("div", {}, null, grid);
    const cut = linksAt(t);
    htmlEl("p", {}, "Reachability (row sends to column):", right);
    const m = htmlEl("table", { class: "matrix", id: "reachability" }, null, right);
    const mh = htmlEl("tr", {}, null, m);
    htmlEl("th", {}, "", mh);
    nodes.forEach(n => htmlEl("th", {}, n, mh));
    nodes.forEach(a => {
      const tr = htmlEl("tr", {}, null, m);
      htmlEl("th", {}, a, tr);
      nodes.forEach(b => {
        if (a === b) { htmlEl("td", {}, "·", tr); return; }
        const isCut = cut.has(a + ">" + b);
        htmlEl("td", { class: isCut ? "cut" : "ok", title: a + " → " + b + (isCut ? " cut" : " open") }, isCut ? "✗" : "✓", tr);
      });
    });
    const clientCuts = [...cut].filter(k => clients.includes(k.split(">")[0]) || clients.includes(k.split(">")[1]));
    htmlEl("p", {}, clientCuts.length ? "Cut links to or from clients: " + clientCuts.map(k => k.replace(">", "→")).join(", ") : "Every client reaches every instance.", right);
    if (!drawing) drawTimeline();
  }

  // ---- network ----
  function drawTraffic() {
    const box = document.getElementById("traffic");
    box.textContent = "";
    const cols = [["delivered", "delivered"], ["duplicated", "duplicates"], ["lost", "lost"], ["cut", "cut"], ["down", "to a dead node"], ["other", "other drops"]];
    const table = (rows, keyCols, caption) => {
      const t = htmlEl("table", {}, null, box);
      htmlEl("caption", { style: "text-align:left;font-weight:600" }, caption, t);
      const h = htmlEl("tr", {}, null, t);
      keyCols.forEach(([, label]) => htmlEl("th", {}, label, h));
      cols.forEach(([, label]) => htmlEl("th", { class: "num" }, label, h));
      rows.forEach(r => {
        const tr = htmlEl("tr", {}, null, t);
        keyCols.forEach(([k]) => htmlEl("td", {}, r[k], tr));
        cols.forEach(([k]) => htmlEl("td", { class: "num" }, r[k] || "", tr));
      });
      return t;
    };
    table(D.traffic.by_kind, [["msg", "message"]], "By message kind");
    const details = htmlEl("details", {}, null, box);
    htmlEl("summary", {}, "By link (" + D.traffic.by_link.length + " links)", details);
    box.appendChild(details);
    const t = table(D.traffic.by_link, [["from", "from"], ["to", "to"]], "");
    details.appendChild(t);
  }
  const msgs = D.messages, nMsgs = msgs.from.length;
  const msgSent = new Float64Array(nMsgs);
  { let t = 0; for (let i = 0; i < nMsgs; i++) { t += msgs.sent[i]; msgSent[i] = t; } }
  const FATE = { d: "delivered", u: "duplicate", l: "lost", c: "cut", x: "to a dead node", o: "dropped" };
  const LAMPORT_CAP = 1500;
  function drawLamport() {
    const box = document.getElementById("lamport");
    box.textContent = "";
    const status = document.getElementById("lamport-status");
    const from = parseTime(document.getElementById("lamport-from").value);
    const width = +document.getElementById("lamport-width").value;
    if (isNaN(from)) { status.textContent = "Write a time such as 5.2s or 120ms."; return; }
    const a = from, b = from + width;
    const who = nodes.concat(document.getElementById("lamport-clients").checked ? clients : []);
    const row = {};
    who.forEach((n, i) => { row[n] = i; });
    const rowH = 24, top = 22, height = top + who.length * rowH + 10;
    const x = t => L + (t - a) / (b - a) * PW;
    const svg = newSvg(box, height, "messages between nodes from " + fmt(a) + " to " + fmt(b));
    axis(svg, x, a, b, top, height - top);
    shadeFaults(svg, x, a, b, top, height - top);
    who.forEach((n, i) => {
      svgEl("line", { class: "grid", x1: L, x2: L + PW, y1: top + i * rowH + rowH / 2, y2: top + i * rowH + rowH / 2 }, svg);
      svgEl("text", { x: 4, y: top + i * rowH + rowH / 2 + 4 }, svg).textContent = n;
    });
    const y = n => top + row[n] * rowH + rowH / 2;
    const inWin = [];
    for (let i = 0; i < nMsgs; i++) {
      const s = msgSent[i], r = msgs.took[i] < 0 ? s : s + msgs.took[i];
      if (r < a || s > b) continue;
      if (!(S[msgs.from[i]] in row) || !(S[msgs.to[i]] in row)) continue;
      inWin.push(i);
    }
    const draw = inWin.slice(0, LAMPORT_CAP);
    const g = svgEl("g", {}, svg);
    for (const i of draw) {
      const f = S[msgs.from[i]], to = S[msgs.to[i]], kind = S[msgs.msg[i]], fate = msgs.fate[i];
      const s = msgSent[i], color = hashColor(kind);
      let e;
      if (msgs.took[i] >= 0) {
        e = svgEl("line", { class: "msg" + (fate === "u" ? " drop" : ""), x1: x(s).toFixed(1), y1: y(f), x2: x(s + msgs.took[i]).toFixed(1), y2: y(to), stroke: color }, g);
        title(e, kind + " " + f + " → " + to + ", sent " + fmt(s) + ", received " + fmt(s + msgs.took[i]) + (fate === "u" ? " (a duplicate)" : ""));
      } else {
        const mx = x(s) + 6, my = y(f) + (y(to) - y(f)) * 0.35;
        e = svgEl("line", { class: "msg drop", x1: x(s).toFixed(1), y1: y(f), x2: mx.toFixed(1), y2: my.toFixed(1), stroke: color }, g);
        svgEl("path", { class: "drop-x", d: "M" + (mx - 3) + " " + (my - 3) + "l6 6m0 -6l-6 6" }, g);
        title(e, kind + " " + f + " → " + to + " at " + fmt(s) + ": " + FATE[fate]);
      }
    }
    box.dataset.drawn = draw.length;
    const covered = msgs.windows.some(w => w[0] <= a && b <= w[1]);
    let text = draw.length + " of " + inWin.length + " messages in this window drawn";
    if (draw.length < inWin.length) text += " — capped at " + LAMPORT_CAP + ": narrow the window to see them all";
    if (!covered) text += ". Warning: the report keeps only the messages of the windows listed beside; outside them this diagram is incomplete";
    status.textContent = text + ".";
    status.classList.toggle("warn", draw.length < inWin.length || !covered);
  }
  function setupLamport() {
    const sel = document.getElementById("lamport-windows");
    sel.textContent = "";
    htmlEl("option", { value: "" }, msgs.total > nMsgs ? "kept windows…" : "all " + msgs.total + " messages kept", sel);
    msgs.windows.forEach(w => htmlEl("option", { value: w[0] }, fmt(w[0]) + " – " + fmt(w[1]), sel));
    let start = 0;
    if (D.first) start = Math.max(D.first.time - 20000, 0);
    else if (D.faults.length) start = Math.max(D.faults[0].start - 10000, 0);
    if (msgs.windows.length && !msgs.windows.some(w => w[0] <= start && start < w[1])) start = msgs.windows[0][0];
    document.getElementById("lamport-from").value = fmt(start);
    sel.addEventListener("change", () => { if (sel.value !== "") { document.getElementById("lamport-from").value = fmt(+sel.value); drawLamport(); } });
    ["lamport-from", "lamport-width", "lamport-clients"].forEach(id => document.getElementById(id).addEventListener("change", drawLamport));
    drawLamport();
  }

  // ---- event log ----
  const ev = D.events, nEv = ev.t.length, LOG_CAP = 500;
  function drawLog() {
    const pick = id => document.getElementById(id).value;
    const node = pick("log-node"), group = pick("log-group"), kind = pick("log-kind"), text = pick("log-text").toLowerCase();
    const box = document.getElementById("log-table");
    box.textContent = "";
    const t = htmlEl("table", {}, null, box);
    const h = htmlEl("tr", {}, null, t);
    ["time", "node", "group", "kind", "what"].forEach(c => htmlEl("th", {}, c, h));
    let n = 0;
    for (let i = 0; i < nEv; i++) {
      if (node && S[ev.node[i]] !== node) continue;
      if (group && (ev.group[i] < 0 || S[ev.group[i]] !== group)) continue;
      if (kind && S[ev.kind[i]] !== kind) continue;
      if (text && S[ev.text[i]].toLowerCase().indexOf(text) < 0) continue;
      n++;
      if (n > LOG_CAP) continue;
      const tr = htmlEl("tr", { "data-t": ev.t[i] }, null, t);
      htmlEl("td", { class: "num" }, fmt(ev.t[i]), tr);
      htmlEl("td", {}, S[ev.node[i]], tr);
      htmlEl("td", {}, ev.group[i] < 0 ? "" : S[ev.group[i]], tr);
      htmlEl("td", {}, S[ev.kind[i]], tr);
      htmlEl("td", {}, S[ev.text[i]], tr);
    }
    document.getElementById("log-status").textContent = n + " of " + nEv + " events match" + (n > LOG_CAP ? "; the first " + LOG_CAP + " are shown, narrow the filter to see others" : "") +
      (ev.total > nEv ? " (the report keeps " + nEv + " of the run's " + ev.total + " events)" : "");
  }
  function setupLog() {
    const fill = (id, values, all) => {
      const sel = document.getElementById(id);
      htmlEl("option", { value: "" }, all, sel);
      [...new Set(values)].sort().forEach(v => htmlEl("option", { value: v }, v, sel));
      sel.addEventListener("change", drawLog);
    };
    fill("log-node", Array.from(ev.node, i => S[i]), "all");
    fill("log-group", Array.from(ev.group).filter(i => i >= 0).map(i => S[i]), "all");
    fill("log-kind", Array.from(ev.kind, i => S[i]), "all");
    document.getElementById("log-text").addEventListener("input", drawLog);
    document.getElementById("log-table").addEventListener("click", e => {
      const tr = e.target.closest("tr[data-t]");
      if (!tr) return;
      travel(+tr.dataset.t);
      document.getElementById("travel-section").scrollIntoView({ block: "start" });
    });
    drawLog();
  }

  // ---- start ----
  let drawing = true;
  function focusFirstBad() {
    if (!D.first) return;
    const t = D.first.time;
    let span = 2e6;
    if (firstOp >= 0 && ret[firstOp] >= 0) span = Math.max(span, 2 * (ret[firstOp] - call[firstOp]));
    zoom(t - span, t + span);
    const target = document.getElementById("first-bad-op") || document.getElementById("timeline");
    target.scrollIntoView({ block: "center" });
  }
  section("timeline", drawTimeline);
  document.getElementById("zoom-all").addEventListener("click", () => zoom(0, END));
  document.getElementById("zoom-out").addEventListener("click", () => { const w = view.t1 - view.t0, c = (view.t0 + view.t1) / 2; zoom(c - w * 1.5, c + w * 1.5); });
  const badButton = document.getElementById("zoom-bad");
  if (badButton) badButton.addEventListener("click", focusFirstBad);
  const showBad = document.getElementById("show-first-bad");
  if (showBad) showBad.addEventListener("click", e => { e.preventDefault(); focusFirstBad(); });
  section("plots", drawPlots);
  section("raft-panels", drawRaft);
  section("queue-panels", drawQueues);
  section("outbound-panels", drawOutbound);
  section("kafka-panels", drawKafka);
  section("replication-panels", drawReplication);
  section("traffic", drawTraffic);
  section("lamport", setupLamport);
  section("log-table", setupLog);
  drawing = false;
  section("timeline", focusFirstBad);
  document.body.dataset.ready = "1";
})();
