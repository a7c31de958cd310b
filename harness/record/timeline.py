"""A timeline event as a run record holds it (timeline.jsonl): one scenario action as the runner applied it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ..scenario import TimelineAction


class TimelineEvent(BaseModel):
    """Planned and actual times are seconds after load start; `applied_wall` is epoch seconds."""

    model_config = ConfigDict(extra="ignore")

    action: str = Field(description="set_faults, clear_faults, patch or set_weights")
    upstream: str | None = Field(default=None, description="the upstream acted on (None for set_weights)")
    note: str | None = None
    planned_s: float = Field(default=0.0, description="at_s from the scenario (after --scale)")
    sent_s: float | None = None
    applied_s: float | None = Field(default=None, description="when the fake (or gateway) acknowledged it")
    applied_wall: float | None = None
    ok: bool = Field(default=True, description="False when the action could not be applied (it had no effect)")
    status: int = 0
    detail: str = ""
    spec: TimelineAction | None = Field(default=None, description="the action exactly as the scenario gave it")
    mechanism: str | None = Field(default=None, description="set_weights: how it reached the gateway (control API, "
                                  "nginx reload, x-portkey-config switch, LiteLLM reload, command, http)")
    effective_s: float | None = Field(default=None, description="set_weights: when the journals show the new split "
                                      "(the first request after the change point), s after load start; None if "
                                      "no change was found")
    effective_wall: float | None = None
    effective: str = Field(default="", description="set_weights: how the effective time was found, or why not")

    @property
    def at_s(self) -> float:
        """When it took effect (s after load start): applied, else planned."""
        return self.applied_s if self.applied_s is not None else self.planned_s

    def applied_at(self, t0_wall: float) -> float:
        """When it took effect, in epoch seconds (from the load start `t0_wall` when no wall time was kept)."""
        return self.applied_wall if self.applied_wall is not None else t0_wall + self.at_s
