"""The registry of checks: each a pure function from a run record (and its parameters) to a verdict.

A check is registered with a pydantic model for its parameters, so `checks:` in a scenario and
`gatedrill check --set name.param=value` are validated the same way; unknown parameters are errors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from gatedrill.fakes.errors import ConfigError

from ..record import RunRecord
from .verdict import Verdict


class CheckParams(BaseModel):
    """Base for check parameters: unknown keys are errors; `critical: false` lets a failure warn only."""

    model_config = ConfigDict(extra="forbid")
    critical: bool = True


@dataclass(frozen=True)
class CheckDef:
    name: str
    params: type[CheckParams]
    fn: Callable[[RunRecord, Any], Verdict]
    doc: str


REGISTRY: dict[str, CheckDef] = {}


def check(name: str, params: type[CheckParams] = CheckParams) -> Callable[[Callable[[RunRecord, Any], Verdict]],
                                                                     Callable[[RunRecord, Any], Verdict]]:
    def register(fn: Callable[[RunRecord, Any], Verdict]) -> Callable[[RunRecord, Any], Verdict]:
        REGISTRY[name] = CheckDef(name, params, fn, (fn.__doc__ or "").strip().split("\n")[0])
        return fn

    return register


def parse_params(name: str, raw: dict[str, Any]) -> CheckParams:
    if name not in REGISTRY:
        raise ConfigError(f"unknown check {name!r}; known checks: {', '.join(sorted(REGISTRY))}")
    try:
        return REGISTRY[name].params.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"check {name}: {problems}") from None


def parse_param_values(name: str, raw: dict[str, Any]) -> None:
    """Validate parameters given on their own (`--set`), before the scenario's own are known: each must be a known
    parameter with a valid value. The merged set (e.g. with rollback's required `upstream`) is judged by
    `parse_params` once the override meets the scenario's parameters."""
    if name not in REGISTRY:
        raise ConfigError(f"unknown check {name!r}; known checks: {', '.join(sorted(REGISTRY))}")
    fields = REGISTRY[name].params.model_fields
    problems = []
    for param, value in raw.items():
        field = fields.get(param)
        if field is None:
            problems.append(f"{param}: unknown parameter (known: {', '.join(sorted(fields))})")
            continue
        kind: Any = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
        try:
            TypeAdapter(kind).validate_python(value)
        except ValidationError as exc:
            problems.append(f"{param}: {exc.errors()[0]['msg']}")
    if problems:
        raise ConfigError(f"check {name}: {'; '.join(problems)}")
