"""cutover's parameters: the seconds around each weight flip that count as its gap, the tests' false-alarm rate and
effect sizes, and the observations needed to judge."""

from __future__ import annotations

from pydantic import Field

from .base import CheckParams


class CutoverParams(CheckParams):
    before_s: float = Field(default=0.5, ge=0, description="seconds before each flip was sent that belong to its gap")
    after_s: float = Field(default=2.0, gt=0, description="seconds after each flip was applied that belong to its "
                                                          "gap (the time between sending and applying belongs too)")
    alpha: float = Field(default=1e-3, gt=0, lt=1,
                         description="false-alarm rate of each gap-against-rest test (errors, latency)")
    max_error_increase: float = Field(
        default=0.01, ge=0, le=1,
        description="how much the gaps' client error rate may exceed the rest's (absolute) before a significant "
                    "difference fails")
    max_keepalive_closed: float = Field(
        default=0.05, ge=0, le=1,
        description="share of the gaps' requests that may be lost to the keep-alive race of a graceful reload (sent "
                    "on a kept-alive connection the gateway closed, never forwarded; counted apart from the other "
                    "errors and shown)")
    max_latency_effect: float | None = Field(
        default=0.3, gt=0, le=1,
        description="rank-biserial effect size above which significantly slower gaps fail; null: latency not "
                    "judged")
    min_requests: int = Field(default=30, ge=1,
                              description="client requests needed in the gaps and in the rest to compare them")
    min_streams: int = Field(default=3, ge=1,
                             description="client streams in flight at a flip needed to judge them (when the run "
                                         "streams)")
    min_sessions: int = Field(default=3, ge=1,
                              description="sessions with turns on both sides of a flip needed to judge them (when "
                                          "the run has multi-turn sessions)")
