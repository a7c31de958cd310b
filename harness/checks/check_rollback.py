"""rollback: after a fault starts on an upstream, does the gateway stop sending it steady traffic in time, keep
client errors within budget, probe it while it is out, and bring it back after the fault clears?

Times come from the fakes' journals (ground truth) and the timeline's applied times. Within a fault window an
attempt is a *probe* when no other attempt reached the upstream within `probe_gap_s` either side (a circuit
breaker's half-open request); everything else is steady traffic. Detection time runs from the fault's start to the
last steady attempt in the window (0 when none came); a window still carrying steady traffic at its end was never
detected. Recovery time runs from the fault's clearing to the first run of attempts in which the upstream's share
is back to at least half its configured weight.
"""

from __future__ import annotations

import math
from typing import Any

from ..check_params import RollbackParams
from ..record import WARM_UP, RunRecord
from .fault_windows import FaultWindow, fault_windows
from .registry import check
from .verdict import MAX_EVIDENCE, Status, Verdict, inconclusive

NAME = "rollback"



def _probe_gap(record: RunRecord, params: RollbackParams) -> float:
    if params.probe_gap_s is not None:
        return params.probe_gap_s
    cooldown = record.scenario.gateway.routing.cooldown
    return 0.5 * cooldown.cooldown_s if cooldown.enabled else 0.25


def _configured_share(record: RunRecord, upstream: str) -> float:
    targets = record.scenario.gateway.routing.targets
    total = sum(t.weight for t in targets)
    return sum(t.weight for t in targets if t.upstream == upstream) / total if total > 0 else 0.0


def split_probes(times: list[float], gap: float) -> tuple[list[float], list[float]]:
    """Split sorted arrival times into (steady, probes): a probe has no neighbour closer than `gap`."""
    steady: list[float] = []
    probes: list[float] = []
    for i, t in enumerate(times):
        before = times[i - 1] if i > 0 else -math.inf
        after = times[i + 1] if i + 1 < len(times) else math.inf
        (probes if t - before >= gap and after - t >= gap else steady).append(t)
    return steady, probes


def _window_figures(w: FaultWindow, times: list[float], all_in_window: int, gap: float) -> dict[str, Any]:
    steady, probes = split_probes(times, gap)
    detected_at = steady[-1] if steady else w.start
    # Steady traffic right up to the end of the window means the gateway never stopped sending it.
    never = bool(steady) and w.end - steady[-1] < 2 * gap
    return {
        "detection_s": None if never else round(max(0.0, detected_at - w.start), 3),
        "start_wall": w.start, "end_wall": w.end,
        "attempts": len(times), "steady_attempts": len(steady), "probes": len(probes),
        "probe_times": probes, "share": (len(times) / all_in_window) if all_in_window else None,
    }


def recovery_run(share_cfg: float) -> int:
    """How many consecutive attempts recovery is measured over: enough to see the configured share return."""
    return max(5, min(50, math.ceil(10 / share_cfg)))


def _recovery(record: RunRecord, upstream: str, clear_at: float, until: float, share_cfg: float) -> float | None:
    """Seconds from `clear_at` to the start of the first run of attempts whose share of `upstream` is back."""
    seq = sorted((e.arrival_wall, e.upstream == upstream) for e in record.entries()
                 if e.correlation_id != WARM_UP and clear_at <= e.arrival_wall < until)
    if share_cfg <= 0:
        return None
    n = recovery_run(share_cfg)
    hits = [int(mine) for _, mine in seq]
    for i in range(0, max(0, len(seq) - n + 1)):
        if sum(hits[i:i + n]) / n >= share_cfg / 2:
            return round(seq[i][0] - clear_at, 3)
    return None


