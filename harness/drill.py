"""A drill as one call: run a scenario, judge its run record, and hand back the record with its verdicts.

`drill(...)` is what the pytest plugin's `gatedrill_run` fixture and its scenario items use; it is also the
shortest way to run and judge a scenario from Python. Judging reads only the run record, as `gatedrill check`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .report import JudgedRun
    from .runner import RunOptions
    from .scenario import Scenario


def drill(scenario: str | Path | Scenario, opts: RunOptions | None = None,
          overrides: dict[str, dict[str, Any]] | None = None, allow_inconclusive: bool = False) -> JudgedRun:
    """Run a scenario (a built-in name, a path or a Scenario) and judge it (check parameters as `overrides`)."""
    from .report import judge_run
    from .runner import run

    outcome = run(scenario, opts)
    return judge_run(outcome.path, overrides=overrides, allow_inconclusive=allow_inconclusive)
