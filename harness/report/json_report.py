"""The JSON report: the verdicts (`Verdict.to_dict`, redacted) and the run's figures, versioned by `format_version`.

Bump FORMAT_VERSION when a key changes meaning or goes away; adding keys keeps the version.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..checks import Outcome
from .judged import JudgedRun
from .redact import redact
from .run_figures import run_figures

FORMAT_VERSION = 1


def _finite(value: Any) -> Any:
    """JSON has no NaN or Infinity: write them as null so every parser reads the file."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def report_dict(run: JudgedRun) -> dict[str, Any]:
    verdicts = []
    for v in run.verdicts:
        d = v.to_dict()
        d["label"] = v.label
        d["outcome"] = run.outcome(v).value
        d["counts_against_gate"] = run.outcome(v) is Outcome.FAILED
        verdicts.append(d)
    return _finite(redact({
        "format_version": FORMAT_VERSION,
        "tool": "gatedrill",
        "gate": {"passed": run.passed, "allow_inconclusive": run.allow_inconclusive, "not_judged": run.not_judged},
        "run": run_figures(run.record),
        "verdicts": verdicts,
    }))


def json_report(run: JudgedRun) -> str:
    return json.dumps(report_dict(run), indent=2, sort_keys=False, default=str, ensure_ascii=False) + "\n"


def write_json(run: JudgedRun, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json_report(run), encoding="utf-8")
    return p
