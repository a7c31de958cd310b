"""overhead's parameters: latency budgets (judged on bootstrap CIs, against the same-run control arm by default) and
the canary-versus-baseline comparison."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .base import CheckParams


def _budget(what: str) -> Any:
    return Field(default=None, gt=0, description=f"{what} budget in ms (unset: not judged)")


class OverheadParams(CheckParams):
    p50_budget_ms: float | None = _budget("total overhead p50")
    p90_budget_ms: float | None = _budget("total overhead p90")
    p99_budget_ms: float | None = _budget("total overhead p99")
    ttft_p50_budget_ms: float | None = _budget("time-to-first-token overhead p50")
    ttft_p90_budget_ms: float | None = _budget("time-to-first-token overhead p90")
    ttft_p99_budget_ms: float | None = _budget("time-to-first-token overhead p99")
    confidence: float = Field(default=0.95, gt=0, lt=1, description="level of the bootstrap CI on each percentile")
    n_resamples: int = Field(default=2000, ge=100, description="bootstrap resamples")
    seed: int = Field(default=0, description="seed of the bootstrap")
    exclude_first_s: float = Field(default=0.0, ge=0,
                                   description="leave out requests sent this early in the load (cold connections)")
    min_samples: int = Field(default=20, ge=2, description="fewer samples in a judged series is Inconclusive")
    compare: bool = Field(default=True, description="compare canary and baseline latency (Mann-Whitney U)")
    baseline: str | None = Field(default=None, description="the baseline upstream (default: the most weighted)")
    compare_alpha: float = Field(default=1e-3, gt=0, lt=1, description="significance level of the comparison")
    max_effect: float = Field(default=0.2, gt=0, le=1, description="largest tolerated rank-biserial correlation")
    against: Literal["control", "absolute"] = Field(
        default="control", description="budgets bound the gateway arm minus the same-run control arm (control), or "
        "the gateway arm's overhead alone (absolute)")
