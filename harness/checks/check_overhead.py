"""overhead: what the gateway adds to each request, against budgets, and whether the canary is slower (Kayenta).

Per request served in one upstream attempt, matched on the correlation id (monotonic clocks, which are
system-wide on Linux; wall clocks only when a monotonic time is missing):
- total overhead = client (sent -> end) minus the attempt's upstream time (fake arrival -> last byte);
- TTFT overhead (streams) = client (sent -> first content) minus (fake arrival -> first byte).
Requests the gateway made more than one attempt for (its `x-gatedrill-attempts`, else the journal's count) are
left out, and counted: retry waits are policy, not overhead.
p50/p90/p99 of each come with seeded percentile-bootstrap CIs. A budget Fails only when the CI's lower
bound is above it, Passes when the upper bound is within it, and is Inconclusive when the CI straddles it, or when
the series has fewer samples than bound that quantile from above (`sample_size.py`: 368 for p99 at 95%) and its
lower bound is within the budget.

With `against: control` (the default) a budget bounds what the gateway adds beyond the same-run control arm
(`harness.control_arm`: the same requests sent straight to a fake): the figure judged is the gateway arm's
quantile minus the control arm's, with a bootstrap CI over both arms (`arm_statistics.py`), and a Mann-Whitney
test with its rank-biserial effect size is reported beside it. Host noise slows both arms, so it cancels. A run
without a control arm (or with fewer than `min_samples` control requests in a series) is judged against the
absolute budget, and says so; `against: absolute` asks for that always.

When two or more upstreams served traffic, each non-baseline upstream's client latency (sent -> end) is
compared with the baseline's (the most weighted upstream, the first declared on a tie, unless `baseline` is
set): a one-sided Mann-Whitney U test, gated on effect size (rank-biserial correlation above `max_effect`):
slower and significant and large is a Fail; a significant but small shift only shows in the figures.
"""

from __future__ import annotations

import math
from typing import Any

from ..check_params import OverheadParams
from ..record import ClientRecord, JournalEntry, RunRecord
from .arm_statistics import quantile_difference_ci, rank_test
from .registry import check
from .sample_size import quantile_sample_size
from .served import load_attempts, serving_attempt
from .verdict import Status, Verdict, capped, inconclusive

NAME = "overhead"
QUANTILES = (50, 90, 99)


