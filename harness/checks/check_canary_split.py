"""canary_split: does the gateway split traffic across upstreams as its weights say (and keep sticky sessions put)?

Each successful client request counts once, for the upstream that served it. The run is cut into periods at
every `set_weights` the timeline applied (requests within `guard_s` of a change are left out); each period is
judged against its own normalised weights (weight_periods.py): an exact binomial test for two weighted
upstreams, a chi-square sample-ratio-mismatch test for more. alpha is split evenly over the periods (Bonferroni),
or, with `sequential: true`, also spent over `looks` interim looks per period (O'Brien-Fleming-type alpha spending), so
watching a ramp repeatedly does not inflate false alarms. A period too small to detect a `min_detectable`
deviation with `power` is Inconclusive unless it already shows a mismatch. With `routing.sticky: session`, a
session served by two upstreams (fallback replies aside) fails the check. A run with weight changes also gets one
line per step in its figures (`steps`): the step's split result and each side's served requests, failed attempts
and overhead, compared with the side traffic moves from (step_figures.py).
"""

from __future__ import annotations

import math
from typing import Any

from ..check_params import CanarySplitParams
from ..record import ClientRecord, RunRecord
from .registry import check
from .served import load_attempts, served_upstream
from .step_figures import step_line, step_sides
from .verdict import Status, Verdict, capped, inconclusive
from .weight_periods import Period, periods_of

NAME = "canary_split"



def required_n(weights: dict[str, float], delta: float, alpha: float, power: float) -> int:
    """Requests needed to detect any one share off by `delta` (normal approximation; Bonferroni over shares
    when there are more than two)."""
    from scipy import stats

    k = len(weights)
    a = alpha if k <= 2 else alpha / k
    z_a = stats.norm.ppf(1 - a / 2)
    z_b = stats.norm.ppf(power)
    worst = 0.0
    for p0 in weights.values():
        for p1 in (p0 - delta, p0 + delta):
            p1 = min(max(p1, 1e-9), 1 - 1e-9)
            n = ((z_a * math.sqrt(p0 * (1 - p0)) + z_b * math.sqrt(p1 * (1 - p1))) / delta) ** 2
            worst = max(worst, n)
    return math.ceil(worst)


def split_test(counts: dict[str, int], weights: dict[str, float]) -> tuple[str, float, float]:
    """(test name, statistic, p-value) of the observed counts against the weights."""
    from scipy import stats

    names = list(weights)
    n = sum(counts.get(u, 0) for u in names)
    if len(names) == 2:
        k = counts.get(names[1], 0)
        res = stats.binomtest(k, n, weights[names[1]])
        return f"exact binomial ({names[1]} share)", k / n, float(res.pvalue)
    observed = [counts.get(u, 0) for u in names]
    expected = [weights[u] * n for u in names]
    chi = stats.chisquare(observed, expected)
    return "chi-square SRM", float(chi.statistic), float(chi.pvalue)


def obrien_fleming_spend(alpha: float, looks: int) -> list[float]:
    """Per-look alpha for `looks` equally spaced looks: increments of the Lan-DeMets O'Brien-Fleming spending
    function 2 - 2 Phi(z_{alpha/2} / sqrt(t)). They sum to alpha, so the family-wise rate stays at or under it."""
    from scipy import stats

    z = stats.norm.ppf(1 - alpha / 2)
    spent = [2 - 2 * stats.norm.cdf(z / math.sqrt(i / looks)) for i in range(1, looks + 1)]
    return [spent[0]] + [spent[i] - spent[i - 1] for i in range(1, looks)]


