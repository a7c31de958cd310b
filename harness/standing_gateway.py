"""A gateway that stays up for a whole test session: the reference gateway routing to fakes, with no load and no
timeline, for tests that need a gateway URL to talk to (the pytest plugin's `gateway_url` fixture).

`standing_gateway(scenario, workdir)` starts the scenario's fakes in process (ephemeral ports) and the reference
gateway as a child process with the scenario's routing; everything stops when the context exits. With
`start_fakes=False` the gateway routes to the fixed ports the scenario's upstreams declare, and whoever runs the
drill starts the fakes there: a stand-in for a user's own gateway in front of a `url`-kind scenario.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gatedrill.fakes.errors import ConfigError

from .fake_fleet import upstream_configs
from .gateways.reference import start_reference
from .intent import UpstreamEndpoint
from .processes import Processes
from .scenario import Scenario

DEFAULT_SCENARIO: dict[str, Any] = {
    "name": "standing-gateway",
    "description": "The gateway behind the `gateway_url` fixture: one OpenAI and one Anthropic fake, all "
                   "traffic to the OpenAI one (public model `drill`), the Anthropic one as its fallback.",
    "duration_s": 1,
    "upstreams": {
        "openai": {"provider": "openai", "models": [{"id": "gpt-4o-mini"}]},
        "anthropic": {"provider": "anthropic", "models": [{"id": "claude-haiku-4-5"}]},
    },
    "gateway": {"kind": "reference", "routing": {
        "targets": [{"upstream": "openai", "model": "gpt-4o-mini", "weight": 1}],
        "fallbacks": ["anthropic"],
    }},
    "load": {"arrivals": {"profile": "constant", "rate": 1}},
}


@dataclass
class StandingGateway:
    """A running gateway: its base URL (no /v1), the fakes behind it (name -> base URL), where its logs go."""

    url: str
    fakes: dict[str, str] = field(default_factory=dict)
    workdir: Path | None = None


def default_scenario() -> Scenario:
    return Scenario.model_validate(DEFAULT_SCENARIO)


@contextlib.contextmanager
def standing_gateway(scenario: Scenario | None, workdir: Path, start_fakes: bool = True,
                     mutant: str | None = None) -> Iterator[StandingGateway]:
    """Start the reference gateway (and, by default, the fakes) for `scenario`; stop all of it on exit."""
    from gatedrill.fakes import FakeServer

    scenario = scenario or default_scenario()
    workdir.mkdir(parents=True, exist_ok=True)
    configs = upstream_configs(scenario)
    with contextlib.ExitStack() as stack:
        urls: dict[str, str] = {}
        for name, cfg in scenario.upstreams.items():
            if start_fakes:
                server = stack.enter_context(FakeServer(configs[name]))
                urls[name] = server.url
            elif cfg.port:
                urls[name] = f"http://{cfg.host}:{cfg.port}"
            else:
                raise ConfigError(f"upstream {name!r} has no fixed `port:`; a stand-in gateway started before "
                                  f"the drill's fakes must know where they will listen")
        endpoints = [UpstreamEndpoint(name=name, provider=cfg.provider, base_url=urls[name],
                                      context_windows={m.id: m.context_window for m in cfg.models})
                     for name, cfg in scenario.upstreams.items()]
        procs = stack.enter_context(Processes(workdir))
        gateway = start_reference(procs, scenario.gateway.routing, mutant, scenario.seed, endpoints, workdir)
        yield StandingGateway(url=gateway.url, fakes=urls, workdir=workdir)