def overhead_samples(record: RunRecord, exclude_first_s: float = 0.0) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Overhead in ms per request (`total`, `ttft`) and (`latency:UPSTREAM`) client latency per serving upstream."""
    return _overhead(record.load_clients(), load_attempts(record), record.meta.load_start_wall, exclude_first_s)


def control_samples(record: RunRecord, exclude_first_s: float = 0.0) -> dict[str, list[float]]:
    """The control arm's `total` and `ttft` overhead in ms: client time minus the control fake's own time (the
    network, the fake's HTTP layer and the generator, without the gateway)."""
    samples, _ = _overhead(record.control_clients, record.control_attempts(), record.meta.load_start_wall,
                           exclude_first_s)
    return {"total": samples["total"], "ttft": samples["ttft"]}


def _overhead(clients: list[ClientRecord], attempts: dict[str, list[JournalEntry]], start: float | None,
              exclude_first_s: float) -> tuple[dict[str, list[float]], dict[str, Any]]:
    out: dict[str, list[float]] = {"total": [], "ttft": []}
    ids: dict[str, list[str]] = {"total": [], "ttft": []}
    skipped = {"failed": 0, "multi_attempt": 0, "no_attempt": 0, "early": 0}
    for c in clients:
        if exclude_first_s and start is not None and (c.sent_s or 0.0) - start < exclude_first_s:
            skipped["early"] += 1
            continue
        if not (200 <= c.status < 300) or c.error_class:
            skipped["failed"] += 1
            continue
        mine = attempts.get(c.correlation_id, [])
        a = serving_attempt(c, mine)
        if a is None:
            skipped["no_attempt"] += 1
            continue
        sent, end = c.sent_mono, c.end_mono  # monotonic: system-wide, so they compare with the fakes' times
        arrival, last, first = a.arrival_mono, a.last_byte_mono, a.first_byte_mono
        out.setdefault(f"latency:{a.upstream}", []).append((end - sent) * 1000)
        if (c.attempts if c.attempts is not None else len(mine)) != 1:
            skipped["multi_attempt"] += 1
            continue
        if arrival is None or last is None:
            skipped["no_attempt"] += 1
            continue
        out["total"].append(((end - sent) - (last - arrival)) * 1000)
        ids["total"].append(c.correlation_id)
        if c.stream and c.ttft_mono is not None and first is not None:
            out["ttft"].append(((c.ttft_mono - sent) - (first - arrival)) * 1000)
            ids["ttft"].append(c.correlation_id)
    return out, {"skipped": skipped, "ids": ids}


def quantile_ci(values: list[float], q: float, confidence: float, n_resamples: int, seed: int) -> tuple[float, float,
                                                                                                         float]:
    """(estimate, CI low, CI high) of the q-th percentile, by a seeded percentile bootstrap."""
    import numpy as np
    from scipy import stats

    data = np.asarray(values, dtype=float)
    est = float(np.percentile(data, q))
    if np.ptp(data) == 0:
        return est, est, est
    res = stats.bootstrap((data,), lambda x, axis: np.percentile(x, q, axis=axis), n_resamples=n_resamples,
                          confidence_level=confidence, method="percentile", vectorized=True,
                          random_state=np.random.default_rng(seed), batch=max(1, 2_000_000 // max(1, len(data))))
    ci = res.confidence_interval
    return est, float(ci.low), float(ci.high)


def judge_budget(est: float, low: float, high: float, budget: float) -> str:
    if low > budget:
        return "fail"
    if high <= budget:
        return "pass"
    return "inconclusive"


def compare_latency(base: list[float], other: list[float], params: OverheadParams) -> dict[str, Any]:
    """One-sided Mann-Whitney U (other slower than base) with a rank-biserial effect-size gate."""
    import numpy as np
    from scipy import stats

    res = stats.mannwhitneyu(other, base, alternative="greater")
    effect = 2 * float(res.statistic) / (len(other) * len(base)) - 1  # > 0: other tends to be slower
    med_b, med_o = float(np.median(base)), float(np.median(other))
    out: dict[str, Any] = {
        "n_baseline": len(base), "n_canary": len(other), "u": float(res.statistic), "p_value": float(res.pvalue),
        "rank_biserial": effect, "median_baseline_ms": med_b, "median_canary_ms": med_o,
        "median_shift": (med_o - med_b) / med_b if med_b > 0 else math.nan}
    if min(len(base), len(other)) < params.min_samples:
        out["result"] = "inconclusive"
    elif res.pvalue < params.compare_alpha and effect > params.max_effect:
        out["result"] = "fail"
    else:
        out["result"] = "pass"
    return out


@check(NAME)
def overhead(record: RunRecord, params: OverheadParams) -> Verdict:
    """Gateway overhead per request (client minus upstream time) within budgets; canary no slower than baseline."""
    samples, info = overhead_samples(record, params.exclude_first_s)
    control = control_samples(record, params.exclude_first_s) if params.against == "control" else {}
    budgets = {("total", q): getattr(params, f"p{q}_budget_ms") for q in QUANTILES}
    budgets |= {("ttft", q): getattr(params, f"ttft_p{q}_budget_ms") for q in QUANTILES}
    figures: dict[str, Any] = {"skipped": info["skipped"], "n_total": len(samples["total"]),
                               "n_ttft": len(samples["ttft"]), "clock": "monotonic",
                               "n_control_total": len(control.get("total", [])),
                               "n_control_ttft": len(control.get("ttft", []))}
    thresholds: dict[str, Any] = {f"{'ttft_' if s == 'ttft' else ''}p{q}_budget_ms": b
                                  for (s, q), b in budgets.items() if b is not None}
    thresholds |= {"confidence": params.confidence, "min_samples": params.min_samples, "against": params.against}
    results: list[str] = []
    evidence: list[dict[str, Any]] = []
    notes: list[str] = []
    for series in ("total", "ttft"):
        values = samples[series]
        if not values:
            continue
        ctl = control.get(series, [])
        relative = len(ctl) >= params.min_samples
        if params.against == "control":
            figures[f"{series}_judged_against"] = "control" if relative else \
                f"absolute (control arm has {len(ctl)} samples < {params.min_samples})"
        if relative:
            figures[f"{series}_arms"] = rank_test(values, ctl)
        for q in QUANTILES:
            est, low, high = quantile_ci(values, q, params.confidence, params.n_resamples, params.seed)
            figures[f"{series}_p{q}_ms"] = {"estimate": est, "ci": [low, high]}
            if relative:
                c_est, c_low, c_high = quantile_ci(ctl, q, params.confidence, params.n_resamples, params.seed)
                figures[f"{series}_control_p{q}_ms"] = {"estimate": c_est, "ci": [c_low, c_high]}
                est, low, high = quantile_difference_ci(values, ctl, q, params.confidence, params.n_resamples,
                                                        params.seed)
                figures[f"{series}_p{q}_vs_control_ms"] = {"estimate": est, "ci": [low, high]}
            budget = budgets[(series, q)]
            if budget is None:
                continue
            need = max(params.min_samples, quantile_sample_size(q, params.confidence))
            r = judge_budget(est, low, high, budget)
            if len(values) < need and r != "fail":  # too few to bound it from above; a lower bound over budget fails
                results.append("inconclusive")
                notes.append(f"{series} p{q}: {len(values)} samples, {need} needed to bound p{q} at "
                             f"{params.confidence:.0%}")
                continue
            results.append(r)
            if r != "pass":
                what = "beyond the control arm " if relative else ""
                notes.append(f"{series} overhead p{q} {what}{est:.1f} ms (CI {low:.1f}-{high:.1f}) vs budget "
                             f"{budget} ms")
            if r == "fail":
                worst = sorted(zip(values, info["ids"][series], strict=True), reverse=True)
                evidence.append({"series": series, "quantile": q, "estimate_ms": est, "ci_ms": [low, high],
                                 "budget_ms": budget, "against": "control" if relative else "absolute",
                                 "slowest": [{"request": cid, "overhead_ms": v} for v, cid in worst[:10]]})
    judged = [s for (s, _), b in budgets.items() if b is not None]
    if any(not samples[s] for s in judged):
        results.append("inconclusive")
        notes.append("no samples for a budgeted series: " + ", ".join(sorted({s for s in judged if not samples[s]})))

    latency = {k.split(":", 1)[1]: v for k, v in samples.items() if k.startswith("latency:")}
    if params.compare and len(latency) >= 2:
        weights: dict[str, float] = {}
        for t in record.scenario.gateway.routing.targets:
            weights[t.upstream] = weights.get(t.upstream, 0.0) + t.weight
        order = list(weights)  # equal weights: the first declared target is the baseline
        base = params.baseline or max(latency, key=lambda u: (weights.get(u, 0.0),
                                                              -order.index(u) if u in order else -len(order)))
        comparisons = {}
        if base in latency:
            for u in sorted(latency):
                if u == base:
                    continue
                comparison = compare_latency(latency[base], latency[u], params)
                comparisons[u] = comparison
                results.append(comparison["result"])
                if comparison["result"] == "fail":
                    notes.append(f"{u} slower than {base}: median {comparison['median_canary_ms']:.1f} vs "
                                 f"{comparison['median_baseline_ms']:.1f} ms, rank-biserial "
                                 f"{comparison['rank_biserial']:.2f} > "
                                 f"{params.max_effect}, p={comparison['p_value']:.2g}")
                    evidence.append({"comparison": f"{u} vs {base}", **comparison})
                elif comparison["result"] == "inconclusive":
                    notes.append(f"{u} vs {base}: too few samples to compare ({comparison['n_canary']}, "
                                 f"{comparison['n_baseline']})")
        figures["comparison"] = {"baseline": base, "canaries": comparisons}
        thresholds |= {"compare_alpha": params.compare_alpha, "max_effect": params.max_effect}
    else:
        figures["comparison"] = "skipped: fewer than two upstreams served traffic" if params.compare else "off"

    n = len(samples["total"])
    if not results:
        if n == 0:
            return inconclusive(NAME, "no single-attempt successful requests to measure", 0, **figures)
        return Verdict(NAME, Status.PASS, f"overhead p99 {figures['total_p99_ms']['estimate']:.1f} ms over {n} "
                                          "requests (no budget set)", figures, thresholds, n)
    if "fail" in results:
        return Verdict(NAME, Status.FAIL, "; ".join(notes), figures, thresholds, n, capped(evidence))
    if "inconclusive" in results:
        v = inconclusive(NAME, "; ".join(notes), n, **figures)
        v.thresholds = thresholds
        return v
    desc = ", ".join(_judged_figure(figures, s, q, b) for (s, q), b in budgets.items() if b is not None)
    return Verdict(NAME, Status.PASS, f"within budget over {n} requests: {desc}" if desc else
                   f"canary latency no worse than baseline ({n} requests)", figures, thresholds, n)


def _judged_figure(figures: dict[str, Any], series: str, q: int, budget: float) -> str:
    """How a passed budget reads: against the control arm when it was judged so, else absolute."""
    rel = figures.get(f"{series}_p{q}_vs_control_ms")
    fig = rel or figures[f"{series}_p{q}_ms"]
    what = " beyond control" if rel else ""
    return f"{series} p{q}{what} {fig['estimate']:.1f} ms (CI up to {fig['ci'][1]:.1f}) <= {budget}"
