"""The overhead chart of the two arms: per series and quantile, the gateway arm's and the same-run control arm's
overhead with their bootstrap CIs, and the budget. Read from the overhead verdict's figures (never recomputed)."""

from __future__ import annotations

from typing import Any

from ..judged import JudgedRun
from .charts import verdict_of
from .svg import Chart

GATEWAY = "#2563eb"
CONTROL = "#6b7280"
BUDGET = "#b91c1c"


def overhead_arms_chart(run: JudgedRun) -> str | None:
    """Dot-and-whisker rows: gateway arm and control arm per series/quantile; None without a control arm."""
    v = verdict_of(run, "overhead")
    if v is None:
        return None
    f = v.figures
    rows: list[tuple[str, str, dict[str, Any], float | None]] = []
    for series in ("total", "ttft"):
        for q in (50, 90, 99):
            ctl = f.get(f"{series}_control_p{q}_ms")
            gw = f.get(f"{series}_p{q}_ms")
            if not ctl or not gw:
                continue
            budget = v.thresholds.get(f"{'ttft_' if series == 'ttft' else ''}p{q}_budget_ms")
            rows.append((f"{series} p{q} gateway", GATEWAY, gw, None))
            rows.append((f"{series} p{q} control", CONTROL, ctl, budget))
    if not rows:
        return None
    top = max(max(r[2]["ci"][1], r[2]["estimate"]) for r in rows)
    budgets = [r[3] + r[2]["estimate"] for r in rows if r[3] is not None]
    hi = max([top, *budgets]) * 1.1 or 1.0
    chart = Chart("Overhead: gateway arm vs same-run control arm (estimate and 95% bootstrap CI)", "overhead (ms)",
                  "", (0.0, hi), (0.0, float(len(rows))), height=96 + 34 * len(rows), left=170,
                  chart_id="overhead-arms", y_ticks=[])
    for i, (label, color, fig, budget) in enumerate(rows):
        y = len(rows) - i - 0.5
        low, high = fig["ci"]
        tip = f"{label}: {fig['estimate']:.1f} ms (CI {low:.1f}-{high:.1f})"
        chart.segment(low, y, high, y, color, 2.0, tip)
        chart.marker(fig["estimate"], y, color, tip, size=4.5)
        chart.y_category(y, label)
        if budget is not None:  # the budget sits on top of the control arm: what the gateway may add to it
            x = fig["estimate"] + budget
            chart.marker(x, y + 0.5, BUDGET, f"control p-estimate + budget {budget:g} ms = {x:.1f} ms",
                         shape="diamond", size=6)
    chart.add_legend("gateway arm", GATEWAY, "marker")
    chart.add_legend("control arm (no gateway)", CONTROL, "marker")
    chart.add_legend("control + budget", BUDGET, "marker")
    return chart.render()
