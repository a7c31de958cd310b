"""Every check's parameters as a pydantic model, in light modules (pydantic only: no scipy, no run record), so the
scenario schema, `scenarios validate`, `--set` and the docs know them without importing a check.

`PARAMS` maps each check's name to its parameters' model; `ChecksSpec` is what a scenario's `checks:` holds.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError

from gatedrill.fakes.errors import ConfigError

from .accounting import AccountingParams
from .base import CheckParams
from .canary_split import CanarySplitParams
from .checks_spec import DEFAULT_CHECKS, ChecksSpec
from .context_continuity import ContextContinuityParams
from .context_window import ContextWindowParams
from .cutover import CutoverParams
from .error_mapping import ErrorMappingParams
from .errors_explained import ErrorsExplainedParams
from .overhead import OverheadParams
from .retry_amplification import RetryAmplificationParams
from .rollback import RollbackParams
from .streaming_integrity import StreamingIntegrityParams

PARAMS: dict[str, type[CheckParams]] = {
    name: field.annotation.__args__[0]  # type: ignore[union-attr]  # `Params | None`: the model
    for name, field in ChecksSpec.model_fields.items()
}


def parse_params(name: str, raw: dict[str, Any]) -> CheckParams:
    """A check's parameters from a mapping, or a one-line ConfigError naming the check and the bad key."""
    if name not in PARAMS:
        raise ConfigError(f"unknown check {name!r}; known checks: {', '.join(sorted(PARAMS))}")
    try:
        return PARAMS[name].model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"check {name}: {problems}") from None


def parse_param_values(name: str, raw: dict[str, Any]) -> None:
    """Validate parameters given on their own (`--set`), before they meet the scenario's: each must be a known
    parameter with a valid value. The merged set (e.g. with rollback's required `upstream`) is `with_overrides`'."""
    if name not in PARAMS:
        raise ConfigError(f"unknown check {name!r}; known checks: {', '.join(sorted(PARAMS))}")
    fields = PARAMS[name].model_fields
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


def parse_overrides(items: list[str], base: ChecksSpec | None = None) -> dict[str, dict[str, Any]]:
    """`--set check.param=value` items, values parsed as YAML scalars (numbers, booleans, strings); an unknown check
    or a bad value is a usage error now, not after a drill. With `base` (the scenario's `checks:`) each check's
    override is also validated merged with the scenario's own parameters, as the judgement will use it."""
    import yaml

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        name, dot, param = key.partition(".")
        if not sep or not dot or not name or not param:
            raise ConfigError(f"--set takes check.param=value, e.g. canary_split.alpha=0.01 (got {item!r})")
        out.setdefault(name, {})[param] = yaml.safe_load(value)
    for name, params in out.items():
        parse_param_values(name, params)
        if base is not None:
            with_overrides(name, base.get(name), params)
    return out


def with_overrides(name: str, given: CheckParams | None, extra: dict[str, Any]) -> CheckParams:
    """A check's parameters from the scenario (`given`, None: not listed) with `--set` values over them."""
    base = given.model_dump(exclude_unset=True) if given is not None else {}
    return parse_params(name, {**base, **extra})


__all__ = ["DEFAULT_CHECKS", "PARAMS", "AccountingParams", "CanarySplitParams", "CheckParams", "ChecksSpec",
           "ContextContinuityParams", "ContextWindowParams", "CutoverParams", "ErrorMappingParams",
           "ErrorsExplainedParams", "OverheadParams", "RetryAmplificationParams", "RollbackParams",
           "StreamingIntegrityParams", "parse_overrides", "parse_param_values", "parse_params", "with_overrides"]
