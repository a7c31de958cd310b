"""error_mapping's parameters: whether a client 429 must carry retry-after, and how many failures it needs."""

from __future__ import annotations

from pydantic import Field

from .base import CheckParams


class ErrorMappingParams(CheckParams):
    require_retry_after: bool = Field(default=True, description="a client 429 must carry retry-after")
    min_errors: int = Field(default=1, ge=0, description="upstream failures needed to judge; fewer is Inconclusive")
