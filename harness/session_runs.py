"""Run each scenario once per test session, even when pytest-xdist spreads its checks over several workers.

Workers of one session share an output folder. The first worker to take a scenario's lock (an advisory file lock,
released by the kernel if that worker dies) runs the drill into the scenario's own record folder; the others
wait on the lock and judge the record it left. A run that failed leaves its error in the record's meta, so every
worker reports that error instead of starting the drill again. Drills whose fakes listen on the same fixed port
(scenarios for a gateway set up by hand) take that port's lock too, so two workers never run them at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gatedrill.fakes.errors import GatedrillError

if TYPE_CHECKING:
    from .report import JudgedRun
    from .runner import RunOptions
    from .scenario import Scenario


class DrillFailed(GatedrillError):
    """The drill could not run (bad scenario, a fake or the gateway failed); no check can be judged."""


def record_folder(root: Path, session: str, scenario: Scenario, source: str, options: dict[str, Any]) -> Path:
    """The scenario's record folder for this session: NAME-HASH, the hash over the session id, where the scenario
    came from and the options that change what runs (two files may share a scenario name)."""
    raw = json.dumps([session, source, options], sort_keys=True, default=str).encode()
    return root / f"{scenario.name}-{hashlib.sha256(raw).hexdigest()[:10]}"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # blocks while another worker runs this drill; the run itself is bounded
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def run_once(scenario: Scenario, folder: Path, opts: RunOptions,
             overrides: dict[str, dict[str, Any]] | None = None, allow_inconclusive: bool = False) -> JudgedRun:
    """The drill's verdicts, from the record in `folder` if a worker already ran it this session, else by running
    it there now. Raises DrillFailed (one line) if the run failed, here or in the worker that ran it."""
    from .drill import drill
    from .record import COMPLETED, RunMeta
    from .report import judge_run

    with _locked(folder.with_name(folder.name + ".lock")):
        meta = folder / "meta.json"
        if meta.exists():
            info = RunMeta.model_validate_json(meta.read_bytes())
            if info.outcome != COMPLETED:
                raise DrillFailed(f"the drill did not complete ({info.outcome}): "
                                  f"{info.error or 'see its logs'}; run record: {folder}")
            return judge_run(folder, overrides=overrides, allow_inconclusive=allow_inconclusive)
        opts.out = folder
        with contextlib.ExitStack() as ports:  # in sorted order, so two drills never wait on each other in a cycle
            for port in sorted({cfg.port for cfg in scenario.upstreams.values() if cfg.port}):
                ports.enter_context(_locked(folder.parent / f"port-{port}.lock"))
            try:
                return drill(scenario, opts, overrides, allow_inconclusive)
            except GatedrillError as exc:
                raise DrillFailed(f"{exc}; run record: {folder}") from None
