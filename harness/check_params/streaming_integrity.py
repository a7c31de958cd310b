"""streaming_integrity's parameters: how many client streams it needs to judge."""

from __future__ import annotations

from pydantic import Field

from .base import CheckParams


class StreamingIntegrityParams(CheckParams):
    min_streams: int = Field(default=20, ge=1, description="client streams with an upstream stream needed to judge")
