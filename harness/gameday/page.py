"""The console page: one HTML document with its CSS and script inline (nothing fetched from elsewhere).

The charts are inline SVG, as in the HTML report, redrawn by a few lines of plain JS from the server-sent ticks:
traffic share per upstream, client errors per second by cause, latency p50/p99 of the last second, breaker state.
Every action and mark is a dashed line across all four. Recorded text reaches the page only through `textContent`.
"""

from __future__ import annotations

from html import escape

CSS = """
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: #111827; margin: 0;
       background: #f3f4f6; }
header { background: #1f2937; color: white; padding: 10px 18px; display: flex; gap: 18px; align-items: center;
         flex-wrap: wrap; }
header h1 { font-size: 18px; margin: 0; } header .figs { opacity: .9; font-variant-numeric: tabular-nums; }
header button { margin-left: auto; }
main { display: grid; grid-template-columns: minmax(0, 1fr) 360px; gap: 12px; padding: 12px 18px; }
section { background: white; border: 1px solid #e5e7eb; border-radius: 8px; padding: 8px 12px; }
h2 { font-size: 14px; margin: 2px 0 6px; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(430px, 1fr)); gap: 10px;
          align-content: start; }
svg.live { width: 100%; height: auto; display: block; }
svg text { font-size: 11px; fill: #374151; } svg text.mark { fill: #7c3aed; font-weight: 600; }
form, .row { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; margin: 4px 0; }
form label { font-size: 12px; color: #4b5563; }
input[type=number] { width: 64px; } textarea { width: 100%; height: 44px; font: 12px ui-monospace, monospace; }
button { font: inherit; padding: 3px 9px; border-radius: 5px; border: 1px solid #9ca3af; background: #f9fafb;
         cursor: pointer; }
button.danger { background: #fee2e2; border-color: #dc2626; } button.ok { background: #dcfce7; border-color: #16a34a; }
button.mark { background: #ede9fe; border-color: #7c3aed; } button:disabled { opacity: .45; cursor: default; }
#status { font-size: 12px; color: #b91c1c; min-height: 16px; }
#log { list-style: none; padding: 0; margin: 0; max-height: 340px; overflow: auto; font-size: 12px; }
#log li { padding: 2px 0; border-bottom: 1px solid #f3f4f6; } #log li.manual { font-weight: 600; }
#log li.failed { color: #b91c1c; } #log li.mark { color: #6d28d9; } #log time { color: #6b7280; margin-right: 6px; }
#ended { display: none; grid-column: 1 / -1; } #ended.shown { display: block; }
#ended.pass { border-color: #16a34a; } #ended.fail { border-color: #dc2626; }
.muted { color: #6b7280; font-size: 12px; }
"""

