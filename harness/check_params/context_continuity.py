"""context_continuity's parameters: how many later turns it needs to judge."""

from __future__ import annotations

from pydantic import Field

from .base import CheckParams


class ContextContinuityParams(CheckParams):
    min_turns: int = Field(default=10, ge=1, description="later turns (turn > 1) that reached an upstream, to judge")
