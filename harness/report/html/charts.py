"""The report's charts, each built from the run record and the verdicts (never recomputing a verdict):
traffic per upstream with fault windows, timeline actions and rollback marks; client error rate; latency
percentiles; the canary split with its confidence intervals."""

from __future__ import annotations

import math
from typing import Any

from ...checks import Verdict
from ...checks.fault_windows import FaultWindow, fault_windows
from ...record import RunRecord
from ..judged import JudgedRun
from ..run_figures import action_text
from .series import PERCENTILES, client_error_rate, latency_percentiles, traffic_per_upstream
from .svg import ACTION, FAULT, PALETTE, Chart

DETECT = "#b91c1c"
RECOVER = "#047857"
MARK = "#7c3aed"  # actions taken by hand and incident marks (a game day)
PCT_COLORS = {50: "#2563eb", 90: "#f59e0b", 99: "#dc2626"}


def verdict_of(run: JudgedRun, check: str) -> Verdict | None:
    return next((v for v in run.verdicts if v.check == check), None)


def upstream_colors(record: RunRecord) -> dict[str, str]:
    names = list(dict.fromkeys([*record.scenario.upstreams, *record.journals]))
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}


def _fault_text(w: FaultWindow) -> str:
    kinds = []
    for rule in w.faults:
        f = rule.fault
        kinds.append(" ".join(str(x) for x in (f.kind, getattr(f, "status", None)) if x))
    return f"{w.upstream} faulted" + (f" ({', '.join(kinds)})" if kinds else "")


def _context(chart: Chart, record: RunRecord, labels: bool) -> None:
    """Fault windows as shaded bands and timeline actions as dashed lines (labelled on the traffic chart)."""
    t0 = record.load_start()
    for w in fault_windows(record):
        tip = f"{_fault_text(w)} from {w.start - t0:.2f} s to {w.end - t0:.2f} s" + (f": {w.note}" if w.note else "")
        chart.band(w.start - t0, w.end - t0, FAULT, _fault_text(w) if labels else "", tip)
        chart.add_legend("fault window", FAULT, "band")
    for ev in record.timeline:
        at = ev.at_s
        what = action_text(ev)
        note = f"{what}: {ev.note}" if ev.note else what
        if ev.source == "manual":
            note = f"by hand: {note}"
        if not ev.ok:
            note += f" (FAILED {ev.detail})"
        elif ev.effective_s is not None:
            note += f" (effective t+{ev.effective_s:.2f}s)"
        color = MARK if ev.mark is not None or ev.source == "manual" else ACTION
        chart.vline(float(at), color, f"t+{float(at):.1f}s {note}" if labels else "", f"t+{float(at):.2f} s {note}")
        chart.add_legend("by hand or incident mark" if color == MARK else "timeline action", color, "dash")


def _rollback_marks(chart: Chart, run: JudgedRun) -> None:
    """Detection (fault start + detection time) and recovery (last clear + recovery time) from the verdict."""
    v = verdict_of(run, "rollback")
    if v is None:
        return
    windows = v.figures.get("windows") or []
    for w in windows:
        span, det = w.get("span_s") or [None, None], w.get("detection_s")
        if span[0] is None:
            continue
        if det is None:
            chart.vline(float(span[1]), DETECT, "not detected: steady traffic to the end of the fault",
                        "steady traffic never stopped in this window", dash="2 2")
        else:
            at = float(span[0]) + float(det)
            chart.vline(at, DETECT, f"detected +{det:g}s", f"rollback detected {det:g} s after fault start "
                        f"(last steady attempt at t+{at:.2f} s)", dash="2 2")
        chart.add_legend("rollback detected", DETECT, "dash")
    rec = v.figures.get("recovery_s")
    if rec is not None and windows and (windows[-1].get("span_s") or [None, None])[1] is not None:
        at = float(windows[-1]["span_s"][1]) + float(rec)
        chart.vline(at, RECOVER, f"recovered +{rec:g}s", f"share back {rec:g} s after the fault cleared",
                    dash="2 2")
        chart.add_legend("recovered", RECOVER, "dash")


def traffic_chart(run: JudgedRun) -> str:
    record = run.record
    b, per = traffic_per_upstream(record)
    colors = upstream_colors(record)
    layers = [(f"{name} (attempts/s)", colors[name], values) for name, values in per.items()]
    peak = max(1.0, max((sum(v[i] for v in per.values()) for i in range(b.count)), default=0.0))

    def build(y_max: float) -> Chart:
        chart = Chart(f"Requests per second reaching each upstream (stacked, {b.width:g} s buckets)",
                      "time since load start (s)", "attempts per second (req/s)",
                      (b.start, b.start + b.count * b.width), (0.0, y_max), chart_id="traffic")
        chart.stacked_steps(b.edges, layers)
        _context(chart, record, labels=True)
        _rollback_marks(chart, run)
        return chart

    chart = build(peak * 1.1)
    # leave the labels' rows free above the data (at most half the plot)
    room = min(0.5, chart.label_height() / chart.plot_h)
    if room > 0.09:
        chart = build(peak * 1.05 / (1 - room))
    return chart.render()


