"""The sweep drawn the way GuideLLM draws its sweeps: offered rate on x; achieved rate against the ideal line, and
overhead p50/p99 (with the p99 CI) against the budget, the knee marked."""

from __future__ import annotations

from ..report.html.page import CSS
from ..report.html.svg import Chart, esc
from .result import SweepResult

ACHIEVED, IDEAL, P50, P99, BUDGET, KNEE = "#2563eb", "#9ca3af", "#2563eb", "#dc2626", "#b91c1c", "#047857"


def rate_chart(r: SweepResult) -> str:
    top = max([s.rate for s in r.steps] + [s.achieved_rate for s in r.steps] + [1.0]) * 1.1
    chart = Chart("Achieved against offered rate", "offered rate (req/s)", "achieved rate (req/s)", (0.0, top),
                  (0.0, top), chart_id="sweep-rate")
    chart.segment(0, 0, top, top, IDEAL, 1.0, "ideal: achieved = offered")
    chart.polyline([(s.rate, s.achieved_rate) for s in r.steps], ACHIEVED, 2.0, "achieved rate")
    for s in r.steps:
        chart.marker(s.rate, s.achieved_rate, BUDGET if s.saturated else ACHIEVED,
                     f"{s.rate:g} offered: {s.achieved_rate:.1f} achieved{' (saturated)' if s.saturated else ''}")
    chart.add_legend("achieved", ACHIEVED, "line")
    chart.add_legend("ideal", IDEAL, "line")
    chart.add_legend("saturated step", BUDGET, "marker")
    return chart.render()


def overhead_chart(r: SweepResult) -> str:
    values = [v for s in r.steps for v in ([s.p50_ms, s.p99_ms] + (s.p99_ci_ms or [])) if v is not None]
    top = max([*values, r.budget_ms]) * 1.15
    x_top = max([s.rate for s in r.steps] + [1.0]) * 1.1
    chart = Chart("Gateway overhead by offered rate (beyond the control arm)", "offered rate (req/s)",
                  "overhead (ms)", (0.0, x_top), (min(0.0, min(values, default=0.0)), top), chart_id="sweep-overhead")
    chart.segment(0, r.budget_ms, x_top, r.budget_ms, BUDGET, 1.0, f"p99 budget {r.budget_ms:g} ms")
    chart.polyline([(s.rate, s.p50_ms) for s in r.steps], P50, 2.0, "p50 overhead")
    chart.polyline([(s.rate, s.p99_ms) for s in r.steps], P99, 2.0, "p99 overhead")
    for s in r.steps:
        if s.p99_ci_ms is not None:
            chart.segment(s.rate, s.p99_ci_ms[0], s.rate, s.p99_ci_ms[1], P99, 1.0, f"p99 CI at {s.rate:g} req/s")
    knee = r.knee
    if knee is not None:
        chart.vline(knee.rate, KNEE, f"knee {knee.rate:g} req/s")
    chart.add_legend("p50", P50, "line")
    chart.add_legend("p99 (95% CI)", P99, "line")
    chart.add_legend("p99 budget", BUDGET, "line")
    return chart.render()


def sweep_page(r: SweepResult) -> str:
    def ms(x: float | None) -> str:
        return "" if x is None else f"{x:.1f}"

    rows = "".join(f"<tr><td>{s.rate:g}</td><td>{s.achieved_rate:.1f}</td><td>{ms(s.p50_ms)}</td>"
                   f"<td>{ms(s.p99_ms)}</td><td>"
                   f"{'saturated' if s.saturated else 'within budget' if s.within_budget else 'over budget'}</td>"
                   f"<td>{esc(s.path)}</td></tr>" for s in r.steps)
    summary = "<br>".join(esc(line) for line in r.lines() if line.startswith(("knee:", "the ")))
    if r.warm_up_s:
        summary += f"<br>each step's first {r.warm_up_s:g} s were its warm-up: sent, and not counted in overhead"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>gatedrill sweep: {esc(r.drill)} on {esc(r.gateway)}</title><style>{CSS}</style></head><body>"
            f'<header class="gate pass"><h1>gatedrill sweep: {esc(r.drill)} on {esc(r.gateway)}</h1></header><main>'
            f'<section id="knee"><h2>Knee</h2><p>{summary}</p></section>'
            f'<section id="rate"><h2>Throughput</h2>{rate_chart(r)}</section>'
            f'<section id="overhead"><h2>Overhead</h2>{overhead_chart(r)}</section>'
            '<section id="steps"><h2>Steps</h2><table class="grid"><tr><th>offered</th><th>achieved</th>'
            f"<th>p50 ms</th><th>p99 ms</th><th>verdict</th><th>run record</th></tr>{rows}</table></section>"
            "</main></body></html>\n")