def judge_period(p: Period, alpha: float, params: CanarySplitParams) -> dict[str, Any]:
    from scipy import stats

    counts = {u: 0 for u in p.weights}
    for _, u in p.served:
        counts[u] += 1
    n = sum(counts.values())
    need = required_n(p.weights, params.min_detectable, alpha, params.power)
    out: dict[str, Any] = {
        "start_wall": None if math.isinf(p.start_wall) else p.start_wall,
        "end_wall": None if math.isinf(p.end_wall) else p.end_wall,
        "n": n, "required_n": need, "alpha": alpha, "expected": p.weights, "counts": counts,
        "served_without_weight": p.elsewhere,
    }
    if p.effective_wall is not None:
        out["effective_wall"] = p.effective_wall
    if n == 0:
        out["result"] = "no data"
        return out
    shares: dict[str, Any] = {}
    for u, w in p.weights.items():
        ci = stats.binomtest(counts[u], n, w).proportion_ci(params.confidence, method="wilson")
        shares[u] = {"observed": counts[u] / n, "expected": w, "ci": [ci.low, ci.high]}
    out["shares"] = shares
    if params.sequential and params.looks > 1:
        looks = []
        for i, a_i in enumerate(obrien_fleming_spend(alpha, params.looks), start=1):
            upto = p.served[: round(len(p.served) * i / params.looks)]
            c = {u: 0 for u in p.weights}
            for _, u in upto:
                c[u] += 1
            if not upto:
                continue
            test, stat, pv = split_test(c, p.weights)
            looks.append({"look": i, "n": len(upto), "alpha": a_i, "p_value": pv, "reject": pv < a_i})
        out["looks"] = looks
        rejected = next((lk for lk in looks if lk["reject"]), None)
        test, stat, pv = split_test(counts, p.weights)
        out.update(test=test + ", sequential", statistic=stat, p_value=pv)
        out["result"] = "mismatch" if rejected else ("ok" if n >= need else "underpowered")
        if rejected:
            out["rejected_at_look"] = rejected["look"]
        return out
    test, stat, pv = split_test(counts, p.weights)
    out.update(test=test, statistic=stat, p_value=pv)
    out["result"] = "mismatch" if pv < alpha else ("ok" if n >= need else "underpowered")
    return out


def sticky_hops(clients: list[ClientRecord], served: dict[str, str]) -> list[dict[str, Any]]:
    """Sessions whose (non-fallback) requests were served by more than one upstream."""
    by_session: dict[str, list[tuple[float, str, str]]] = {}
    for c in clients:
        cid = c.correlation_id
        if cid not in served or c.headers.get("x-gatedrill-fallback") == "true":
            continue
        by_session.setdefault(c.session_id or cid, []).append((c.sent_s or 0.0, cid, served[cid]))
    hops = []
    for sid, reqs in sorted(by_session.items()):
        if len({u for _, _, u in reqs}) > 1:
            reqs.sort()
            hops.append({"session": sid, "upstreams": [u for _, _, u in reqs], "requests": [c for _, c, _ in reqs],
                         "span_wall": [reqs[0][0], reqs[-1][0]]})
    return hops


