"""A drill as one call: run a scenario, judge its run record, and hand back the record with its verdicts.

`drill(...)` is what the pytest plugin's `gatedrill_run` fixture and its scenario items use; it is also the
shortest way to run and judge a scenario from Python. Judging reads only the run record, as `gatedrill check`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .checks import Verdict
    from .record import RunRecord
    from .runner import RunOptions
    from .scenario import Scenario


@dataclass
class DrillRun:
    """A finished drill: where its run record is, the record itself and one verdict per check it lists."""

    path: Path
    record: RunRecord
    verdicts: list[Verdict]
    unavailable: list[str] = field(default_factory=list)  # checks the scenario names that this version lacks

    @property
    def passed(self) -> bool:
        """The gate, as `gatedrill run` applies it: no critical Fail and no critical Inconclusive."""
        from .checks import gate

        return gate(self.verdicts, inconclusive_fails=True) and not self.unavailable

    def verdict(self, name: str) -> Verdict:
        for v in self.verdicts:
            if v.check == name:
                return v
        raise KeyError(f"no verdict for check {name!r}; this drill judged: {[v.check for v in self.verdicts]}")

    def summary(self) -> str:
        """One line per verdict, as the CLI prints them."""
        return "\n".join(f"{v.status.value.upper():13s} {v.check:22s} {v.summary}" for v in self.verdicts)


def judge_record(path: str | Path, overrides: dict[str, dict[str, Any]] | None = None) -> DrillRun:
    """Judge a stored run record with the checks its scenario lists (checks this version lacks are named apart)."""
    from .checks import REGISTRY, judge
    from .record import RunRecord

    record = RunRecord.load(path)
    unavailable = [name for name in record.scenario.checks if name not in REGISTRY]
    for name in unavailable:
        record.scenario.checks.pop(name)
    return DrillRun(Path(path), record, judge(record, overrides), unavailable)


def drill(scenario: str | Path | Scenario, opts: RunOptions | None = None,
          overrides: dict[str, dict[str, Any]] | None = None) -> DrillRun:
    """Run a scenario (a built-in name, a path or a Scenario) and judge it (check parameters as `overrides`)."""
    from .runner import run

    outcome = run(scenario, opts)
    return judge_record(outcome.path, overrides)
