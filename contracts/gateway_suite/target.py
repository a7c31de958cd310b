"""The gateway under contract test: a URL, the headers every request carries, and the fakes behind it when we
started them (so checks can read the fakes' journals and install faults).

`reference` (or any adapter in harness.gateways: `litellm`, `portkey`, ...) starts two in-process fakes in witness
mode (an OpenAI `primary` and an Anthropic `secondary`, weighted 1:1 so a conversation hops between providers) and
the gateway in front of them through its adapter and `harness.processes.Processes`; `url:URL` tests a gateway you
started and wired to upstreams yourself.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gatedrill.fakes import FakeServer
from gatedrill.fakes.errors import ConfigError
from gatedrill.harness.intent import MUTANTS, UpstreamEndpoint
from gatedrill.harness.processes import Processes
from gatedrill.harness.scenario import Scenario

API_KEY = "sk-gatedrill-contract"
UPSTREAMS = (("primary", "openai", "gpt-4o-mini"), ("secondary", "anthropic", "claude-haiku-4-5"))


@dataclass
class SuiteTarget:
    """A running gateway, and the fakes behind it when the suite owns them (empty for `url:`)."""

    name: str
    url: str  # origin, no /v1
    headers: dict[str, str] = field(default_factory=dict)
    fakes: dict[str, FakeServer] = field(default_factory=dict)
    skip_operations: tuple[str, ...] = ()  # operation labels the gateway does not serve, e.g. "POST /v1/embeddings"

    def journal(self, correlation_id: str, wait_s: float = 1.0) -> list[dict[str, Any]]:
        """Every fake's journal entries for one correlation id, oldest first; waits briefly for entries to finish
        (a fake journals a stream when its last byte is out, which can be just after the client saw it)."""
        deadline = time.monotonic() + wait_s
        while True:
            found = [r for srv in self.fakes.values() for r in srv.fake.journal.records(correlation_id=correlation_id)]
            if (found and all(r.get("status") is not None for r in found)) or time.monotonic() >= deadline:
                return sorted(found, key=lambda r: r["arrival_mono"])
            time.sleep(0.02)

    def set_faults(self, rules: list[dict[str, Any]]) -> None:
        for srv in self.fakes.values():
            srv.set_faults(rules)

    def clear_faults(self) -> None:
        self.set_faults([])


# Small enough for an over-window probe (~500 kB), big enough for a generated prompt plus the max_tokens a gateway
# may fill in itself (LiteLLM asks Anthropic for the model's 64000 when the client gives none).
WINDOW = 100_000


def contract_scenario(kind: str, mutant: str | None) -> Scenario:
    """The scenario the suite runs a started gateway from: both fakes as weighted targets, no cooldown (the suite
    injects faults on purpose; a breaker must not hide an upstream from later cases), short retries."""
    upstreams = {n: {"provider": p, "seed": 11, "reply": {"mode": "witness"},
                     "models": [{"id": m, "context_window": WINDOW}]} for n, p, m in UPSTREAMS}
    routing = {"targets": [{"upstream": n, "model": m, "weight": 1} for n, _, m in UPSTREAMS],
               "cooldown": {"enabled": False}, "retry": {"attempts": 2, "backoff_ms": 10}}
    return Scenario.model_validate({
        "name": "contract", "seed": 11, "duration_s": 1, "upstreams": upstreams,
        "gateway": {"kind": kind, "mutant": mutant, "routing": routing}, "load": {"mode": "closed", "concurrency": 1},
    })


@contextlib.contextmanager
def start_target(gateway: str, mutant: str | None = None, workdir: Path | None = None) -> Iterator[SuiteTarget]:
    """Start the gateway named `reference` (or another adapter: `litellm`, `portkey`, ...) in front of in-process
    fakes, or reach one at `url:http://HOST:PORT`; stop everything we started."""
    from gatedrill.harness.gateways import ADAPTERS, get_adapter

    if mutant is not None and mutant not in MUTANTS:
        raise ConfigError(f"unknown mutant {mutant!r}; choose one of: {', '.join(MUTANTS)}")
    if mutant is not None and gateway != "reference":
        raise ConfigError("--mutant applies to the reference gateway only")
    if gateway.startswith("url:"):
        url = gateway[4:].rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"--gateway {gateway!r}: expected url:http://HOST:PORT")
        yield SuiteTarget(name=gateway, url=url.removesuffix("/v1"), headers={"authorization": f"Bearer {API_KEY}"})
        return
    if gateway not in ADAPTERS or gateway == "url":
        names = ", ".join(n for n in ADAPTERS if n != "url")
        raise ConfigError(f"unknown --gateway {gateway!r}: use one of {names}, or url:http://HOST:PORT")
    scenario = contract_scenario(gateway, mutant)
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gatedrill-contract-")))
        workdir.mkdir(parents=True, exist_ok=True)
        fakes = {name: stack.enter_context(FakeServer(cfg)) for name, cfg in scenario.upstreams.items()}
        endpoints = [UpstreamEndpoint(name=name, provider=cfg.provider, base_url=fakes[name].url,
                                      context_windows={m.id: m.context_window for m in cfg.models})
                     for name, cfg in scenario.upstreams.items()]
        procs = stack.enter_context(Processes(workdir))
        running = get_adapter(scenario.gateway).start(procs, scenario, endpoints, workdir)
        name = gateway + (f" (mutant {mutant})" if mutant else "")
        yield SuiteTarget(name=name, url=running.url.rstrip("/").removesuffix("/v1"),
                          headers=running.client_headers(), fakes=fakes, skip_operations=("POST /v1/embeddings",))
