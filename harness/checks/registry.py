"""The registry of checks: each a pure function from a run record (and its parameters) to a verdict.

A check's parameters are its model in `harness.check_params` (`PARAMS[name]`), so `checks:` in a scenario,
`gatedrill check --set name.param=value` and the docs are validated and described the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..check_params import PARAMS, CheckParams, parse_params
from ..record import RunRecord
from .verdict import Verdict

CheckFn = Callable[[RunRecord, Any], Verdict]


@dataclass(frozen=True)
class CheckDef:
    name: str
    params: type[CheckParams]
    fn: CheckFn
    doc: str


REGISTRY: dict[str, CheckDef] = {}


def check(name: str) -> Callable[[CheckFn], CheckFn]:
    """Register a check under `name`; its parameters' model is `PARAMS[name]`."""
    if name not in PARAMS:
        raise ValueError(f"check {name!r} has no parameters model in harness.check_params")

    def register(fn: CheckFn) -> CheckFn:
        REGISTRY[name] = CheckDef(name, PARAMS[name], fn, (fn.__doc__ or "").strip().split("\n")[0])
        return fn

    return register


__all__ = ["REGISTRY", "CheckDef", "CheckParams", "check", "parse_params"]
