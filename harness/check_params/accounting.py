"""accounting's parameters: whether journal entries without a correlation id are tolerated."""

from __future__ import annotations

from pydantic import Field

from .base import CheckParams


class AccountingParams(CheckParams):
    allow_uncorrelated: bool = Field(
        default=False, description="tolerate journal entries with no correlation id (e.g. a gateway's health probes)")
