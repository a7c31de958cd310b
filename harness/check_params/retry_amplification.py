"""retry_amplification's parameters: the attempts-per-request bound, retry-after honouring and the storm cap."""

from __future__ import annotations

from pydantic import Field

from .base import CheckParams


class RetryAmplificationParams(CheckParams):
    max_attempts_per_request: float = Field(default=2.0, gt=0, description="mean upstream attempts per request")
    honor_retry_after: bool = Field(default=True, description="judge retries against the advertised retry-after")
    max_attempts_single: int | None = Field(
        default=None, ge=1, description="most attempts one request may take (default: retry attempts x upstreams)")
    tolerance_s: float = Field(default=0.02, ge=0, description="clock slack when comparing a retry to its wait")
    min_requests: int = Field(default=20, ge=1, description="client requests needed to judge")
