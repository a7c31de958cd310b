"""The base of every check's parameters: unknown keys are errors, and `critical: false` lets a failure warn only."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CheckParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    critical: bool = Field(default=True, description="false: a Fail or Inconclusive is reported but never fails "
                           "the gate")