@check(NAME)
def rollback(record: RunRecord, params: RollbackParams) -> Verdict:
    """After a fault on an upstream: detection time, share still sent to it, client errors, probes and recovery."""
    up = params.upstream
    if up not in record.scenario.upstreams:
        return inconclusive(NAME, f"upstream {up!r} is not in the scenario")
    windows = fault_windows(record, up)
    if not windows:
        return inconclusive(NAME, f"no fault was applied to {up!r}: the timeline has no set_faults for it")
    t0 = record.load_start()
    gap = _probe_gap(record, params)
    times = [e.arrival_wall for e in record.upstream_attempts(up)]
    every = sorted(e.arrival_wall for e in record.entries() if e.correlation_id != WARM_UP)
    clients = record.load_clients()
    pre = [t for t in times if t < windows[0].start]
    if not pre and _configured_share(record, up) > 0:
        return inconclusive(NAME, f"{up!r} got no traffic before its fault: nothing to stop")

    evidence: list[dict[str, Any]] = []
    problems: list[str] = []
    per_window: list[dict[str, Any]] = []
    in_fault, failed = 0, []
    for w in windows:
        wt = [t for t in times if w.contains(t)]
        n_all = sum(1 for t in every if w.contains(t))
        fig = _window_figures(w, wt, n_all, gap)
        wc = [c for c in clients if w.contains(c.sent_s or c.intended_s)]
        wf = [c for c in wc if c.error_class]
        in_fault += len(wc)
        failed += wf
        row = {"span_s": w.span(t0), "note": w.note, **{k: v for k, v in fig.items() if k != "probe_times"},
               "client_requests": len(wc), "client_errors": len(wf)}
        per_window.append(row)
        if fig["detection_s"] is None:
            problems.append(f"window {w.span(t0)}: steady traffic to {up} never stopped")
            evidence.append({"span_s": w.span(t0), "what": "never stopped", "attempts": fig["attempts"]})
        elif fig["detection_s"] > params.max_detection_s:
            problems.append(f"window {w.span(t0)}: detection {fig['detection_s']} s > {params.max_detection_s} s")
            evidence.append({"span_s": [round(w.start - t0, 3), round(w.start - t0 + fig["detection_s"], 3)],
                             "what": "steady traffic after fault start", "detection_s": fig["detection_s"]})
        room = w.end - w.start - (fig["detection_s"] or 0.0)
        if params.expect_probe is True and fig["probes"] == 0 and room >= 4 * gap:
            problems.append(f"window {w.span(t0)}: no probe reached {up} while it was out")
            evidence.append({"span_s": w.span(t0), "what": "no probe"})
        if params.expect_probe is False and fig["probes"] > 0:
            problems.append(f"window {w.span(t0)}: {fig['probes']} probes reached {up}")
            evidence.append({"span_s": w.span(t0), "what": "probes",
                             "at_s": [round(t - t0, 3) for t in fig["probe_times"][:5]]})
    if in_fault < params.min_requests:
        return inconclusive(NAME, f"only {in_fault} client requests during faults (need {params.min_requests})",
                            sample_size=in_fault, windows=per_window)

    rate = len(failed) / in_fault
    from scipy.stats import binomtest

    ci = binomtest(len(failed), in_fault).proportion_ci(0.95)
    if rate > params.max_client_error_rate:
        problems.append(f"client error rate {rate:.4f} > {params.max_client_error_rate}")
    if params.max_client_errors is not None and len(failed) > params.max_client_errors:
        problems.append(f"{len(failed)} client errors > {params.max_client_errors}")
    for c in failed[:MAX_EVIDENCE - min(len(evidence), MAX_EVIDENCE // 2)]:
        evidence.append({"correlation_id": c.correlation_id, "status": c.status,
                         "error_class": c.error_class, "at_s": round((c.sent_s or 0.0) - t0, 3)})

    share_cfg = _configured_share(record, up)
    last = windows[-1]
    recovery = None
    if last.closed and last.end < record.run_end():
        recovery = _recovery(record, up, last.end, record.run_end(), share_cfg)
        after = [round(last.end - t0, 3), round(record.run_end() - t0, 3)]
        cooldown = record.scenario.gateway.routing.cooldown
        # With a declared cooldown, an upstream that never comes back is a failure whatever the budget, once the
        # run went on long enough after the fault for the cooldown to end and a probe to bring it back.
        room = record.run_end() - last.end
        after_clear = sum(1 for e in record.entries() if e.correlation_id != WARM_UP and e.arrival_wall >= last.end)
        must_return = (cooldown.enabled and room >= cooldown.cooldown_s + 4 * gap and share_cfg > 0
                       and after_clear >= 2 * recovery_run(share_cfg))  # time for a probe, traffic to measure
        if recovery is None and (params.max_recovery_s is not None or must_return):
            problems.append(f"{up} never recovered: its share had not returned {round(room, 1)} s after the fault "
                            "cleared")
            evidence.append({"span_s": after, "what": "never recovered", "recovery_s": None})
        elif recovery is not None and params.max_recovery_s is not None and recovery > params.max_recovery_s:
            problems.append(f"recovery took {recovery} s > {params.max_recovery_s} s after the fault cleared")
            evidence.append({"span_s": after, "what": "share not back in time", "recovery_s": recovery})

    detections = [r["detection_s"] for r in per_window]
    figures = {
        "windows": per_window, "detection_s": None if None in detections else max(detections, default=0.0),
        "client_error_rate": round(rate, 5), "client_error_rate_ci95": [round(ci.low, 5), round(ci.high, 5)],
        "client_errors": len(failed), "probes": sum(r["probes"] for r in per_window),
        "share_in_fault": round(sum(r["attempts"] for r in per_window) / max(1, sum(
            sum(1 for t in every if w.contains(t)) for w in windows)), 4),
        "configured_share": round(share_cfg, 4), "recovery_s": recovery, "probe_gap_s": round(gap, 3),
    }
    thresholds = {"max_detection_s": params.max_detection_s, "max_client_error_rate": params.max_client_error_rate,
                  "max_client_errors": params.max_client_errors, "expect_probe": params.expect_probe,
                  "max_recovery_s": params.max_recovery_s}
    status = Status.FAIL if problems else Status.PASS
    summary = "; ".join(problems) if problems else (
        f"{up} taken out within {figures['detection_s']} s; {len(failed)}/{in_fault} client errors in faults")
    return Verdict(NAME, status, summary, figures, thresholds, in_fault, evidence[:MAX_EVIDENCE])
