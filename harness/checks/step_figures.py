"""Per weight step, what each side did: requests it served, its failed upstream attempts and the gateway's overhead
on its requests, each compared with the baseline side (Fisher's exact test on attempt errors; the one-sided
Mann-Whitney test with its rank-biserial effect size of `arm_statistics.rank_test` on overhead). These are figures
for reading a migration step by step; the checks that gate stay the judges."""

from __future__ import annotations

import math
import statistics
from typing import Any

from ..record import JournalEntry, RunRecord
from .arm_statistics import rank_test
from .check_overhead import overhead_samples
from .weight_periods import Period

MIN_COMPARED = 10  # samples per side below which a comparison is not computed


def baseline_side(periods: list[Period]) -> str | None:
    """The side traffic moves from: the most weighted upstream of the first period."""
    first = periods[0].weights if periods else {}
    return max(first, key=lambda u: first[u]) if first else None


def _errors_compared(mine: tuple[int, int], base: tuple[int, int]) -> float | None:
    """One-sided Fisher's exact p-value that `mine` (failed, attempts) fails more often than `base`."""
    from scipy.stats import fisher_exact

    (f1, n1), (f0, n0) = mine, base
    if min(n1, n0) == 0:
        return None
    return float(fisher_exact([[f1, n1 - f1], [f0, n0 - f0]], alternative="greater").pvalue)


def step_sides(record: RunRecord, periods: list[Period], served: dict[str, str],
               sent: dict[str, float]) -> list[dict[str, Any]]:
    """One row per period: per side, requests served, attempts and failed attempts, overhead p50, and the
    comparison with the baseline side."""
    samples, info = overhead_samples(record)
    overhead = dict(zip(info["ids"]["total"], samples["total"], strict=True))
    attempts: list[JournalEntry] = [e for up in record.scenario.upstreams for e in record.upstream_attempts(up)]
    base = baseline_side(periods)
    rows = []
    for p in periods:
        sides: dict[str, dict[str, Any]] = {}
        names = sorted(set(p.weights) | {u for u in served.values()})
        for u in names:
            mine = [cid for cid, up in served.items() if up == u and p.start_wall <= sent[cid] < p.end_wall]
            tried = [e for e in attempts if e.upstream == u and p.start_wall <= e.arrival_wall < p.end_wall]
            over = [overhead[cid] for cid in mine if cid in overhead]
            if not (mine or tried):
                continue
            sides[u] = {"weight": round(p.weights.get(u, 0.0), 4), "served": len(mine), "attempts": len(tried),
                        "failed_attempts": sum(1 for e in tried if not e.ok),
                        "overhead_p50_ms": round(statistics.median(over), 3) if over else None,
                        "_overhead": over}
        for u, side in sides.items():
            if base is None or u == base or base not in sides:
                continue
            b = sides[base]
            pv = _errors_compared((side["failed_attempts"], side["attempts"]), (b["failed_attempts"], b["attempts"]))
            side["errors_vs_baseline_p"] = None if pv is None else round(pv, 5)
            if min(len(side["_overhead"]), len(b["_overhead"])) >= MIN_COMPARED:
                test = rank_test(side["_overhead"], b["_overhead"])
                side["overhead_vs_baseline"] = {"p_value": round(test["p_value"], 5),
                                                "rank_biserial": round(test["rank_biserial"], 3)}
        for side in sides.values():
            del side["_overhead"]
        rows.append({"start_wall": None if math.isinf(p.start_wall) else p.start_wall,
                     "end_wall": None if math.isinf(p.end_wall) else p.end_wall,
                     "baseline": base, "sides": sides})
    return rows


def step_line(index: int, t0: float, row: dict[str, Any], split: dict[str, Any] | None) -> str:
    """One step as one line: when, the weights, the split's result, and each side's errors and overhead."""
    start = 0.0 if row["start_wall"] is None else row["start_wall"] - t0
    parts = []
    for u, s in row["sides"].items():
        over = "" if s["overhead_p50_ms"] is None else f", overhead p50 {s['overhead_p50_ms']:.1f} ms"
        parts.append(f"{u} w{s['weight']:.0%} served {s['served']}, {s['failed_attempts']}/{s['attempts']} "
                     f"attempts failed{over}")
    if split is None:
        verdict = "split not judged (one upstream carries weight)"
    else:
        verdict = f"split {split['result']} (n={split['n']}, need {split['required_n']}" + (
            f", p={split['p_value']:.2g})" if "p_value" in split else ")")
    return f"step {index} at t+{start:.1f}s: {verdict}; " + "; ".join(parts)
