"""What a release comparison reads from one run record: per-request samples and counts, and the run's verdicts.

All record access for `gatedrill compare` is here (so a typed run record changes one module).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from ..checks import Verdict, judge
from ..checks.check_overhead import control_samples, overhead_samples
from ..checks.served import load_attempts, served_upstream
from ..host import run_condition, spans_reason, unstrained
from ..record import RunRecord


@dataclass
class CalmOverhead:
    """A strained run's overhead on the requests sent outside its strained spans: the second look the machine-
    condition rule gives a timing finding (`checks.machine_condition`), here for a release comparison."""

    reason: str  # the strained spans, as the run's verdicts word them
    overhead: dict[str, list[float]]
    control_median: dict[str, float | None]


@dataclass
class RunMetrics:
    path: str
    drill: str
    gateway: str
    seed: int
    overhead: dict[str, list[float]]  # "total", "ttft": gateway-arm overhead per request, ms
    control_median: dict[str, float | None]  # the same-run control arm's median overhead per series, ms
    requests: int
    errors: int
    served: dict[str, int]  # upstream -> successful requests it served
    attempts: list[int]  # upstream attempts per client request
    rollback: dict[str, float | None] = field(default_factory=dict)  # detection_s, recovery_s
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    calm: CalmOverhead | None = None  # None: no window of the run was strained


def _control_median(record: RunRecord) -> dict[str, float | None]:
    return {k: statistics.median(v) if len(v) >= 20 else None for k, v in control_samples(record).items()}


def run_metrics(record: RunRecord, overrides: dict[str, dict[str, Any]] | None = None) -> RunMetrics:
    samples, _ = overhead_samples(record)
    spans = run_condition(record)["spans"]
    calm = None
    if spans:
        quiet = unstrained(record, spans)
        calm = CalmOverhead(spans_reason(spans), overhead_samples(quiet)[0], _control_median(quiet))
    clients = record.load_clients()
    attempts = load_attempts(record)
    served: dict[str, int] = {}
    errors = 0
    per_request: list[int] = []
    for c in clients:
        mine = attempts.get(c.correlation_id, [])
        per_request.append(len(mine))
        u = served_upstream(c, mine)
        if u is None:
            errors += 1
        else:
            served[u] = served.get(u, 0) + 1
    verdicts = {v.check: v for v in judge(record, overrides)}
    rollback: dict[str, float | None] = {}
    if "rollback" in verdicts:
        f = verdicts["rollback"].figures
        rollback = {"detection_s": f.get("detection_s"), "recovery_s": f.get("recovery_s")}
    gw = record.meta.gateway
    kind = (gw.kind or "?") + (f" mutant {gw.mutant}" if gw.mutant else "")
    return RunMetrics(
        path=str(record.path), drill=record.scenario.name, gateway=kind, seed=record.scenario.seed,
        overhead={"total": samples["total"], "ttft": samples["ttft"]},
        control_median=_control_median(record),
        requests=len(clients), errors=errors, served=served, attempts=per_request, rollback=rollback,
        verdicts=verdicts, calm=calm)
