"""rollback's parameters: the faulted upstream, detection and recovery bounds, the client error budget and probes."""

from __future__ import annotations

from pydantic import Field

from .base import CheckParams


class RollbackParams(CheckParams):
    upstream: str = Field(description="the upstream that is faulted")
    max_detection_s: float = Field(default=5.0, gt=0, description="fault start to the last steady attempt")
    max_client_error_rate: float = Field(default=0.01, ge=0, le=1, description="client errors / requests, in faults")
    max_client_errors: int | None = Field(default=None, ge=0, description="absolute budget of client errors")
    expect_probe: bool | None = Field(default=None, description="true: probes must reach it while it is out; false: "
                                      "none may; unset: not judged")
    max_recovery_s: float | None = Field(default=None, gt=0, description="clear to the share being back")
    probe_gap_s: float | None = Field(default=None, gt=0,
                                      description="the silence that marks the breaker open; a probe follows one "
                                                  "(default: 0.9 x the declared cooldown)")
    min_requests: int = Field(default=20, ge=1, description="client requests in fault windows needed to judge")
