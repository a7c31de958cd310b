"""Scenario files as pytest test files: the file node is the scenario, with one item per check it lists.

The scenario runs once per session (the first of its items to run starts it; `session_runs` shares the run across
xdist workers) and every item reads its own verdict. A Fail shows the verdict (summary, figures, thresholds,
evidence, the run record) as the item's report, never a traceback of gatedrill's internals. Inconclusive fails
too, as `gatedrill run` does, unless `--gatedrill-allow-inconclusive` makes it a skip. A Fail the gateway's known
limitations predicted, and a non-critical Fail, are xfails (reported, not failing the session).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from gatedrill.fakes.errors import GatedrillError

from .settings import RunSettings

if TYPE_CHECKING:
    from _pytest._code.code import ExceptionInfo, TerminalRepr

    from .checks import Verdict
    from .report import JudgedRun

RUN_ITEM = "run"  # the one item of a scenario that lists no checks: passes if the drill ran to the end
EVIDENCE_SHOWN = 10
MAX_VALUE = 120


SETTINGS = pytest.StashKey[RunSettings]()  # the session's settings: --gatedrill-* flags, gatedrill.yaml, defaults
SESSION = pytest.StashKey[str]()  # shared by every xdist worker of one test run


def out_root(config: pytest.Config) -> Path:
    """Where run records go: --gatedrill-out, else `gatedrill/` in the session's basetemp (the folder every xdist
    worker's own basetemp lives in, so the workers share it)."""
    settings = config.stash[SETTINGS]
    if settings.out is not None:  # None: a folder under pytest's basetemp
        return settings.out
    factory = getattr(config, "_tmp_path_factory", None) or pytest.TempPathFactory.from_config(config, _ispytest=True)
    base = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    return base / "gatedrill"


class VerdictFailure(Exception):
    """A check judged Fail (or Inconclusive, when that fails)."""

    def __init__(self, verdict: Verdict, path: Path) -> None:
        super().__init__(verdict.summary)
        self.verdict = verdict
        self.path = path


def format_verdict(v: Verdict, path: Path) -> str:
    lines = [f"{v.status.value.upper()} {v.check}{'' if v.critical else ' (not critical)'}: {v.summary}"]
    if v.figures:
        lines.append("  figures:    " + _pairs(v.figures))
    if v.thresholds:
        lines.append("  thresholds: " + _pairs(v.thresholds))
    lines.append(f"  sample size: {v.sample_size}")
    if v.evidence:
        more = f", first {EVIDENCE_SHOWN}" if len(v.evidence) > EVIDENCE_SHOWN else ""
        lines.append(f"  evidence ({len(v.evidence)}{more}):")
        lines += [f"    - {json.dumps(ev, default=str, sort_keys=True)}" for ev in v.evidence[:EVIDENCE_SHOWN]]
    lines.append(f"  run record: {path}  (judge it again: gatedrill check {path})")
    return "\n".join(lines)


def _pairs(d: dict[str, Any]) -> str:
    """k=v pairs: numbers rounded, nested values as compact JSON cut at MAX_VALUE characters."""
    out = []
    for k, v in d.items():
        if isinstance(v, float):
            text = f"{v:.4g}"
        elif isinstance(v, dict | list):
            text = json.dumps(v, default=str, separators=(",", ":"))
            text = text if len(text) <= MAX_VALUE else text[:MAX_VALUE] + "..."
        else:
            text = str(v)
        out.append(f"{k}={text}")
    return ", ".join(out)


class ScenarioFile(pytest.File):
    """A scenario YAML file: collects one CheckItem per check; runs the drill at most once per session."""

    _outcome: JudgedRun | GatedrillError | None = None

    def collect(self) -> Any:
        from .scenario import load_scenario

        try:
            scenario = load_scenario(self.path)
        except GatedrillError as exc:
            raise self.CollectError(str(exc)) from None
        self.scenario = scenario
        for name in scenario.checks.names() or [RUN_ITEM]:
            yield CheckItem.from_parent(self, name=name)

    def drill_run(self) -> JudgedRun:
        """Run (or, under xdist, perhaps wait for another worker to run) the drill; cache the outcome."""
        if self._outcome is None:
            self._outcome = self._run()
        if isinstance(self._outcome, GatedrillError):
            raise type(self._outcome)(str(self._outcome))  # a fresh one per item: no tracebacks pile up
        return self._outcome

    def _run(self) -> JudgedRun | GatedrillError:
        from .session_runs import DrillFailed, record_folder, run_once

        settings = self.config.stash[SETTINGS]
        folder = record_folder(out_root(self.config), self.config.stash[SESSION], self.scenario,
                               str(self.path.resolve()), settings.identity())
        opts = settings.run_options()
        try:
            return run_once(self.scenario, folder, opts, settings.overrides, settings.allow_inconclusive)
        except DrillFailed as exc:
            return exc
        except GatedrillError as exc:
            return DrillFailed(str(exc))


def pytest_outcome(v: Verdict, allow_inconclusive: bool) -> tuple[str, str]:
    """How a verdict shows in pytest, as (outcome, reason): `Verdict.outcome` (passed, failed, skipped, xfailed)
    is already a pytest outcome."""
    outcome = v.outcome(allow_inconclusive)
    return outcome.value, "" if outcome.value == "passed" else v.reason(allow_inconclusive)


def _skip(reason: str) -> BaseException:
    """A skip reported at the scenario's location (not at this module's line that raised it)."""
    return pytest.skip.Exception(reason, _use_item_location=True)


class CheckItem(pytest.Item):
    """One check of a scenario: passes, fails with its verdict, or is skipped/xfailed (see the module doc)."""

    parent: ScenarioFile

    def runtest(self) -> None:
        run = self.parent.drill_run()
        self.user_properties.append(("run_record", str(run.path)))
        if self.name == RUN_ITEM and not run.record.scenario.checks:
            return
        if self.name in run.not_judged:  # as in the gate: a check this version lacks never counts as a pass
            raise GatedrillError(f"check {self.name!r} is not available in this version of gatedrill")
        v = run.verdict(self.name)
        self.user_properties.append(("verdict", v.status.value))
        outcome, reason = pytest_outcome(v, self.config.stash[SETTINGS].allow_inconclusive)
        if outcome == "xfailed":
            pytest.xfail(reason)
        if outcome == "skipped":
            raise _skip(reason)
        if outcome == "failed":
            raise VerdictFailure(v, run.path)

    def repr_failure(self, excinfo: ExceptionInfo[BaseException],
                     style: Any = None) -> str | TerminalRepr:
        if isinstance(excinfo.value, VerdictFailure):
            return format_verdict(excinfo.value.verdict, excinfo.value.path)
        if isinstance(excinfo.value, GatedrillError):
            return f"gatedrill: {excinfo.value}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"{self.parent.name}::{self.name}"  # line 0: the scenario file itself
