"""A gateway the user set up by hand, reached at its URL: nothing to start and nothing known about what it can
express, so no limitation is claimed (its configuration is the user's to match to the intent). Before the run the
user is shown what to match: the fakes' URLs and the routing the scenario declares (`expected_routing`). A timeline
set_weights reaches it through the scenario's `gateway.set_weights` (a command or an HTTP call), if it has one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gatedrill.fakes.correlation import SESSION_HEADER

from .base import Limitation, RunningGateway
from .weights import HookWeights

if TYPE_CHECKING:
    from ..intent import RoutingIntent, UpstreamEndpoint
    from ..processes import Processes
    from ..scenario import Scenario


class UrlAdapter:
    name = "url"

    def limitations(self, scenario: Scenario) -> list[Limitation]:
        return []

    def start(self, procs: Processes, scenario: Scenario, endpoints: list[UpstreamEndpoint],
              workdir: Path) -> RunningGateway:
        assert scenario.gateway.url is not None  # GatewaySpec requires it for kind: url
        pinned = {name for name, cfg in scenario.upstreams.items() if cfg.port}
        hook = scenario.gateway.set_weights
        return RunningGateway(url=scenario.gateway.url.rstrip("/"),
                              briefing=expected_routing(scenario.gateway.routing, endpoints, pinned),
                              weights=HookWeights(hook) if hook is not None else None)


def expected_routing(routing: RoutingIntent, endpoints: list[UpstreamEndpoint], pinned: set[str]) -> list[str]:
    """Lines telling the owner of a hand-configured gateway where the fakes listen and how the drill expects
    traffic for `routing.public_model` to be routed. `pinned`: upstreams whose port the scenario fixes (the rest
    get a free port each run, so a static gateway config cannot reach them)."""
    by_name = {e.name: e for e in endpoints}
    total = sum(t.weight for t in routing.targets)
    lines = [f"the drill sends model {routing.public_model!r} to your gateway and expects it routed to these fakes:"]
    for t in routing.targets:
        e = by_name[t.upstream]
        lines.append(f"  {t.upstream}: {e.provider} at {sdk_base_url(e)}, model {t.model!r}, weight "
                     f"{100 * t.weight / total:.0f}%")
    named = {t.upstream for t in routing.targets}
    for name in routing.upstreams() - named:
        e = by_name[name]
        lines.append(f"  {name}: {e.provider} at {sdk_base_url(e)} (fallback only)")
    if routing.fallbacks:
        lines.append(f"  fallbacks, in order: {', '.join(routing.fallbacks)}")
    if routing.context_window_fallbacks:
        pairs = ", ".join(f"{a} -> {b}" for a, b in routing.context_window_fallbacks.items())
        lines.append(f"  context-window fallbacks: {pairs}")
    r = routing.retry
    after = f"retry-after honoured up to {r.max_retry_after_s:g} s" if r.honor_retry_after else "retry-after ignored"
    lines.append(f"  retries: {r.attempts} attempts per target on {', '.join(map(str, r.retry_on))}; backoff "
                 f"{r.backoff_ms:g} ms; {after}; per-attempt timeout {routing.timeout_s:g} s")
    c = routing.cooldown
    lines.append(f"  cooldown: out for {c.cooldown_s:g} s after {c.failures} failures in {c.window_s:g} s"
                 if c.enabled else "  cooldown: none")
    if routing.sticky == "session":
        lines.append(f"  sticky: keep each session (the {SESSION_HEADER} header) on one target")
    floating = sorted(routing.upstreams() - pinned)
    if floating:
        lines.append(f"  note: {', '.join(floating)} listen on a new free port every run; pin `port:` under "
                     "upstreams in the scenario so your gateway's configuration can name them")
    return lines


def sdk_base_url(e: UpstreamEndpoint) -> str:
    """The base URL to configure in a gateway for this fake, as the provider's SDKs take it: OpenAI's with /v1
    (requests go to BASE/chat/completions), Anthropic's the origin (its clients add /v1/messages)."""
    if e.provider == "anthropic":
        return f"{e.base_url} (the origin: requests go to /v1/messages)"
    return f"{e.base_url}/v1"
