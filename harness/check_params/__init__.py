"""Every check's parameters as a pydantic model, in light modules (pydantic only: no scipy, no run record), so the
scenario schema, `scenarios validate`, `--set` and the docs know them without importing a check.

`PARAMS` maps each check's name to its parameters' model; `ChecksSpec` is what a scenario's `checks:` holds.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from gatedrill.fakes.errors import ConfigError

from .accounting import AccountingParams
from .base import CheckParams
from .canary_split import CanarySplitParams
from .checks_spec import ChecksSpec
from .context_continuity import ContextContinuityParams
from .context_window import ContextWindowParams
from .error_mapping import ErrorMappingParams
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


def parse_overrides(items: list[str]) -> dict[str, dict[str, Any]]:
    """`--set check.param=value` items, values parsed as YAML scalars (numbers, booleans, strings); an unknown check
    or a bad value is a usage error now, not after a drill."""
    import yaml

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        name, dot, param = key.partition(".")
        if not sep or not dot or not name or not param:
            raise ConfigError(f"--set takes check.param=value, e.g. canary_split.alpha=0.01 (got {item!r})")
        out.setdefault(name, {})[param] = yaml.safe_load(value)
    for name, params in out.items():
        parse_params(name, params)
    return out


def with_overrides(name: str, given: CheckParams | None, extra: dict[str, Any]) -> CheckParams:
    """A check's parameters from the scenario (`given`, None: not listed) with `--set` values over them."""
    base = given.model_dump(exclude_unset=True) if given is not None else {}
    return parse_params(name, {**base, **extra})


__all__ = ["PARAMS", "AccountingParams", "CanarySplitParams", "CheckParams", "ChecksSpec", "ContextContinuityParams",
           "ContextWindowParams", "ErrorMappingParams", "OverheadParams", "RetryAmplificationParams",
           "RollbackParams", "StreamingIntegrityParams", "parse_overrides", "parse_params", "with_overrides"]
