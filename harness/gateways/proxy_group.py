"""What a plain HTTP proxy (nginx, HAProxy) can take of a routing intent: one group of weighted servers that all get
the same request body, so the same model. The two proxies' adapters share this choice and its limitations (the
Anthropic upstreams they cannot translate to, targets asking for another model, set_weights naming a server outside
the group), so the rule lives here once; each proxy then says what it does with the group.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from gatedrill.fakes.errors import ConfigError

from .base import Limitation

if TYPE_CHECKING:
    from ..scenario import Scenario


@dataclass(frozen=True)
class Hop:
    """One upstream the proxy sends to, with the model it asks for and (targets only) its weight."""

    upstream: str
    model: str
    weight: float = 1.0


@dataclass
class ProxyGroup:
    targets: list[Hop]  # the weighted servers of the one group: the same model for all
    model: str  # the model every target is asked for
    limitations: list[Limitation] = field(default_factory=list)


def affects(scenario: Scenario, *checks: str) -> list[str]:
    """The named checks this scenario declares (a limitation only marks verdicts that exist)."""
    return [c for c in checks if c in scenario.checks]


def host_port(base_url: str, proxy: str) -> str:
    """HOST:PORT of an upstream's origin; a proxy server line takes no path."""
    hostport = base_url.split("://", 1)[-1].rstrip("/")
    if "/" in hostport:
        raise ConfigError(f"{proxy} needs upstreams at an origin (http://HOST:PORT), not {base_url!r}")
    return hostport


def target_group(scenario: Scenario, proxy: str) -> ProxyGroup:
    """The OpenAI targets asking for the first live target's model, and what the proxy (named `proxy` in the
    reasons) cannot take of the rest; a ConfigError when no target with a weight above 0 is left."""
    intent = scenario.gateway.routing
    ups = scenario.upstreams
    lims: list[Limitation] = []
    anthropic = sorted(n for n in intent.upstreams() if ups[n].provider != "openai")
    if anthropic:
        lims.append(Limitation(
            feature="anthropic_upstreams", checks=affects(
                scenario, "canary_split", "rollback", "error_mapping", "context_window", "context_continuity",
                "retry_amplification"),
            reason=f"{proxy} relays bytes and cannot translate OpenAI requests to the Anthropic API; "
                   f"{', '.join(anthropic)} left out of the config"))
    live = [t for t in scenario.runtime_targets() if ups[t.upstream].provider == "openai"]
    if not any(t.weight > 0 for t in live):
        raise ConfigError(f"{proxy} cannot express this routing: no target with a weight above 0 is an OpenAI "
                          f"upstream ({proxy} does not translate to the Anthropic API); use another --gateway")
    model = next(t for t in live if t.weight > 0).model
    same = [t for t in live if t.model == model]
    if len(same) < len(live):
        dropped = ", ".join(f"{t.upstream}/{t.model}" for t in live if t.model != model)
        lims.append(Limitation(
            feature="targets_with_different_models", checks=affects(scenario, "canary_split", "rollback"),
            reason=f"{proxy} sends one body to every server of a group, so all targets must ask for the same "
                   f"model; {dropped} left out (not {model})"))
    targets = [Hop(t.upstream, t.model, t.weight) for t in same]
    in_group = {h.upstream for h in targets}
    raised = {u for a in scenario.timeline if a.action == "set_weights" for u, w in a.weights.items() if w > 0}
    if raised - in_group:
        lims.append(Limitation(
            feature="set_weights", checks=affects(scenario, "canary_split", "rollback"),
            reason=f"{proxy} can only reweight the servers of its target group; set_weights giving weight to "
                   f"{', '.join(sorted(raised - in_group))} (left out above) fail"))
    return ProxyGroup(targets=targets, model=model, limitations=lims)


def reweigh(targets: list[Hop], weights: dict[str, float], proxy: str) -> list[Hop]:
    """The targets with new per-upstream weights (a timeline set_weights); a ConfigError if one names an upstream
    that is not a server of the group (the proxy cannot add a server its config never had)."""
    group = {h.upstream for h in targets}
    foreign = sorted(u for u, w in weights.items() if u not in group and w > 0)
    if foreign:
        raise ConfigError(f"{proxy} cannot give weight to {', '.join(foreign)}: not a server of the target group "
                          f"({', '.join(sorted(group))})")
    out = [replace(h, weight=weights.get(h.upstream, h.weight)) for h in targets]
    if not any(h.weight > 0 for h in out):
        raise ConfigError(f"{proxy} needs at least one server with a weight above 0")
    return out