@check(NAME)
def canary_split(record: RunRecord, params: CanarySplitParams) -> Verdict:
    """Observed traffic shares per upstream match the configured weights (exact binomial / chi-square SRM)."""
    clients = record.load_clients()
    attempts = load_attempts(record)
    served: dict[str, str] = {}
    sent: dict[str, float] = {}
    for c in clients:
        u = served_upstream(c, attempts.get(c.correlation_id, []))
        if u is not None:
            served[c.correlation_id] = u
            sent[c.correlation_id] = c.sent_s or c.intended_s or 0.0
    if not served:
        return inconclusive(NAME, "no successful client requests to count", len(clients))

    periods = periods_of(record)
    guarded = 0
    for cid in sorted(served, key=lambda k: sent[k]):
        t, u = sent[cid], served[cid]
        if any(abs(t - b) < params.guard_s for b in (p.start_wall for p in periods[1:])):
            guarded += 1
            continue
        p = next(p for p in periods if p.start_wall <= t < p.end_wall)
        if u in p.weights:
            p.served.append((t, u))
        else:
            p.elsewhere[u] = p.elsewhere.get(u, 0) + 1

    judged = [p for p in periods if len(p.weights) >= 2]
    hops = sticky_hops(clients, served) if record.scenario.gateway.routing.sticky == "session" else []
    thresholds = {"alpha": params.alpha, "min_detectable": params.min_detectable, "power": params.power,
                  "sequential": params.sequential, "looks": params.looks if params.sequential else 1}
    alpha = params.alpha / max(1, len(judged))
    results = [judge_period(p, alpha, params) for p in judged]
    n = sum(r["n"] for r in results)
    figures: dict[str, Any] = {"periods": results, "requests_counted": n, "guarded_out": guarded,
                               "sticky": record.scenario.gateway.routing.sticky, "sessions_hopping": len(hops)}
    if len(periods) > 1:  # a ramp: each step's split and what each side did in it, one line per step
        split_of = {id(p): r for p, r in zip(judged, results, strict=True)}
        rows = step_sides(record, periods, served, sent)
        t0 = record.load_start()
        figures["steps"] = [step_line(i, t0, row, split_of.get(id(p)))
                            for i, (p, row) in enumerate(zip(periods, rows, strict=True), start=1)]
        figures["step_sides"] = rows
    if len(results) == 1:
        figures.update({k: results[0][k] for k in ("test", "statistic", "p_value", "shares", "required_n")
                        if k in results[0]})

    evidence: list[dict[str, Any]] = []
    for r in results:
        if r["result"] == "mismatch":
            for u, s in r["shares"].items():
                evidence.append({"period_wall": [r["start_wall"], r["end_wall"]], "upstream": u, **s,
                                 "p_value": r["p_value"], "n": r["n"]})
    for h in hops:
        evidence.append(h)

    if evidence:
        what = []
        if any(r["result"] == "mismatch" for r in results):
            worst = min((r for r in results if r["result"] == "mismatch"), key=lambda r: r["p_value"])
            obs = ", ".join(f"{u} {s['observed']:.1%} (want {s['expected']:.1%})" for u, s in worst["shares"].items())
            what.append(f"split {obs} over {worst['n']} requests, p={worst['p_value']:.2g} < {alpha:.2g}")
        if hops:
            what.append(f"{len(hops)} sticky session(s) served by more than one upstream")
        return Verdict(NAME, Status.FAIL, "; ".join(what), figures, thresholds, n, capped(evidence))
    if not judged:
        return inconclusive(NAME, "fewer than two upstreams carry weight: there is no split to judge", n,
                            **figures)
    if n == 0:
        return inconclusive(NAME, "no request landed in a judged weight period", 0, **figures)
    step_no = [next(i for i, q in enumerate(periods, start=1) if q is p) for p in judged]
    short = [(i, r) for i, r in zip(step_no, results, strict=True) if r["result"] != "ok"]
    if short:
        i, r = short[0]
        where = f" (step {i}{f', and {len(short) - 1} more' if len(short) > 1 else ''})" if len(periods) > 1 else ""
        v = inconclusive(NAME, f"{r['n']} requests in a weight period{where}, {r['required_n']} needed to detect a "
                               f"{params.min_detectable:.0%} deviation with power {params.power:.0%}; no mismatch "
                               f"seen (p={r.get('p_value', float('nan')):.2g})", n, **figures)
        v.thresholds = thresholds
        return v
    desc = "; ".join((f"step {i}: " if len(periods) > 1 else "") + ", ".join(
        f"{u} {s['observed']:.1%} (want {s['expected']:.1%}, CI {s['ci'][0]:.1%}-{s['ci'][1]:.1%})"
        for u, s in r["shares"].items()) for i, r in zip(step_no, results, strict=True))
    pmin = min(r["p_value"] for r in results)
    return Verdict(NAME, Status.PASS, f"split as configured: {desc}; p={pmin:.2g} >= {alpha:.2g}, n={n}",
                   figures, thresholds, n)
