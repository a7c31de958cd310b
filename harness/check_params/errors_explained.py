"""errors_explained's parameters: how many unexplained client failures it tolerates, and how long after a fault and
its declared cooldown a gateway's own refusal still counts as explained."""

from __future__ import annotations

from pydantic import Field

from .base import CheckParams


class ErrorsExplainedParams(CheckParams):
    max_unexplained: int = Field(default=0, ge=0, description="client failures with no drill-made cause tolerated")
    grace_s: float = Field(default=2.0, ge=0, description="after a fault and the declared cooldown, how long a "
                                                          "gateway's own refusal still counts as explained; and "
                                                          "around a weight change's reload (before it was sent, "
                                                          "after it was applied), how long a kept-alive connection "
                                                          "it closes counts as the reload's")
