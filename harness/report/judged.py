"""A judged run: the run record plus the verdicts its checks gave, the one input every report reads.

Judging happens once, here; reports only read the verdicts (they never recompute one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..checks import REGISTRY, Verdict, gate, judge, parse_overrides
from ..record import RunRecord

LABELS = {"pass": "PASS", "fail": "FAIL", "inconclusive": "INCONCLUSIVE"}


@dataclass
class JudgedRun:
    """A run record and its verdicts. `not_judged` names checks the scenario asks for that this version lacks."""

    record: RunRecord
    verdicts: list[Verdict]
    allow_inconclusive: bool = False
    not_judged: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """The gate: what the exit code says (a check not available in this version never counts as a pass)."""
        return gate(self.verdicts, inconclusive_fails=not self.allow_inconclusive) and not self.not_judged

    @property
    def drill(self) -> str:
        return str(self.record.meta.get("scenario") or self.record.scenario.name)


def judge_run(run_dir: str | Path, sets: list[str] | None = None, allow_inconclusive: bool = False) -> JudgedRun:
    """Load a run record and judge it with the checks its scenario lists, plus `--set check.param=value` items."""
    record = RunRecord.load(run_dir)
    overrides = parse_overrides(list(sets or []), record.scenario.checks)
    missing = [name for name in {**record.scenario.checks, **overrides} if name not in REGISTRY]
    for name in missing:  # named in CHECK_NAMES but not built yet: say so, never count it as a pass
        record.scenario.checks.pop(name, None)
        overrides.pop(name, None)
    return JudgedRun(record, judge(record, overrides), allow_inconclusive, missing)


def expected_failure(v: Verdict) -> str | None:
    """Why a gateway limitation predicts this check fails (None when none does)."""
    reason: Any = getattr(v, "expected_failure", None)
    return str(reason) if reason else None


def label(v: Verdict) -> str:
    """PASS, FAIL, INCONCLUSIVE; XFAIL for a Fail a gateway limitation predicted, PASS* for a Pass despite one."""
    if expected_failure(v):
        return {"pass": "PASS*", "fail": "XFAIL"}.get(v.status.value, LABELS[v.status.value])
    return LABELS[v.status.value]


def counts_against_gate(v: Verdict, allow_inconclusive: bool) -> bool:
    """Does this verdict fail the gate (critical Fail not predicted, or Inconclusive when that counts)?"""
    if not v.critical:
        return False
    if v.status.value == "fail":
        return not expected_failure(v)
    return v.status.value == "inconclusive" and not allow_inconclusive
