"""canary_split's parameters: the split test's false-alarm rate, the deviation it must be able to detect, and the
weight-change guard and sequential looks."""

from __future__ import annotations

from pydantic import Field

from .base import CheckParams


class CanarySplitParams(CheckParams):
    alpha: float = Field(default=1e-3, gt=0, lt=1, description="family-wise false-alarm rate of the split test")
    min_detectable: float = Field(
        default=0.05, gt=0, lt=1,
        description="absolute share deviation the run must be large enough to detect (else Inconclusive)")
    power: float = Field(default=0.8, gt=0, lt=1, description="power to detect a `min_detectable` deviation")
    confidence: float = Field(default=0.95, gt=0, lt=1, description="level of the Wilson CI reported per share")
    guard_s: float = Field(default=0.25, ge=0, description="requests this close to a weight change are not judged")
    sequential: bool = Field(default=False, description="judge each period at `looks` interim looks, spending alpha")
    looks: int = Field(default=5, ge=1, le=100, description="interim looks per weight period when `sequential`")
