"""The one rule that uses the machine's condition (`harness.host`): a timing check never Fails on a window the host
or the load generator could not serve.

A check in `TIMING_CHECKS` whose figures are latencies or times (`overhead`: client latency; `rollback`: detection
and recovery times; `cutover`: latency around a flip) and that did not Pass in a run with a strained span is
Inconclusive, with the span as its first reason and its own finding kept in the figures, unless it still Fails on a
second look that allows for the machine: `overhead` judged on the requests sent outside the strained spans,
`rollback` with its detection budget raised by the strained time inside each detection interval (and its recovery
budget by all strained time), `cutover` without its latency comparison. Passes stay: a gateway that met its budget
on a busy host met it. Checks that count are not affected: a busy host makes things slower, not miscounted.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..host import run_condition, spans_reason, strained_seconds, unstrained
from ..record import RunRecord
from .verdict import Status, Verdict

TIMING_CHECKS = frozenset({"overhead", "rollback", "cutover"})


def detection_slack(v: Verdict, spans: list[dict[str, Any]], load_start_wall: float) -> float:
    """The most strained time inside any fault window's detection interval (its whole window when never
    detected): at most what a busy machine can have added to a detection time."""
    worst = 0.0
    for w in v.figures.get("windows") or []:
        if w.get("start_wall") is None:
            continue
        a = float(w["start_wall"]) - load_start_wall
        end = a + float(w["detection_s"]) if w.get("detection_s") is not None else \
            float(w.get("end_wall") or math.inf) - load_start_wall
        worst = max(worst, strained_seconds(spans, a, end))
    return worst


def _second_look(v: Verdict, record: RunRecord, spans: list[dict[str, Any]],
                 rejudge: Callable[..., Verdict]) -> Verdict | None:
    """The check judged again as if the machine had been quiet: `overhead` on the requests sent outside the
    strained spans; `rollback` with its time budgets raised by the strained seconds inside each detection."""
    if v.check == "overhead":
        return rejudge(v.check, unstrained(record, spans))
    if v.check == "cutover":  # its latency comparison is the machine's to explain; errors, streams, sessions count
        return rejudge(v.check, record, lambda p: p.model_copy(update={"max_latency_effect": None}))
    if v.check == "rollback":
        slack = detection_slack(v, spans, record.meta.load_start_wall or 0.0)
        total = sum(s["end_s"] - s["start_s"] for s in spans)

        def relaxed(p: Any) -> Any:
            changes: dict[str, Any] = {"max_detection_s": p.max_detection_s + slack}
            if p.max_recovery_s is not None:
                changes["max_recovery_s"] = p.max_recovery_s + total
            return p.model_copy(update=changes)

        return rejudge(v.check, record, relaxed)
    return None


def apply_host_condition(verdicts: list[Verdict], record: RunRecord,
                         rejudge: Callable[..., Verdict] | None = None) -> None:
    """The rule: a timing check that did not Pass in a run with a strained window is Inconclusive, and says why
    first (its own finding follows, and stays in the figures). A Fail gets a second look first (`rejudge(name,
    record, adjust_params=None)`): `overhead` on the requests sent outside the strained spans, `rollback` with its
    time budgets raised by the strained time inside each detection. If it still Fails, the Fail stands: the
    gateway failed by more than the machine can explain."""
    timing = [v for v in verdicts if v.check in TIMING_CHECKS and v.status is not Status.PASS]
    if not timing:
        return
    spans = run_condition(record)["spans"]
    if not spans:
        return
    reasons = spans_reason(spans)
    for v in timing:
        again = _second_look(v, record, spans, rejudge) if v.status is Status.FAIL and rejudge else None
        if again is not None and again.status is Status.FAIL:
            v.figures["host_spans"] = spans
            how = {"overhead": "on the requests outside the strained spans",
                   "cutover": "without its latency comparison"}.get(v.check,
                                                                    "with its time budgets raised by the strained time")
            v.summary = f"{v.summary} (fails even judged {how}: {reasons})"
            continue
        v.figures["finding_on_strained_host"] = {"status": v.status.value, "summary": v.summary}
        v.figures["host_spans"] = spans
        v.status = Status.INCONCLUSIVE
        v.summary = f"{reasons} (timing measured there is the machine's, not only the gateway's; the check found: " \
                    f"{v.summary})"
