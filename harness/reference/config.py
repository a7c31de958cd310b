"""`GatewayConfig`: everything the reference gateway needs to run, as one pydantic model.

The runner writes it as JSON for `python -m gatedrill.harness.reference CONFIG`; Python callers pass it (or a dict) to
`ReferenceGateway`. It joins the scenario's routing intent with where each upstream listens.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..intent import Mutant, RoutingIntent, UpstreamEndpoint


class GatewayConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    intent: RoutingIntent
    upstreams: list[UpstreamEndpoint] = Field(min_length=1)
    mutant: Mutant | None = Field(default=None, description="a deliberate bug, to prove the checks catch it")
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535, description="0 picks a free port")
    seed: int = 0

    @model_validator(mode="after")
    def _consistent(self) -> GatewayConfig:
        names = [u.name for u in self.upstreams]
        if len(set(names)) != len(names):
            raise ValueError(f"upstream names must be unique, got {names}")
        check_intent(self.intent, {u.name: u for u in self.upstreams})
        return self

    def endpoint(self, name: str) -> UpstreamEndpoint:
        for u in self.upstreams:
            if u.name == name:
                return u
        raise KeyError(name)


def check_intent(intent: RoutingIntent, endpoints: dict[str, UpstreamEndpoint]) -> None:
    """Raise ValueError when the intent names an unknown upstream or a fallback whose model cannot be known."""
    missing = sorted(intent.upstreams() - set(endpoints))
    if missing:
        raise ValueError(f"routing names upstreams with no endpoint: {missing}; known: {sorted(endpoints)}")
    targeted = {t.upstream for t in intent.targets}
    for name in sorted(intent.upstreams() - targeted):
        if not endpoints[name].context_windows:
            raise ValueError(f"fallback upstream {name!r} is not a target, so its model is unknown: list it as a "
                             "target (weight 0 is fine) or give its endpoint `context_windows`")