BODY = """
<header>
  <h1 id="title">gatedrill game day</h1>
  <span class="figs" id="figs">waiting for the load to start</span>
  <button id="stop" class="danger" type="button">Stop session</button>
</header>
<main>
  <section id="ended"><h2 id="ended-title"></h2><ul id="verdicts"></ul><p class="muted" id="ended-hint"></p></section>
  <div class="charts">
    <section><h2>Traffic share per upstream (% of requests finished each second)</h2>
      <svg class="live" id="traffic" viewBox="0 0 520 200" role="img" aria-label="traffic share"></svg></section>
    <section><h2>Client errors per second, by cause</h2>
      <svg class="live" id="errors" viewBox="0 0 520 200" role="img" aria-label="client errors"></svg></section>
    <section><h2>Latency of successful requests, last second (ms)</h2>
      <svg class="live" id="latency" viewBox="0 0 520 200" role="img" aria-label="latency"></svg></section>
    <section><h2>Circuit breaker per upstream (the gateway's /health)</h2>
      <svg class="live" id="breaker" viewBox="0 0 520 200" role="img" aria-label="breaker state"></svg></section>
  </div>
  <div>
    <section><h2>Inject a fault</h2>
      <div class="row"><label>upstream <select id="upstream"></select></label>
        <label>note <input id="note" maxlength="200" size="18"></label></div>
      <form data-kind="error_rate"><label>status <select name="status"><option>500</option><option>502</option>
        <option>503</option><option>529</option></select></label>
        <label>on <input type="number" name="probability" value="100" min="1" max="100">%</label>
        <button type="submit" class="danger">Error rate</button></form>
      <form data-kind="latency"><label>+ms <input type="number" name="ms" value="2000" min="0"></label>
        <label>on <input type="number" name="probability" value="100" min="1" max="100">%</label>
        <button type="submit" class="danger">Latency</button></form>
      <form data-kind="hang"><label>for s <input type="number" name="seconds" value="60" min="1"></label>
        <label>on <input type="number" name="probability" value="100" min="1" max="100">%</label>
        <button type="submit" class="danger">Hang</button></form>
      <form data-kind="stream_break"><select name="how"><option>reset_mid_stream</option>
        <option>close_mid_stream</option><option>truncate</option><option>stream_error</option></select>
        <label>after <input type="number" name="after_chunks" value="3" min="0"> chunks</label>
        <label>on <input type="number" name="probability" value="100" min="1" max="100">%</label>
        <button type="submit" class="danger">Stream break</button></form>
      <form data-kind="rate_limit"><label>retry-after s <input type="number" name="retry_after" value="5" min="0">
        </label><label>on <input type="number" name="probability" value="100" min="1" max="100">%</label>
        <button type="submit" class="danger">Rate limit (429)</button></form>
      <form data-kind="clear"><button type="submit" class="ok">Clear faults</button></form>
      <form data-kind="patch"><textarea name="patch" placeholder='{"latency": {"ttft_ms": 500}}'></textarea>
        <button type="submit">Patch upstream</button></form>
    </section>
    <section><h2>Gateway weights</h2><form data-kind="weights" id="weights"></form>
      <p class="muted" id="weights-note"></p></section>
    <section><h2>Incident</h2><div class="row">
      <button type="button" class="mark" data-mark="incident_declared">Incident declared</button>
      <button type="button" class="mark" data-mark="rollback_started">Rollback started</button>
      <button type="button" class="mark" data-mark="resolved">Resolved</button></div>
      <div id="status"></div></section>
    <section><h2>Log</h2><ul id="log"></ul></section>
  </div>
</main>
"""

