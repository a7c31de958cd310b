"""Runs a scenario end to end and leaves a run record: fakes and gateway as real processes on 127.0.0.1,
load from its own worker process, the fault timeline at planned times, everything stopped afterwards.

Timeline times count from the load's own start (t=0 of its arrival schedule), which is up to a second after
the worker process is spawned (it imports Locust first). The worker reports its t=0 (monotonic, the same clock in
every process) as soon as it fixes it, and the timeline is anchored there.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import ValidationError

from gatedrill.fakes.correlation import CORRELATION_HEADER, make_marker
from gatedrill.fakes.errors import ConfigError, GatedrillError
from gatedrill.fakes.redaction import redact_body

from .adopted_fakes import AdoptedFake, check_adoptions
from .control_arm import CONTROL, CONTROL_DIR, control_fake
from .fake_fleet import FakeFleet, guarded, start_fleet, upstream_configs
from .gateways import ADAPTERS, Limitation, RunningGateway, get_adapter, limitations
from .gateways.base import log_hint
from .gateways.builds import BUILT_GATEWAYS, gateway_build
from .gateways.weights import LoadSwitchWeights
from .host import HostSampler, worker_sample
from .intent import UpstreamEndpoint
from .processes import InfrastructureError, Processes
from .record import (
    COMPLETED,
    FAILED,
    HOST_FILE,
    INTERRUPTED,
    WARM_UP,
    GatewayMeta,
    JournalEntry,
    LoadSummary,
    Outcome,
    RecordWriter,
    TimelineEvent,
)
from .scenario import Scenario, load_scenario
from .stale_runs import RunnerLock, mark_abandoned
from .timeline import TimelineRunner
from .weight_effect import with_effective_times

if TYPE_CHECKING:
    from .load import LoadResult, Progress

START_TIMEOUT_S = 30.0


@dataclass
class RunOptions:
    gateway: str = "reference"  # "reference" (the scenario's own gateway), an adapter name, or "url:http://HOST:PORT"
    mutant: str | None = None
    out: Path | None = None
    scale: float = 1.0
    seed: int | None = None
    progress: Callable[[Any], None] | None = None  # receives harness.load.Progress snapshots
    notice: Callable[[str], None] | None = None  # receives lines to show before the run (the gateway's limitations)
    limitations: list[Limitation] = field(default_factory=list)  # declared for this run, added to the scenario's
    finish: threading.Event | None = None  # set from any thread: end the load early and drain (a game day's Stop)
    on_live: Callable[[LiveRun], None] | None = None  # receives the live handles once fakes and gateway are up
    # Distributed load (Locust master and workers, `harness.load.master`): local worker processes to start, workers
    # expected from other hosts (`gatedrill worker --master HOST:PORT`), and where the master listens for them.
    load_workers: int = 0
    remote_workers: int = 0
    master_bind: str = "127.0.0.1:0"
    join_timeout_s: float = 300.0
    # Where the fakes listen (default: each upstream's `host`, 127.0.0.1), so a gateway or load workers on other
    # hosts reach them. Off loopback, each fake's control API wants a token the runner makes (and the timeline sends).
    fakes_host: str | None = None
    # Upstreams served by standalone fakes the run adopts instead of starting (`adopted_fakes.py`): name -> URL,
    # with the control token they were started with (from GATEDRILL_CONTROL_TOKEN, never a command line).
    adopt_fakes: dict[str, str] = field(default_factory=dict)
    adopt_token: str | None = None


@dataclass(frozen=True)
class LiveRun:
    """What a live console may use while the run goes: the timeline to submit actions through (the same control
    calls as scheduled ones, recorded in the run record), and where the fakes and the gateway answer."""

    path: Path
    scenario: Scenario
    timeline: TimelineRunner
    fake_urls: dict[str, str]
    gateway_url: str
    gateway_control: str | None


@dataclass
class RunOutcome:
    path: Path
    scenario: Scenario
    load_summary: LoadSummary


def resolve_scenario(ref: str | Path | Scenario, opts: RunOptions) -> Scenario:
    if isinstance(ref, Scenario):
        scenario = ref
    else:
        from gatedrill.scenarios import resolve

        scenario = load_scenario(resolve(str(ref)))
    if opts.scale != 1.0:
        scenario = scenario.scaled(opts.scale)
    updates: dict[str, Any] = {}
    if opts.seed is not None:
        updates["seed"] = opts.seed
    gw = scenario.gateway.model_dump(mode="json")
    if opts.gateway.startswith("url:"):
        gw.update(kind="url", url=opts.gateway[4:].rstrip("/"), mutant=None)
    elif opts.gateway in ADAPTERS and opts.gateway not in ("reference", "url"):
        gw.update(kind=opts.gateway, mutant=None)
    elif opts.gateway != "reference":
        names = ", ".join(n for n in ADAPTERS if n != "url")
        raise ConfigError(f"unknown --gateway {opts.gateway!r}: use one of {names}, or 'url:http://HOST:PORT'")
    if gw["kind"] not in ("url", "container"):
        gw["set_weights"] = None  # a gateway gatedrill configures changes its weights its own way
    if opts.mutant is not None:
        if gw["kind"] != "reference":
            raise ConfigError("--mutant applies to the reference gateway only")
        gw["mutant"] = opts.mutant
    gw["limitations"] = [*gw.get("limitations", []), *(lim.model_dump(mode="json") for lim in opts.limitations)]
    updates["gateway"] = gw
    data = scenario.model_dump(mode="json") | updates
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:  # what the flags added (a limitation's phase, say) made the scenario invalid
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{scenario.name}: {where + ': ' if where else ''}"
                          f"{first['msg'].removeprefix('Value error, ')}") from None


def default_out(scenario: Scenario) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{scenario.name}-{stamp}"


def run(ref: str | Path | Scenario, opts: RunOptions | None = None) -> RunOutcome:
    """Run a scenario; raise ConfigError for bad input and InfrastructureError when a process fails.

    The run record's meta `outcome` ends as "completed", "failed" (with `error`) or "interrupted" (Ctrl-C,
    SIGTERM); every child process is stopped in all three cases.
    """
    opts = opts or RunOptions()
    scenario = resolve_scenario(ref, opts)
    out = opts.out or default_out(scenario)
    if (out / "meta.json").exists():
        raise ConfigError(f"{out} already holds a run record; choose another --out or remove it")
    if out.is_file() or (out.is_dir() and any(out.iterdir())):
        raise ConfigError(f"{out} is not empty and holds no run record; choose an empty or new --out folder")
    for stale in mark_abandoned(out.parent):
        if opts.notice is not None:
            opts.notice(f"marked {stale} abandoned: its runner died without closing it")
    check_adoptions(opts.adopt_fakes, list(scenario.upstreams))
    gw = scenario.gateway
    limits = limitations(scenario)
    build = gateway_build(gw.kind) if gw.kind in BUILT_GATEWAYS else None
    writer = RecordWriter(out, scenario, opts.scale, GatewayMeta(
        kind=gw.kind, url=gw.url, mutant=gw.mutant, limitations=limits,
        version=build.version if build else None, install=build.install if build else None))
    lock = RunnerLock(out)
    (out / "logs").mkdir(exist_ok=True)
    os.chmod(out / "logs", 0o700)  # gateway and fake configs in there hold the drill's keys: this user only
    _announce(limits, gw.kind, opts)
    outcome: Outcome = FAILED
    try:
        with Processes(out / "logs") as procs, contextlib.ExitStack() as lifelines:
            fleet, tokens = _start_fakes(procs, scenario, writer, opts.fakes_host, skip=set(opts.adopt_fakes))
            if fleet is not None:
                lifelines.callback(fleet.lifeline.close)
            fake_urls = dict(fleet.urls) if fleet is not None else {}
            control_url = fake_urls.pop(CONTROL, None)
            adopted = _adopt_fakes(scenario, opts, writer, lifelines)
            fake_urls |= {a.upstream: a.url for a in adopted}
            tokens |= {a.upstream: a.token for a in adopted if a.token}
            endpoints = [UpstreamEndpoint(name=name, provider=cfg.provider, base_url=fake_urls[name],
                                          context_windows={m.id: m.context_window for m in cfg.models})
                         for name, cfg in scenario.upstreams.items()]
            gateway = _start_gateway(procs, scenario, endpoints, out)
            if opts.notice is not None:
                for line in gateway.briefing:
                    opts.notice(line)
            writer.write_meta(gateway=writer.meta.gateway.model_copy(update={"url": gateway.url,
                                                                             "claims": gateway.claims}),
                              fakes=fake_urls, control_url=control_url,
                              adopted_fakes={a.upstream: a.meta() for a in adopted})
            writer.write_meta(warm_up_status=_warm_up(gateway, scenario))
            children = {"the fakes": (fleet.proc, "fakes.log")} if fleet is not None else {}
            if gateway.proc is not None:
                children[f"the {gw.kind} gateway"] = (gateway.proc, gateway.log or "gateway.log")
            events: list[TimelineEvent] = []

            def record_event(event: TimelineEvent) -> None:
                events.append(redacted(event))  # a patch may name api_keys
                writer.timeline_event(events[-1])

            timeline = TimelineRunner(scenario.timeline, fake_urls, gateway.weights, record_event,
                                      initial=gw.routing.upstream_weights(), control_tokens=tokens)
            if opts.on_live is not None:
                opts.on_live(LiveRun(out, scenario, timeline, dict(fake_urls), gateway.url, gateway.control))
            labels = ({fleet.proc.pid: "fakes"} if fleet is not None else {}) | (
                {gateway.proc.pid: "gateway"} if gateway.proc is not None else {})
            try:
                with HostSampler(out / HOST_FILE, labels) as sampler:
                    result = _drive_load(scenario, gateway, out, opts, timeline, writer, children, control_url,
                                         sampler, adopted)
            finally:
                if isinstance(gateway.weights, LoadSwitchWeights):
                    gateway.weights.cancel()  # a switch still awaited will not go out now
                timeline.stop()
            summary = LoadSummary.model_validate(result.summary())
            writer.write_load(summary)
            writer.write_meta(load_start_wall=summary.t0_wall or writer.meta.load_start_wall)
            if summary.failure:
                raise InfrastructureError("the load generator failed: " + summary.failure.strip().splitlines()[-1])
            _check_alive(children, out / "logs", adopted)
            if fleet is not None:
                procs.stop(fleet.proc, sig=signal.SIGINT)  # the fakes flush their journals and exit cleanly
            for a in adopted:
                a.finish()  # the rest of its journal, read once every request on it has ended
            if any(e.action == "set_weights" and e.ok for e in events):
                writer.rewrite_timeline(with_effective_times(events, _journals(writer, scenario),
                                                             summary.t0_wall or writer.meta.load_start_wall or 0.0))
        outcome = COMPLETED
        return RunOutcome(out, scenario, summary)
    except (KeyboardInterrupt, SystemExit):
        outcome = INTERRUPTED
        raise
    except Exception as exc:
        writer.write_meta(error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        writer.write_meta(end_wall=time.time())
        writer.close(outcome)
        lock.release()


def _announce(limits: list[Limitation], kind: str, opts: RunOptions) -> None:
    """Say before the run what the gateway cannot express: those checks are judged as expected to fail."""
    if opts.notice is None or not limits:
        return
    opts.notice(f"not expressible on the {kind} gateway (the affected checks are marked expected to fail):")
    for lim in limits:
        opts.notice(f"  - {lim.line()}")


def _drive_load(scenario: Scenario, gateway: RunningGateway, out: Path, opts: RunOptions, timeline: TimelineRunner,
                writer: RecordWriter, children: dict[str, tuple[subprocess.Popen[bytes], str]],
                control_url: str | None = None, sampler: HostSampler | None = None,
                adopted: list[AdoptedFake] | None = None) -> LoadResult:
    """Load from its worker process. The worker's start message anchors the timeline at the load's own t0; each
    progress report (about once a second) checks the other children: one that died stops the run, since the
    fakes' journals or the gateway would be gone (an exception raised here makes `run_load` kill the worker)."""
    from .load import run_load

    def on_start(t0_mono: float, t0_wall: float) -> None:
        timeline.start(t0_mono, t0_wall)
        writer.write_meta(load_start_wall=t0_wall)

    def on_progress(p: Progress) -> None:
        if not timeline.started:  # a worker that never said when it started: anchor on its elapsed time
            now_mono, now_wall = time.monotonic(), time.time()
            on_start(now_mono - p.elapsed_s, now_wall - p.elapsed_s)
        _check_alive(children, out / "logs", adopted)
        if opts.progress is not None:
            opts.progress(p)

    def on_event(msg: dict[str, Any]) -> None:
        """A distributed run's news: where the master listens, who joined or died, each worker's own condition."""
        kind = msg.get("type")
        if kind == "worker_sample":
            if sampler is not None:
                sampler.add(worker_sample(msg))
            return
        from .load import event_line

        line = event_line(msg, opts.remote_workers)
        if line and opts.notice is not None:
            opts.notice(line)

    try:
        return run_load(scenario.load, gateway.url, scenario.duration_s, scenario.seed, out, on_progress=on_progress,
                        on_start=on_start, headers=gateway.headers, api_key=gateway.api_key, control_url=control_url,
                        header_switches=gateway.header_switches, on_switch=_switched(gateway),
                        finish=opts.finish, load_workers=opts.load_workers, remote_workers=opts.remote_workers,
                        master_bind=opts.master_bind, join_timeout_s=opts.join_timeout_s, on_event=on_event)
    except InfrastructureError:
        raise
    except GatedrillError as exc:  # the worker died or overran: the harness failed, not the user's input
        raise InfrastructureError(str(exc)) from None