def error_rate_chart(run: JudgedRun) -> str:
    record = run.record
    b, rate, errors, total = client_error_rate(record)
    peak = max((r for r in rate if r is not None), default=0.0)
    chart = Chart(f"Client error rate over time ({b.width:g} s buckets, by send time)", "time since load start (s)",
                  "client errors (% of requests)", (b.start, b.start + b.count * b.width),
                  (0.0, min(100.0, max(5.0, peak * 1.2))), chart_id="errors")
    _context(chart, record, labels=False)
    for i, (m, r) in enumerate(zip(b.mids, rate, strict=True)):
        if r:
            chart.rect(m - b.width * 0.4, m + b.width * 0.4, 0, r, "#dc2626",
                       f"t+{b.edges[i]:g}-{b.edges[i + 1]:g} s: {errors[i]}/{total[i]} requests failed ({r:.1f}%)",
                       opacity=0.7)
    chart.polyline(zip(b.mids, rate, strict=True), "#7f1d1d", 1.5, "client error rate (%)")
    chart.add_legend("error rate (%) per bucket", "#dc2626")
    if not any(errors):
        chart.overlays.append(chart._text(chart.left + chart.plot_w / 2, chart.top + chart.plot_h / 2,
                                          f"no client errors in {sum(total)} requests", "#374151", halo=True))
    return chart.render()


def latency_chart(run: JudgedRun, kind: str) -> str:
    record = run.record
    b, pcts, counts = latency_percentiles(record, kind)
    what = "Time to first token (streams)" if kind == "ttft" else "Total latency"
    peak = max((x for series in pcts.values() for x in series if x is not None), default=0.0)
    chart = Chart(f"{what}: p50 / p90 / p99 per {b.width:g} s bucket (successful requests, from intended send)",
                  "time since load start (s)", "latency (ms)", (b.start, b.start + b.count * b.width),
                  (0.0, max(1.0, peak * 1.15)), chart_id=f"latency-{kind}")
    _context(chart, record, labels=False)
    for q in PERCENTILES:
        chart.polyline(zip(b.mids, pcts[q], strict=True), PCT_COLORS[q], 2.0, f"p{q} {what.lower()} (ms)")
        chart.add_legend(f"p{q}", PCT_COLORS[q], "line")
    if not any(counts):
        chart.overlays.append(chart._text(chart.left + chart.plot_w / 2, chart.top + chart.plot_h / 2,
                                          "no samples in this run", "#6b7280"))
    return chart.render()


def canary_split_chart(run: JudgedRun) -> str | None:
    """Observed share per upstream per weight period with its 95% CI, against the configured share."""
    v = verdict_of(run, "canary_split")
    if v is None:
        return None
    periods: list[dict[str, Any]] = [p for p in v.figures.get("periods") or [] if p.get("shares")]
    if not periods:
        return None
    colors = upstream_colors(run.record)
    t0 = run.record.load_start()
    rows: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = []
    end_of_run = run.record.run_end() - t0
    for p in periods:
        start, end = p.get("start_wall"), p.get("end_wall")
        a = start - t0 if isinstance(start, int | float) and math.isfinite(start) else 0.0
        b = end - t0 if isinstance(end, int | float) and math.isfinite(end) else end_of_run
        when = f"t+{a:.1f}-{b:.1f} s" if len(periods) > 1 else ""
        for u, s in p["shares"].items():
            rows.append((u, when, s, p))
    height = 96 + 40 * len(rows)
    chart = Chart("Canary split: observed share with 95% confidence interval vs configured weight",
                  "share of requests served (%)", "", (0.0, 100.0), (0.0, float(len(rows))), height=height,
                  left=190, chart_id="canary-split", y_ticks=[])
    for i, (u, when, s, p) in enumerate(rows):
        y = len(rows) - i - 0.5
        color = colors.get(u, PALETTE[0])
        ci = s.get("ci") or [s["observed"], s["observed"]]
        tip = (f"{u}: observed {100 * s['observed']:.1f}% (95% CI {100 * ci[0]:.1f}-{100 * ci[1]:.1f}%), "
               f"configured {100 * s['expected']:.1f}%, n={p.get('n')}, p={p.get('p_value', float('nan')):.3g}")
        chart.rect(0, 100 * s["observed"], y - 0.28, y + 0.28, color, tip, opacity=0.35)
        chart.segment(100 * ci[0], y, 100 * ci[1], y, "#111827", 2.0, tip)
        for end in ci:
            chart.segment(100 * end, y - 0.18, 100 * end, y + 0.18, "#111827", 2.0, tip)
        chart.marker(100 * s["observed"], y, color, tip, size=4.5)
        chart.marker(100 * s["expected"], y, "#111827", f"{u}: configured {100 * s['expected']:.1f}%",
                     shape="diamond", size=6)
        chart.y_category(y, f"{u} {when}".strip())
        chart.add_legend(f"{u} observed", color)
    chart.add_legend("95% CI", "#111827", "line")
    chart.add_legend("configured weight", "#111827", "marker")
    return chart.render()
