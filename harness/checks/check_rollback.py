"""rollback: after a fault starts on an upstream, does the gateway stop sending it steady traffic in time, keep
client errors within budget, probe it while it is out, re-admit it only through a good probe, and bring it back after
the fault clears?

Times come from the fakes' journals (ground truth) and the timeline's applied times. Within a fault window the
upstream's attempts are read as the breaker's transitions (breaker_transitions.py): steady traffic until it opened,
then bursts that each start with a probe sent after the cooldown. Detection time runs from the fault's start to the
end of that first steady traffic; a window whose traffic never paused for a cooldown was never detected. With a
declared cooldown, traffic after a failed probe, or sent before the probe was answered, is a re-admission no
half-open breaker makes; and a breaker that opened before `failures` failed attempts within `window_s` (counted from
the journal, earlier failures included) did not honour the declared threshold, unless one of them told the gateway to
wait (a 429, a retry-after), which a gateway may obey at once (judged where traffic is enough to read a silence and
the breaker was closed when the fault began).
Recovery time runs from the fault's clearing to the first run of attempts in which the upstream's share is back to at
least half the share its weights then ask for (after a `set_weights`, the new ones); with a declared cooldown an
upstream that never comes back fails, budget or not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..check_params import RollbackParams
from ..intent import CooldownPolicy
from ..record import WARM_UP, JournalEntry, RunRecord
from .breaker_transitions import MIN_EXPECTED_IN_GAP, Transitions, full_fault, transitions
from .fault_windows import FaultWindow, advertised_retry_after, fault_windows
from .registry import check
from .verdict import MAX_EVIDENCE, Status, Verdict, inconclusive
from .weight_periods import share_at

NAME = "rollback"



def probe_gap(cooldown: CooldownPolicy, params: RollbackParams) -> float:
    """The silence that marks the breaker open: most of the declared cooldown (a probe comes after it)."""
    if params.probe_gap_s is not None:
        return params.probe_gap_s
    return 0.9 * cooldown.cooldown_s if cooldown.enabled else 0.25




def _window_figures(w: FaultWindow, tr: Transitions, attempts: int, all_in_window: int) -> dict[str, Any]:
    return {
        "detection_s": None if tr.opened_at is None else round(max(0.0, tr.opened_at - w.start), 3),
        "start_wall": w.start, "end_wall": w.end,
        "attempts": attempts, "steady_attempts": tr.steady_attempts, "probes": tr.probes,
        "probes_ok": sum(1 for r in tr.readmissions if r.probe_ok),
        "probe_times": [r.probe_at for r in tr.readmissions],
        "share": (attempts / all_in_window) if all_in_window else None,
    }


def failures_before_opening(record: RunRecord, attempts: list[JournalEntry], opened_at: float, window_s: float,
                             windows: list[FaultWindow]) -> tuple[int, bool]:
    """Failed attempts that arrived within `window_s` up to the breaker's opening, and whether any of them told the
    gateway to wait (retry-after, or a 429's default), which a gateway may obey by taking the upstream out at once."""
    failed = [e for e in attempts if not e.ok and opened_at - window_s <= e.arrival_wall <= opened_at]
    return len(failed), any(e.status == 429 or advertised_retry_after(e, record, windows) is not None for e in failed)


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


def where(w: FaultWindow, t0: float) -> str:
    return f"window {w.span(t0)}" + (f" ({w.note})" if w.note else "")


def _unanswered(e: JournalEntry) -> bool:
    """An attempt the upstream never answered (a hang): no status and no byte back."""
    return not e.status and e.last_byte_wall is None and e.first_byte_wall is None


@dataclass
class _Window:
    """One fault window's transitions and figures, judged against the check's parameters."""

    w: FaultWindow
    tr: Transitions
    fig: dict[str, Any]
    t0: float
    up: str
    gap: float
    cooldown_s: float | None
    judge_readmission: bool
    opened_after: int | None = None  # failed attempts before an opening the threshold did not allow, else None
    threshold: str = ""  # the declared one ("3 within 5 s"), for the problem's words

    def judge(self, params: RollbackParams) -> tuple[list[str], list[dict[str, Any]]]:
        w, tr, fig, t0, up = self.w, self.tr, self.fig, self.t0, self.up
        where_ = where(w, t0)
        problems: list[str] = []
        evidence: list[dict[str, Any]] = []
        if fig["detection_s"] is None:
            problems.append(f"{where_}: steady traffic to {up} never stopped")
            evidence.append({"span_s": w.span(t0), "what": "never stopped", "attempts": fig["attempts"]})
        elif fig["detection_s"] > params.max_detection_s:
            problems.append(f"{where_}: detection {fig['detection_s']} s > {params.max_detection_s} s")
            evidence.append({"span_s": [round(w.start - t0, 3), round(w.start - t0 + fig["detection_s"], 3)],
                             "what": "steady traffic after fault start", "detection_s": fig["detection_s"]})
        if self.opened_after is not None:
            problems.append(f"{where_}: {up} was taken out after {self.opened_after} failed attempts; the intent "
                            f"declares {self.threshold}")
            evidence.append({"span_s": w.span(t0), "what": "opened early", "failures": self.opened_after,
                             "opened_at_s": round((tr.opened_at or w.start) - t0, 3)})
        room = w.end - (tr.opened_at if tr.opened_at is not None else w.end)
        probe_room = (self.cooldown_s if self.cooldown_s is not None else self.gap) * 1.5 + 1.0
        if params.expect_probe is True and tr.probes == 0 and room >= probe_room:
            problems.append(f"{where_}: no probe reached {up} while it was out")
            evidence.append({"span_s": w.span(t0), "what": "no probe"})
        if params.expect_probe is False and tr.probes > 0:
            problems.append(f"{where_}: {tr.probes} probes reached {up}")
            evidence.append({"span_s": w.span(t0), "what": "probes",
                             "at_s": [round(t - t0, 3) for t in fig["probe_times"][:5]]})
        bad = tr.violations() if self.judge_readmission else []
        if bad:
            problems.append(f"{where_}: {up} was re-admitted without a good probe ({bad[0]})")
            evidence.append({"span_s": w.span(t0), "what": "re-admitted without a good probe", "details": bad[:5],
                             "probes_at_s": [round(t - t0, 3) for t in fig["probe_times"][:5]]})
        return problems, evidence


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
    gap = probe_gap(record.scenario.gateway.routing.cooldown, params)
    attempts = record.upstream_attempts(up)
    times = [e.arrival_wall for e in attempts]
    every = sorted(e.arrival_wall for e in record.entries() if e.correlation_id != WARM_UP)
    clients = record.load_clients()
    pre = [t for t in times if t < windows[0].start]
    if not pre and share_at(record, up, windows[0].start) > 0:
        return inconclusive(NAME, f"{up!r} got no traffic before its fault: nothing to stop")

    evidence: list[dict[str, Any]] = []
    problems: list[str] = []
    per_window: list[dict[str, Any]] = []
    in_fault, failed = 0, []
    cooldown = record.scenario.gateway.routing.cooldown
    pre_rate = len(pre) / max(1e-9, windows[0].start - t0)  # attempts/s to it before the fault
    judge_readmission = cooldown.enabled and pre_rate * gap >= MIN_EXPECTED_IN_GAP
    iso = min(gap, 0.5 * cooldown.cooldown_s) if cooldown.enabled else gap  # a lone probe's silence after it
    limits = [lim for lim in record.meta.gateway.limitations if lim.phases and NAME in lim.checks]
    excused: list[str] = []  # problems in windows a phased limitation predicted, or left over from one
    held: list[tuple[JournalEntry, str]] = []  # unanswered attempts sent in such windows, with the reason

    def holder(t: float) -> str | None:
        """The reason of an excused window whose attempt was still unanswered at `t` (a hung probe holds a
        half-open breaker, so nothing else can probe: its silence after is that window's consequence)."""
        return next((reason for e, reason in held if e.arrival_wall < t and _unanswered(e)), None)

    for w in windows:
        wa = [e for e in attempts if w.contains(e.arrival_wall)]
        partial = any(e.ok for e in wa)
        tr = transitions(wa, w.start, w.end, gap) if partial else full_fault(wa, w.start, w.end, gap, iso,
                                                                                     judge_readmission)
        fig = _window_figures(w, tr, len(wa), sum(1 for t in every if w.contains(t)))
        wc = [c for c in clients if w.contains(c.sent_s or c.intended_s)]
        wf = [c for c in wc if c.error_class]
        # Judged only where a silence of `gap` must be the breaker (judge_readmission: else a natural pause looks like
        # one), and only for a breaker closed when the fault began: the upstream's last attempt before it succeeded.
        # After an earlier fault the first attempt may be a probe, and a failed probe re-opens at once.
        last_before = next((e for e in reversed(attempts) if e.arrival_wall < w.start), None)  # sorted by arrival
        closed = last_before is not None and last_before.ok
        early: int | None = None
        if judge_readmission and closed and cooldown.failures > 1 and tr.opened_at is not None and tr.steady_attempts:
            n, told_to_wait = failures_before_opening(record, attempts, tr.opened_at, cooldown.window_s, windows)
            early = n if n < cooldown.failures and not told_to_wait else None
        ctx = _Window(w, tr, fig, t0, up, gap, cooldown.cooldown_s if cooldown.enabled else None, judge_readmission,
                      early, f"{cooldown.failures} within {cooldown.window_s:g} s")
        w_problems, w_evidence = ctx.judge(params)
        reason = next((f"{lim.feature}: {lim.reason}" for lim in limits if lim.covers(NAME, w.note)), None)
        if reason is None and (cause := holder(w.start)) is not None and w_problems:
            kept = [(p, e) for p, e in zip(w_problems, w_evidence, strict=True) if e["what"] != "no probe"]
            if len(kept) < len(w_problems):
                excused.append(f"{where(w, t0)}: no probe, while an attempt of an expected-failure window was "
                               f"still unanswered (expected: {cause})")
                w_problems, w_evidence = [p for p, _ in kept], [e for _, e in kept]
        row = {"span_s": w.span(t0), "note": w.note, **{k: v for k, v in fig.items() if k != "probe_times"},
               "client_requests": len(wc), "client_errors": len(wf),
               "status": "pass" if not w_problems else ("expected_failure" if reason else "fail")}
        per_window.append(row)
        if reason is not None:  # judged and shown, but not counted: the gateway declared it cannot do this here
            held += [(e, reason) for e in wa if _unanswered(e)]
            excused += [f"{p} (expected: {reason})" for p in w_problems]
            evidence += [{**e, "expected_failure": reason} for e in w_evidence]
            continue
        problems += w_problems
        evidence += w_evidence
        in_fault += len(wc)
        failed += wf
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

    share_cfg = share_at(record, up, windows[-1].end)  # the weights in effect when the last fault cleared
    last = windows[-1]
    recovery = None
    if last.closed and last.end < record.run_end():
        recovery = _recovery(record, up, last.end, record.run_end(), share_cfg)
        after = [round(last.end - t0, 3), round(record.run_end() - t0, 3)]
        # With a declared cooldown, an upstream that never comes back is a failure whatever the budget, once the
        # run went on long enough after the fault for the cooldown to end and a probe to bring it back.
        room = record.run_end() - last.end
        after_clear = sum(1 for e in record.entries() if e.correlation_id != WARM_UP and e.arrival_wall >= last.end)
        must_return = (cooldown.enabled and room >= 3 * cooldown.cooldown_s and share_cfg > 0
                       and after_clear >= 2 * recovery_run(share_cfg))  # time for a probe, traffic to measure
        cause = holder(last.end)
        if recovery is None and cause is not None:
            excused.append(f"{up} never recovered while an attempt of an expected-failure window was still "
                           f"unanswered (expected: {cause})")
        elif recovery is None and (params.max_recovery_s is not None or must_return):
            problems.append(f"{up} never recovered: its share had not returned {round(room, 1)} s after the fault "
                            "cleared")
            evidence.append({"span_s": after, "what": "never recovered", "recovery_s": None})
        elif recovery is not None and params.max_recovery_s is not None and recovery > params.max_recovery_s:
            problems.append(f"recovery took {recovery} s > {params.max_recovery_s} s after the fault cleared")
            evidence.append({"span_s": after, "what": "share not back in time", "recovery_s": recovery})

    detections = [r["detection_s"] for r in per_window if r["status"] != "expected_failure"]
    figures = {
        "windows": per_window, "detection_s": None if None in detections else max(detections, default=0.0),
        "client_error_rate": round(rate, 5), "client_error_rate_ci95": [round(ci.low, 5), round(ci.high, 5)],
        "client_errors": len(failed), "probes": sum(r["probes"] for r in per_window),
        "share_in_fault": round(sum(r["attempts"] for r in per_window) / max(1, sum(
            sum(1 for t in every if w.contains(t)) for w in windows)), 4),
        "configured_share": round(share_cfg, 4), "recovery_s": recovery, "probe_gap_s": round(gap, 3),
        "readmission_judged": judge_readmission,
    }
    thresholds = {"max_detection_s": params.max_detection_s, "max_client_error_rate": params.max_client_error_rate,
                  "max_client_errors": params.max_client_errors, "expect_probe": params.expect_probe,
                  "max_recovery_s": params.max_recovery_s}
    figures["expected_failures"] = excused
    if problems:
        summary = "; ".join(problems) + (f"; also {len(excused)} expected: " + "; ".join(excused) if excused else "")
        return Verdict(NAME, Status.FAIL, summary, figures, thresholds, in_fault, evidence[:MAX_EVIDENCE])
    if excused:
        ok = [r for r in per_window if r["status"] == "pass"]
        summary = "; ".join(excused) + f"; the other {len(ok)} fault windows passed"
        verdict = Verdict(NAME, Status.FAIL, summary, figures, thresholds, in_fault, evidence[:MAX_EVIDENCE])
        verdict.expected_failure = "; ".join(sorted({e["expected_failure"] for e in evidence
                                                     if "expected_failure" in e}))
        return verdict
    summary = f"{up} taken out within {figures['detection_s']} s; {len(failed)}/{in_fault} client errors in faults"
    return Verdict(NAME, Status.PASS, summary, figures, thresholds, in_fault, evidence[:MAX_EVIDENCE])