def _switched(gateway: RunningGateway) -> Callable[[int, float], None] | None:
    """Where the load generator's word that it switched request headers goes (a per-request routing change)."""
    return gateway.weights.switched if isinstance(gateway.weights, LoadSwitchWeights) else None


def _journals(writer: RecordWriter, scenario: Scenario) -> dict[str, list[JournalEntry]]:
    """The fakes' journals as written (after the fakes flushed them)."""
    out: dict[str, list[JournalEntry]] = {}
    for name in scenario.upstreams:
        path = writer.journal_path(name)
        if path.exists():
            with path.open("rb") as f:
                out[name] = [JournalEntry.model_validate_json(line) for line in f if line.strip()]
    return out


def _check_alive(children: dict[str, tuple[subprocess.Popen[bytes], str]], logs: Path,
                 adopted: list[AdoptedFake] | None = None) -> None:
    for a in adopted or []:
        a.check_alive()
    for what, (proc, log) in children.items():
        code = proc.poll()
        if code is not None:
            how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
            raise InfrastructureError(f"{what} (pid {proc.pid}) died during the run ({how})"
                                      f"{log_hint(logs / log)}")


def _start_fakes(procs: Processes, scenario: Scenario, writer: RecordWriter, host: str | None = None,
                 skip: set[str] | None = None) -> tuple[FakeFleet | None, dict[str, str]]:
    """All upstream fakes in one child process, each on its own port, journaling into the run record; with them the
    control arm's fake (`control_arm.py`), so both arms' upstreams share one process and its conditions. `host`
    moves them all off their configured address; a fake off loopback without a control token gets a fresh one.
    Upstreams in `skip` (adopted) are left out. Returns the fleet (None: nothing to start) and each fake's control
    token."""
    configs = [cfg.model_copy(update={"journal": cfg.journal.model_copy(
                   update={"path": str(writer.journal_path(name).resolve())})})
               for name, cfg in upstream_configs(scenario).items() if name not in (skip or set())]
    control = control_fake(scenario, writer.path)
    if control is not None:
        (writer.path / CONTROL_DIR).mkdir(exist_ok=True)
        configs.append(control)
    configs = [guarded(c.model_copy(update={"host": host}) if host else c) for c in configs]
    tokens = {c.name: c.control_token for c in configs if c.name and c.control_token}
    if not configs:
        return None, tokens
    return start_fleet(procs, configs, writer.path / "logs", START_TIMEOUT_S), tokens


