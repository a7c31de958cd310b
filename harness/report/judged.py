"""A judged run: the run record plus the verdicts its checks gave, the one input every report reads and what
`gatedrill run`, `gatedrill check`, the pytest plugin and `drill()` hand back.

Judging happens once, here; reports only read the verdicts (they never recompute one), and the gate is
`Verdict.outcome`'s rule applied to every verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..checks import Outcome, Verdict, judge, parse_overrides
from ..record import RunRecord


@dataclass
class JudgedRun:
    """A run record and its verdicts. `not_judged` names checks the scenario asks for that this version lacks."""

    record: RunRecord
    verdicts: list[Verdict]
    allow_inconclusive: bool = False
    not_judged: list[str] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return self.record.path

    @property
    def drill(self) -> str:
        return self.record.meta.scenario or self.record.scenario.name

    def outcome(self, v: Verdict) -> Outcome:
        return v.outcome(self.allow_inconclusive)

    def against_gate(self) -> list[str]:
        """The checks that fail the gate: a verdict whose outcome is FAILED, and a check this version lacks."""
        return [v.check for v in self.verdicts if self.outcome(v) is Outcome.FAILED] + self.not_judged

    @property
    def passed(self) -> bool:
        """The gate: what the exit code says (a check not available in this version never counts as a pass)."""
        return not self.against_gate()

    def verdict(self, name: str) -> Verdict:
        for v in self.verdicts:
            if v.check == name:
                return v
        raise KeyError(f"no verdict for check {name!r}; this drill judged: {[v.check for v in self.verdicts]}")

    def summary(self) -> str:
        """One line per verdict: label, check, summary."""
        return "\n".join(f"{v.label:13s} {v.check:22s} {v.summary}" for v in self.verdicts)


def judge_run(run_dir: str | Path, sets: list[str] | None = None, allow_inconclusive: bool = False,
              overrides: dict[str, dict[str, Any]] | None = None) -> JudgedRun:
    """Load a run record and judge it with the checks its scenario lists, plus `--set check.param=value` items
    (`sets`) or already parsed `overrides`."""
    record = RunRecord.load(run_dir)  # checks this version lacks (a newer writer's) are kept apart, never judged
    extra = {**parse_overrides(list(sets or []), record.scenario.checks), **(overrides or {})}
    return JudgedRun(record, judge(record, extra), allow_inconclusive, list(record.unknown_checks))
