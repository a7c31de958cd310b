"""Runs a scenario end to end and leaves a run record: fakes and gateway as real processes on 127.0.0.1,
load from its own worker process, the fault timeline at planned times, everything stopped afterwards.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from fakes.errors import ConfigError

from .intent import UpstreamEndpoint
from .processes import InfrastructureError, Processes, read_lines
from .record import RecordWriter
from .scenario import Scenario, load_scenario
from .timeline import TimelineRunner

START_TIMEOUT_S = 30.0


@dataclass
class RunOptions:
    gateway: str = "reference"  # "reference" or "url:http://HOST:PORT"
    mutant: str | None = None
    out: Path | None = None
    scale: float = 1.0
    seed: int | None = None
    progress: Callable[[Any], None] | None = None  # receives harness.load.Progress snapshots


@dataclass
class RunOutcome:
    path: Path
    scenario: Scenario
    load_summary: dict[str, Any]


def resolve_scenario(ref: str | Path | Scenario, opts: RunOptions) -> Scenario:
    if isinstance(ref, Scenario):
        scenario = ref
    else:
        from scenarios import resolve

        scenario = load_scenario(resolve(str(ref)))
    if opts.scale != 1.0:
        scenario = scenario.scaled(opts.scale)
    updates: dict[str, Any] = {}
    if opts.seed is not None:
        updates["seed"] = opts.seed
    gw = scenario.gateway.model_dump(mode="json")
    if opts.gateway.startswith("url:"):
        gw.update(kind="url", url=opts.gateway[4:].rstrip("/"), mutant=None)
    elif opts.gateway != "reference":
        raise ConfigError(f"unknown --gateway {opts.gateway!r}: use 'reference' or 'url:http://HOST:PORT'")
    if opts.mutant is not None:
        if gw["kind"] != "reference":
            raise ConfigError("--mutant applies to the reference gateway only")
        gw["mutant"] = opts.mutant
    updates["gateway"] = gw
    data = scenario.model_dump(mode="json") | updates
    return Scenario.model_validate(data)


def default_out(scenario: Scenario) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{scenario.name}-{stamp}"


def run(ref: str | Path | Scenario, opts: RunOptions | None = None) -> RunOutcome:
    """Run a scenario; raise ConfigError for bad input and InfrastructureError when a process fails."""
    opts = opts or RunOptions()
    scenario = resolve_scenario(ref, opts)
    out = opts.out or default_out(scenario)
    gw = scenario.gateway
    writer = RecordWriter(out, scenario, opts.scale, {"kind": gw.kind, "url": gw.url, "mutant": gw.mutant})
    (out / "logs").mkdir(exist_ok=True)
    outcome = "failed"
    try:
        with Processes(out / "logs") as procs:
            fakes_proc, fake_urls = _start_fakes(procs, scenario, writer)
            endpoints = [UpstreamEndpoint(name=name, provider=cfg.provider, base_url=fake_urls[name],
                                          context_windows={m.id: m.context_window for m in cfg.models})
                         for name, cfg in scenario.upstreams.items()]
            gateway_url, control = _start_gateway(procs, scenario, endpoints, out)
            writer.write_meta(gateway={**writer.meta["gateway"], "url": gateway_url}, fakes=fake_urls)
            _warm_up(gateway_url, scenario)
            from .load import run_load

            timeline = TimelineRunner(scenario.timeline, fake_urls, control, writer.timeline_event)
            t0, t0_wall = time.monotonic(), time.time()
            writer.write_meta(load_start_wall=t0_wall)
            timeline.start(t0, t0_wall)
            try:
                result = run_load(scenario.load, gateway_url, scenario.duration_s, scenario.seed, out,
                                  on_progress=opts.progress)
            finally:
                timeline.stop()
            summary = result.summary()
            writer.write_load(summary)
            procs.stop(fakes_proc, sig=signal.SIGINT)  # the fakes flush their journals and exit cleanly
        outcome = "completed"
        return RunOutcome(out, scenario, summary)
    except KeyboardInterrupt:
        outcome = "interrupted"
        raise
    finally:
        writer.write_meta(end_wall=time.time())
        writer.close(outcome)


def _start_fakes(procs: Processes, scenario: Scenario,
                 writer: RecordWriter) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    """All upstream fakes in one process, each on its own port, journaling into the run record."""
    fakes = []
    for name, cfg in scenario.upstreams.items():
        data = cfg.model_dump(mode="json")
        data.update(name=name, host="127.0.0.1", port=0, seed=scenario.seed + cfg.seed)
        data["journal"] = {**data.get("journal", {}), "path": str(writer.journal_path(name).resolve())}
        fakes.append(data)
    path = writer.path / "logs" / "fakes.yaml"
    path.write_text(yaml.safe_dump({"fakes": fakes}, sort_keys=False))
    proc = procs.start([sys.executable, "-m", "harness.cli", "fake", "serve", "--config", str(path)], "fakes.log",
                       stdout=subprocess.PIPE)
    lines = read_lines(proc, len(fakes), START_TIMEOUT_S, "the fakes")
    urls = {}
    for line in lines:
        name, _, url = line.split("\t")
        urls[name] = url
    return proc, urls


def _start_gateway(procs: Processes, scenario: Scenario, endpoints: list[UpstreamEndpoint],
                   out: Path) -> tuple[str, str | None]:
    gw = scenario.gateway
    if gw.kind == "url":
        assert gw.url is not None
        return gw.url, None
    config = {"intent": gw.routing.model_dump(mode="json"), "mutant": gw.mutant, "seed": scenario.seed,
              "upstreams": [e.model_dump(mode="json") for e in endpoints]}
    path = out / "logs" / "gateway.json"
    path.write_text(json.dumps(config, indent=2))
    proc = procs.start([sys.executable, "-m", "harness.reference", str(path)], "gateway.log", stdout=subprocess.PIPE)
    (url,) = read_lines(proc, 1, START_TIMEOUT_S, "the reference gateway")
    url = url.strip().split("\t")[-1]
    return url, url + "/_gatedrill"


def _warm_up(gateway_url: str, scenario: Scenario) -> None:
    """One request through the gateway before load starts; fail clearly if the gateway does not answer."""
    body = {"model": scenario.gateway.routing.public_model, "max_tokens": 8,
            "messages": [{"role": "user", "content": "warm-up"}]}
    try:
        httpx.post(f"{gateway_url}/v1/chat/completions", json=body, timeout=10,
                   headers={"authorization": "Bearer sk-gatedrill", "x-gatedrill-correlation-id": "warm-up"})
    except httpx.HTTPError as exc:
        raise InfrastructureError(f"the gateway at {gateway_url} did not answer a warm-up request: {exc}") from None
