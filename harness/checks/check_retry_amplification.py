"""retry_amplification: upstream attempts per client request (overall and during fault windows) against a bound,
`retry-after` honoured (no retry to the same upstream before the wait the fake gave), and no retry storm (a single
request attempted more often than the routing allows)."""

from __future__ import annotations

import math
import statistics
from typing import Any

from ..check_params import RetryAmplificationParams
from ..record import RunRecord
from .fault_windows import advertised_retry_after, fault_windows
from .registry import check
from .verdict import MAX_EVIDENCE, Status, Verdict, inconclusive

NAME = "retry_amplification"



def _single_cap(record: RunRecord, params: RetryAmplificationParams) -> int:
    if params.max_attempts_single is not None:
        return params.max_attempts_single
    routing = record.scenario.gateway.routing
    chain = {t.upstream for t in routing.targets} | set(routing.fallbacks)
    chain |= set(routing.context_window_fallbacks.values())
    return routing.retry.attempts * max(1, len(chain))


def _mean_ci(counts: list[int]) -> list[float]:
    if len(counts) < 2:
        return [float(counts[0]), float(counts[0])] if counts else [math.nan, math.nan]
    mean = statistics.fmean(counts)
    half = 1.96 * statistics.stdev(counts) / math.sqrt(len(counts))
    return [round(mean - half, 4), round(mean + half, 4)]


@check(NAME)
def retry_amplification(record: RunRecord, params: RetryAmplificationParams) -> Verdict:
    """Upstream attempts per client request against a bound; retry-after honoured; no retry storm."""
    clients = record.load_clients()
    if len(clients) < params.min_requests:
        return inconclusive(NAME, f"only {len(clients)} client requests (need {params.min_requests})",
                            sample_size=len(clients))
    t0 = record.load_start()
    by_cid = record.journal_by_correlation()
    windows = fault_windows(record)
    cap = _single_cap(record, params)
    counts, in_fault = [], []
    storms: list[dict[str, Any]] = []
    early: list[dict[str, Any]] = []
    judged_waits = unknown_waits = 0
    for c in clients:
        atts = by_cid.get(c.correlation_id, [])
        counts.append(len(atts))
        sent = c.sent_s or c.intended_s
        if any(w.contains(sent) for w in windows):
            in_fault.append(len(atts))
        if len(atts) > cap:
            storms.append({"correlation_id": c.correlation_id, "attempts": len(atts), "cap": cap,
                           "at_s": round(sent - t0, 3)})
        if not params.honor_retry_after:
            continue
        for i, a in enumerate(atts):
            if a.status not in (429, 503, 529):
                continue
            nxt = next((b for b in atts[i + 1:] if b.upstream == a.upstream), None)
            if nxt is None:
                continue
            wait = advertised_retry_after(a, record, windows)
            if wait is None:
                unknown_waits += 1
                continue
            judged_waits += 1
            answered = a.last_byte_wall or a.first_byte_wall or a.arrival_wall
            waited = nxt.arrival_wall - answered
            if waited + params.tolerance_s < wait:
                early.append({"correlation_id": c.correlation_id, "upstream": a.upstream,
                              "status": a.status, "retry_after_s": wait, "waited_s": round(waited, 4),
                              "at_s": round(a.arrival_wall - t0, 3)})

    mean = statistics.fmean(counts) if counts else math.nan
    mean_fault = statistics.fmean(in_fault) if in_fault else None
    problems = []
    if mean > params.max_attempts_per_request:
        problems.append(f"{mean:.3f} attempts per request > {params.max_attempts_per_request}")
    if mean_fault is not None and mean_fault > params.max_attempts_per_request:
        problems.append(f"{mean_fault:.3f} attempts per request during faults > {params.max_attempts_per_request}")
    if storms:
        problems.append(f"{len(storms)} requests attempted more than {cap} times (retry storm)")
    if early:
        problems.append(f"{len(early)} of {judged_waits} retries came before the upstream's retry-after")
    figures = {
        "attempts_per_request": round(mean, 4), "attempts_per_request_ci95": _mean_ci(counts),
        "attempts_per_request_in_faults": None if mean_fault is None else round(mean_fault, 4),
        "requests_in_faults": len(in_fault), "max_attempts_seen": max(counts),
        "retries_after_wait_judged": judged_waits, "retries_early": len(early),
        "retries_wait_unknown": unknown_waits, "storm_requests": len(storms),
    }
    thresholds = {"max_attempts_per_request": params.max_attempts_per_request, "max_attempts_single": cap,
                  "honor_retry_after": params.honor_retry_after, "tolerance_s": params.tolerance_s}
    evidence = (early[:MAX_EVIDENCE // 2] + storms)[:MAX_EVIDENCE]
    if problems:
        return Verdict(NAME, Status.FAIL, "; ".join(problems), figures, thresholds, len(clients), evidence)
    summary = f"{mean:.3f} attempts per request (bound {params.max_attempts_per_request})"
    if judged_waits:
        summary += f"; all {judged_waits} retries after 429/503 waited the retry-after"
    return Verdict(NAME, Status.PASS, summary, figures, thresholds, len(clients), [])
