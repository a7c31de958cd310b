"""Judge a run record: run the checks its scenario lists (with overrides), never touching live processes."""

from __future__ import annotations

from typing import Any

from ..host import apply_host_condition
from ..record import RunRecord
from ..saturation import name_saturation
from .registry import REGISTRY, parse_param_values, parse_params
from .verdict import Status, Verdict


def parse_overrides(items: list[str], base: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """`--set check.param=value` items, values parsed as YAML scalars (numbers, booleans, strings). With `base`
    (the scenario's `checks:`), each check's override is validated merged with the scenario's own parameters, as
    `judge` will use it; without, each value alone."""
    import yaml

    from gatedrill.fakes.errors import ConfigError

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        name, dot, param = key.partition(".")
        if not sep or not dot or not name or not param:
            raise ConfigError(f"--set takes check.param=value, e.g. canary_split.alpha=0.01 (got {item!r})")
        out.setdefault(name, {})[param] = yaml.safe_load(value)
    for name, params in out.items():  # an unknown check or a bad value is a usage error now, not after a drill
        parse_param_values(name, params)
        if base is not None:
            parse_params(name, {**base.get(name, {}), **params})
    return out


def judge(record: RunRecord, overrides: dict[str, dict[str, Any]] | None = None) -> list[Verdict]:
    overrides = overrides or {}
    wanted = dict(record.scenario.checks)
    for name, extra in overrides.items():
        wanted[name] = {**wanted.get(name, {}), **extra}
    verdicts = []
    params_of = {}
    for name, raw in wanted.items():
        params = params_of[name] = parse_params(name, raw)
        verdict = REGISTRY[name].fn(record, params)
        verdict.critical = params.critical
        verdicts.append(verdict)
    mark_limitations(verdicts, (record.meta.get("gateway") or {}).get("limitations") or [])
    def rejudge(name: str, rec: RunRecord, adjust: Any = None) -> Verdict:
        params = params_of[name] if adjust is None else adjust(params_of[name])
        return REGISTRY[name].fn(rec, params)

    apply_host_condition(verdicts, record, rejudge)
    name_saturation(verdicts, record)
    return verdicts


def mark_limitations(verdicts: list[Verdict], limitations: list[dict[str, Any]]) -> None:
    """Mark each verdict whose check a gateway limitation affects (from the record's meta): expected to fail."""
    for v in verdicts:
        reasons = [f"{lim['feature']}: {lim['reason']}" for lim in limitations if v.check in lim.get("checks", [])]
        if reasons:
            v.expected_failure = "; ".join(reasons)


def gate(verdicts: list[Verdict], inconclusive_fails: bool = True) -> bool:
    """Does the run pass the gate? A critical Fail fails it (unless a gateway limitation predicted it: XFAIL); so
    does Inconclusive unless told otherwise."""
    for v in verdicts:
        if not v.critical:
            continue
        if (v.status is Status.FAIL and not v.xfail) or (v.status is Status.INCONCLUSIVE and inconclusive_fails):
            return False
    return True
