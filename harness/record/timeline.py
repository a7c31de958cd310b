"""A timeline event as a run record holds it (timeline.jsonl): one action as the runner applied it, from the scenario's
timeline or sent by hand from the game-day console (`source: manual`); a `mark` changes nothing and is only kept."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from gatedrill.fakes.faults import FaultRule
from gatedrill.fakes.redaction import redact_body

from ..scenario import TimelineAction


class TimelineEvent(BaseModel):
    """Planned and actual times are seconds after load start; `applied_wall` is epoch seconds."""

    model_config = ConfigDict(extra="ignore")

    action: str = Field(description="set_faults, clear_faults, patch, set_weights or mark")
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
                                  "nginx reload, HAProxy runtime API, x-portkey-config switch, LiteLLM reload, "
                                  "command, http)")
    effective_s: float | None = Field(default=None, description="set_weights: when the journals show the new split "
                                      "(the first request after the change point), s after load start; None if "
                                      "no change was found")
    effective_wall: float | None = None
    effective: str = Field(default="", description="set_weights: how the effective time was found, or why not")
    source: Literal["scenario", "manual"] = Field(default="scenario", description=(
        "scenario: from the scenario's timeline; manual: sent by hand from the game-day console (planned_s is when "
        "it was pressed)"))

    @property
    def mark(self) -> str | None:
        """The mark's name (incident_declared, rollback_started, resolved) for a mark, else None."""
        return getattr(self.spec, "mark", None) if self.action == "mark" else None

    @property
    def at_s(self) -> float:
        """When it took effect (s after load start): applied, else planned."""
        return self.applied_s if self.applied_s is not None else self.planned_s

    def applied_at(self, t0_wall: float) -> float:
        """When it took effect, in epoch seconds (from the load start `t0_wall` when no wall time was kept)."""
        return self.applied_wall if self.applied_wall is not None else t0_wall + self.at_s

    def describe(self) -> str:
        """One line for logs and reports: what it did, to which upstream, and whether it took (credentials a patch
        may carry redacted)."""
        spec = self.spec
        if self.mark is not None:
            what = self.mark.replace("_", " ")
        elif spec is not None and self.action == "set_faults":
            what = f"set faults on {self.upstream}: " + "; ".join(_rule_text(r) for r in getattr(spec, "faults", []))
        elif spec is not None and self.action == "patch":
            what = f"patch {self.upstream}: {redact_body(getattr(spec, 'patch', {}))}"
        elif spec is not None and self.action == "set_weights":
            what = f"set weights {getattr(spec, 'weights', {})}"
        else:
            what = " ".join(x for x in (self.action.replace("_", " "), self.upstream) if x)
        if self.note:
            what += f" ({self.note})"
        if not self.ok:
            what += f": FAILED {self.detail}".rstrip()
        return what


def _rule_text(rule: FaultRule) -> str:
    fault = rule.fault.model_dump(mode="json", exclude_defaults=True)
    args = ", ".join(f"{k}={v}" for k, v in fault.items() if k != "kind")
    chance = f" on {rule.when.probability:.0%} of requests" if rule.when.probability is not None else ""
    return f"{rule.fault.kind}{' (' + args + ')' if args else ''}{chance}"