def _adopt_fakes(scenario: Scenario, opts: RunOptions, writer: RecordWriter,
                 lifelines: contextlib.ExitStack) -> list[AdoptedFake]:
    """The standalone fakes this run adopts, each checked, set to its upstream's settings and reset; released
    (their faults cleared) however the run ends."""
    configs = upstream_configs(scenario)
    adopted = []
    for name, url in opts.adopt_fakes.items():
        fake = AdoptedFake(name, url, configs[name], writer.journal_path(name), token=opts.adopt_token)
        lifelines.callback(fake.release)
        fake.take_over()
        adopted.append(fake)
    return adopted


def redacted(event: TimelineEvent) -> TimelineEvent:
    """A timeline event as the record keeps it: credentials a patch may carry (api_keys) redacted."""
    return TimelineEvent.model_validate(redact_body(event.model_dump(mode="json")))


def _start_gateway(procs: Processes, scenario: Scenario, endpoints: list[UpstreamEndpoint],
                   out: Path) -> RunningGateway:
    """The scenario's gateway, started by its adapter in front of the fakes (its config and log under RUN/logs/)."""
    return get_adapter(scenario.gateway).start(procs, scenario, endpoints, out / "logs")


def _warm_up(gateway: RunningGateway, scenario: Scenario) -> int:
    """One request through the gateway before load starts; fail clearly if the gateway does not answer. Any HTTP
    status counts as an answer (a drill may fault its upstreams from the start); the run record keeps it."""
    body = {"model": scenario.gateway.routing.public_model, "max_tokens": 8, "user": make_marker(WARM_UP),
            "messages": [{"role": "user", "content": "warm-up"}]}  # the marker: gateways drop the header
    headers = gateway.client_headers() | {CORRELATION_HEADER: WARM_UP}
    try:
        r = httpx.post(f"{gateway.url}/v1/chat/completions", json=body, timeout=30, headers=headers)
    except httpx.HTTPError as exc:
        raise InfrastructureError(f"the gateway at {gateway.url} did not answer a warm-up request: "
                                  f"{type(exc).__name__}: {exc}") from None
    return r.status_code