SCRIPT = r"""
"use strict";
const TOKEN = document.body.dataset.token, NS = "http://www.w3.org/2000/svg";
const COLORS = ["#2563eb", "#f59e0b", "#10b981", "#8b5cf6", "#ef4444", "#0ea5e9", "#84cc16", "#ec4899"];
const ACTION = {set_faults: "#dc2626", clear_faults: "#16a34a", patch: "#ea580c", set_weights: "#2563eb",
                mark: "#7c3aed"};
const BREAKER = {closed: "#16a34a", half_open: "#f59e0b", open: "#dc2626"};
const W = 520, H = 200, L = 50, R = 12, T = 14, B = 36;
const S = {info: {}, upstreams: [], ticks: [], log: [], duration: 1, ended: null};
const $ = (id) => document.getElementById(id);

function el(tag, attrs, text) {
  const e = document.createElementNS(NS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}
const fmt = (v) => v === 0 ? "0" : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);

function frame(svg, yMax, unit) {
  svg.replaceChildren();
  const x1 = Math.max(S.duration, S.ticks.length ? S.ticks[S.ticks.length - 1].t : 1);
  const X = (t) => L + (W - L - R) * Math.min(t, x1) / x1, Y = (v) => H - B - (H - B - T) * v / yMax;
  svg.append(el("line", {x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#9ca3af"}),
             el("line", {x1: L, y1: T, x2: L, y2: H - B, stroke: "#9ca3af"}));
  if (unit !== null) for (let i = 0; i <= 4; i++) {
    const v = yMax * i / 4;
    svg.append(el("text", {x: L - 4, y: Y(v) + 4, "text-anchor": "end"}, fmt(v) + unit));
  }
  for (let i = 0; i <= 5; i++) {
    const t = x1 * i / 5;
    svg.append(el("text", {x: X(t), y: H - B + 13, "text-anchor": i === 5 ? "end" : "middle"},
                      "t+" + t.toFixed(0) + "s"));
  }
  for (const a of S.log) {
    if (a.source === "console") continue;
    const x = X(a.t);
    svg.append(el("line", {x1: x, x2: x, y1: T, y2: H - B, stroke: ACTION[a.action] || "#475569",
                           "stroke-dasharray": "4 3", class: "action"}));
    if (a.mark) svg.append(el("text", {x: x + 2, y: T + 8, class: "mark"}, a.mark.replace(/_/g, " ")));
  }
  return {X, Y};
}

function lines(svg, series, unit, floor) {
  let yMax = floor;
  for (const s of series) for (const [, v] of s.points) if (v !== null && v > yMax) yMax = v;
  yMax *= 1.1;
  const {X, Y} = frame(svg, yMax, unit);
  let lx = L;
  for (const s of series) {
    let d = "", pen = false;
    for (const [t, v] of s.points) {
      if (v === null) { pen = false; continue; }
      d += (pen ? "L" : "M") + X(t).toFixed(1) + " " + Y(v).toFixed(1); pen = true;
    }
    svg.append(el("path", {d, fill: "none", stroke: s.color, "stroke-width": 2, class: "series", "data-name": s.name}));
    svg.append(el("rect", {x: lx, y: H - 13, width: 10, height: 10, fill: s.color}),
               el("text", {x: lx + 13, y: H - 4}, s.name));
    lx += 24 + 6.2 * s.name.length;
  }
}

function drawTraffic() {
  const series = S.upstreams.map((u, i) => ({name: u, color: COLORS[i % COLORS.length], points: S.ticks.map((k) => {
    const total = Object.values(k.per_upstream).reduce((a, b) => a + b, 0);
    return [k.t, total ? 100 * (k.per_upstream[u] || 0) / total : null];
  })}));
  lines($("traffic"), series, "%", 100 / 1.1);
}

function drawErrors() {
  const causes = [...new Set(S.ticks.flatMap((k) => Object.keys(k.errors)))].sort();
  const total = S.ticks.map((k) => [k.t, Object.values(k.errors).reduce((a, b) => a + b, 0)]);
  const series = [{name: "all causes", color: "#7f1d1d", points: total}, ...causes.map((c, i) => ({
    name: c, color: COLORS[(i + 4) % COLORS.length], points: S.ticks.map((k) => [k.t, k.errors[c] || 0])}))];
  lines($("errors"), series, "/s", 1);
  $("errors").dataset.peak = String(Math.max(0, ...total.map((p) => p[1])));
}

function drawLatency() {
  lines($("latency"), [
    {name: "p50", color: "#2563eb", points: S.ticks.map((k) => [k.t, k.p50_ms])},
    {name: "p99", color: "#dc2626", points: S.ticks.map((k) => [k.t, k.p99_ms])}], "", 10);
}

function drawBreaker() {
  const svg = $("breaker"), ups = S.upstreams, rowH = (H - B - T) / Math.max(1, ups.length);
  const {X} = frame(svg, 1, null);
  if (!S.info.breaker_source) {
    svg.append(el("text", {x: W / 2, y: H / 2, "text-anchor": "middle"}, "this gateway reports no breaker state"));
    return;
  }
  ups.forEach((u, r) => {
    const y = T + r * rowH;
    svg.append(el("text", {x: L - 4, y: y + rowH / 2 + 4, "text-anchor": "end"}, u));
    let prev = 0;
    for (const k of S.ticks) {
      const state = k.breakers[u];
      if (state) svg.append(el("rect", {x: X(prev), y: y + 3, width: Math.max(0.5, X(k.t) - X(prev)),
                                        height: rowH - 6, fill: BREAKER[state] || "#9ca3af", class: "state"}));
      prev = k.t;
    }
  });
  let lx = L;
  for (const [name, color] of Object.entries(BREAKER)) {
    svg.append(el("rect", {x: lx, y: H - 13, width: 10, height: 10, fill: color}),
               el("text", {x: lx + 13, y: H - 4}, name.replace("_", "-")));
    lx += 30 + 6.2 * name.length;
  }
}

function redraw() {
  drawTraffic(); drawErrors(); drawLatency(); drawBreaker();
  const k = S.ticks[S.ticks.length - 1];
  if (k) $("figs").textContent = `${k.phase} t+${k.t.toFixed(0)}s of ${S.duration}s: sent ${k.sent}, ` +
    `done ${k.completed}, client errors ${k.error_total}`;
}

function addLog(a) {
  const li = document.createElement("li"), time = document.createElement("time");
  time.textContent = "t+" + a.t.toFixed(1) + "s";
  li.append(time, document.createTextNode((a.source === "manual" ? "[you] " : a.source === "console" ? "" :
                                           "[scenario] ") + a.text));
  li.className = [a.source, a.ok ? "" : "failed", a.mark ? "mark" : ""].join(" ");
  $("log").prepend(li);
}

function ended(e) {
  S.ended = e;
  const box = $("ended");
  box.className = "shown " + (e.passed ? "pass" : "fail");
  $("ended-title").textContent = e.error ? "Session failed: " + e.error :
    `Session ended: the gate ${e.passed ? "passed" : "FAILED"} (record ${e.path})`;
  $("verdicts").replaceChildren(...(e.verdicts || []).map((v) => {
    const li = document.createElement("li"); li.textContent = `${v.check}: ${v.status} ${v.summary || ""}`;
    return li;
  }));
  $("ended-hint").textContent = e.hint || "";
  for (const b of document.querySelectorAll("button")) b.disabled = true;
  $("figs").textContent = "session over";
}

async function post(path, body) {
  const r = await fetch(path, {method: "POST", headers: {"content-type": "application/json",
                                                          "x-gameday-token": TOKEN}, body: JSON.stringify(body)});
  const out = await r.json().catch(() => ({error: "no answer"}));
  $("status").textContent = r.ok ? "" : (out.error || ("HTTP " + r.status));
  return out;
}

function formBody(form) {
  const body = {kind: form.dataset.kind};
  if (body.kind !== "weights") body.upstream = $("upstream").value;
  const note = $("note").value.trim();
  if (note) body.note = note;
  for (const input of form.querySelectorAll("input, select, textarea")) {
    if (!input.name) continue;
    const v = input.value;
    if (input.name === "patch") { try { body.patch = JSON.parse(v || "{}"); } catch (err) { body.patch = v; } }
    else if (input.name === "probability") body.probability = Number(v) / 100;
    else if (input.dataset.weight) (body.weights = body.weights || {})[input.dataset.weight] = Number(v);
    else body[input.name] = input.type === "number" || input.name === "status" ? Number(v) : v;
  }
  return body;
}

function setup(hello) {
  Object.assign(S, {info: hello.info, upstreams: hello.upstreams, ticks: hello.ticks, log: hello.log,
                    duration: hello.duration_s});
  $("title").textContent = "game day: " + (hello.info.scenario || "");
  $("upstream").replaceChildren(...S.upstreams.map((u) => { const o = document.createElement("option");
    o.textContent = u; return o; }));
  const wf = $("weights");
  wf.replaceChildren(...S.upstreams.map((u) => {
    const l = document.createElement("label"), i = document.createElement("input");
    i.type = "number"; i.min = "0"; i.name = "w-" + u; i.dataset.weight = u;
    i.value = (hello.info.weights || {})[u] ?? 0;
    l.append(u + " ", i); return l; }));
  const b = document.createElement("button"); b.type = "submit"; b.textContent = "Set weights"; wf.append(b);
  $("weights-note").textContent = hello.info.weights_note || "";
  $("log").replaceChildren(); S.log.forEach(addLog);
  redraw();
  if (hello.ended) ended(hello.ended);
}

for (const form of document.querySelectorAll("form[data-kind]")) {
  form.addEventListener("submit", (ev) => { ev.preventDefault(); post("/action", formBody(form)); });
}
for (const b of document.querySelectorAll("button[data-mark]")) {
  b.addEventListener("click", () => {
    const note = $("note").value.trim();
    post("/action", {kind: "mark", mark: b.dataset.mark, ...(note ? {note} : {})});
  });
}
$("stop").addEventListener("click", () => { $("stop").disabled = true; post("/stop", {}); });

const es = new EventSource("/events");
es.addEventListener("hello", (m) => setup(JSON.parse(m.data)));
es.addEventListener("tick", (m) => { S.ticks.push(JSON.parse(m.data)); redraw(); });
es.addEventListener("log", (m) => { const a = JSON.parse(m.data); S.log.push(a); addLog(a); redraw(); });
es.addEventListener("end", (m) => { ended(JSON.parse(m.data)); es.close(); });
"""


def page_html(token: str, nonce: str) -> str:
    """The page for one session: its token (sent back with every action) and the script's CSP nonce."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<link rel=\"icon\" href=\"data:,\">"
            f"<title>gatedrill game day</title><style>{CSS}</style></head>"
            f"<body data-token=\"{escape(token, quote=True)}\">{BODY}"
            f"<script nonce=\"{escape(nonce, quote=True)}\">{SCRIPT}</script></body></html>\n")
