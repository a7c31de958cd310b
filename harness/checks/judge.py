"""Judge a run record: run the checks its scenario lists (with overrides), never touching live processes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..check_params import CheckParams, with_overrides
from ..record import Limitation, RunRecord
from .machine_condition import apply_host_condition
from .registry import REGISTRY
from .saturation_note import name_saturation
from .verdict import Verdict


def judge(record: RunRecord, overrides: dict[str, dict[str, Any]] | None = None) -> list[Verdict]:
    """One verdict per check the scenario lists (in its order), then per check only `overrides` name."""
    overrides = overrides or {}
    names = [*record.scenario.checks.names(), *(n for n in overrides if n not in record.scenario.checks)]
    verdicts = []
    params_of: dict[str, CheckParams] = {}
    for name in names:
        params = params_of[name] = with_overrides(name, record.scenario.checks.get(name), overrides.get(name, {}))
        verdict = REGISTRY[name].fn(record, params)
        verdict.critical = params.critical
        verdicts.append(verdict)
    mark_limitations(verdicts, record.meta.gateway.limitations)

    def rejudge(name: str, rec: RunRecord, adjust: Callable[[Any], Any] | None = None) -> Verdict:
        """The check judged again on `rec`, its parameters adjusted (the machine-condition rule's second look)."""
        params = params_of[name] if adjust is None else adjust(params_of[name])
        return REGISTRY[name].fn(rec, params)

    apply_host_condition(verdicts, record, rejudge)
    name_saturation(verdicts, record)
    return verdicts


def mark_limitations(verdicts: list[Verdict], limitations: list[Limitation]) -> None:
    """Mark each verdict whose check a gateway limitation affects (from the record's meta): expected to fail."""
    for v in verdicts:
        reasons = [f"{lim.feature}: {lim.reason}" for lim in limitations if lim.covers(v.check) and not lim.phases]
        if reasons:
            v.expected_failure = "; ".join(reasons)
