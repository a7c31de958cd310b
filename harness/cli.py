"""The harness's commands of the `gatedrill` command line (run, check, report, gameday, scenarios, record, fake, init).
`gatedrill.cli` adds the contract suite's command and is the entry point. Errors users can fix print one line
and exit 2; --debug shows the traceback.

Exit codes: 0 success, 1 a check failed, 2 a usage or configuration error, 3 an infrastructure failure,
130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click

from gatedrill import __version__
from gatedrill.exit_codes import EXIT_FAILED, EXIT_INFRA, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from gatedrill.fakes.control import CONTROL_TOKEN_ENV
from gatedrill.fakes.errors import GatedrillError

from .intent import MUTANTS
from .sweep_defaults import DEFAULT_RATES, DEFAULT_STEP_S, DEFAULT_WARM_UP_S


def gate_exit_code(passed: bool) -> int:
    """The exit code of `run`, `check` and `report`: 0 when the gate passed, 1 when it failed."""
    return EXIT_OK if passed else EXIT_FAILED


def _interrupted() -> NoReturn:
    click.echo("gatedrill: interrupted", err=True)
    sys.exit(EXIT_INTERRUPTED)


class _Group(click.Group):
    """Turns GatedrillError into one clear line instead of a traceback, and a Ctrl-C that no command caught (one
    before a command's own handling starts) into one line and exit 130 instead of click's "Aborted!" and exit 1."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except KeyboardInterrupt:
            _interrupted()

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            _interrupted()
        except GatedrillError as exc:
            if ctx.find_root().params.get("debug"):
                raise
            from .processes import InfrastructureError

            click.echo(f"gatedrill: error: {exc}", err=True)
            sys.exit(EXIT_INFRA if isinstance(exc, InfrastructureError) else EXIT_USAGE)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
@click.version_option(__version__, "-V", "--version", prog_name="gatedrill", message="%(prog)s %(version)s")
def main(debug: bool) -> None:
    """gatedrill: test and drill LLM gateways against provider-accurate fake upstreams.

    A drill starts fake upstreams, puts the gateway under test in front of them, drives load through it while a
    fault timeline breaks things, and judges canary split, rollback, context continuity, context windows,
    streaming, overhead and lost requests from what the fakes received.

    \b
    Run a built-in drill against the embedded reference gateway:
      gatedrill scenarios list
      gatedrill run canary-rollback --html report.html
    Run it against your gateway (it must route to the fake URLs printed):
      gatedrill run canary-rollback --gateway url:http://127.0.0.1:4000
    Or let gatedrill configure and start a real one:
      gatedrill run canary-rollback --gateway litellm
    Gate a CI job (one testcase per check):
      gatedrill run canary-split --junit junit.xml
    Scaffold your own drill, check a gateway's API contract:
      gatedrill init && gatedrill contract --gateway url:http://127.0.0.1:4000

    \b
    Exit codes: 0 passed, 1 a check failed, 2 usage or configuration error,
    3 infrastructure failure (a fake, gateway or worker did not start), 130 interrupted.
    """


@main.command("version")
def version_cmd() -> None:
    """Print the gatedrill version."""
    click.echo(__version__)


@main.group()
def fake() -> None:
    """Run fake upstream providers (OpenAI, Anthropic, Gemini, Azure OpenAI, Bedrock)."""


@fake.command("serve")
@click.argument("provider", required=False,
                type=click.Choice(["openai", "anthropic", "gemini", "azure", "bedrock"]))
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML: one fake, or {fakes: [...]}.")
@click.option("--port", type=int, default=None, help="Port (0 = a free one). Single fake only.")
@click.option("--host", default=None, help="Bind address (default 127.0.0.1).")
@click.option("--name", default=None, help="Name of the fake (default: the provider).")
@click.option("--journal", "journal_path", default=None, help="Append every journal entry to this JSONL file.")
@click.option("--seed", type=int, default=None, help="Seed for replies, latency and fault coins.")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Processes serving each fake on its one port, as one fake (default 1; docs/fakes.md).")
@click.option("--control-token", envvar=CONTROL_TOKEN_ENV, default=None, metavar="TOKEN",
              help="Require header x-gatedrill-control-token: TOKEN on the control API (prefer the env var "
                   "GATEDRILL_CONTROL_TOKEN: a command line is visible to every user). Default: none, loopback only.")
def fake_serve(provider: str | None, config_path: str | None, port: int | None, host: str | None,
               name: str | None, journal_path: str | None, seed: int | None, workers: int | None,
               control_token: str | None) -> None:
    """Serve fakes in the foreground until Ctrl-C. Prints `name<TAB>provider<TAB>url` per fake.

    The control API lives on each fake's own port under /_gatedrill/ (health, config, faults, journal,
    reset, metrics).

    \b
    Examples:
      gatedrill fake serve openai --port 8081
      gatedrill fake serve anthropic --seed 7 --journal anthropic.jsonl
      gatedrill fake serve --config fakes.yaml      # several named fakes, one port each
      gatedrill fake serve openai --port 8081 --workers 4   # four processes on one port, one fake
    """
    from gatedrill.fakes import FakeConfig, load_fakes_file, with_overrides

    from .fake_workers import serve_fakes

    if config_path:
        configs = load_fakes_file(config_path)
        if provider and any(c.provider != provider for c in configs):
            raise GatedrillError(f"--config defines providers {[c.provider for c in configs]}; drop the "
                                 f"{provider!r} argument or make them agree")
    else:
        configs = [FakeConfig.model_validate({"provider": provider or "openai"})]
    overrides: dict[str, Any] = {}
    if port is not None:
        if len(configs) > 1:
            raise GatedrillError("--port applies to a single fake; set `port:` per fake in the config file")
        overrides["port"] = port
    for key, val in (("host", host), ("name", name), ("seed", seed), ("workers", workers),
                     ("control_token", control_token)):
        if val is not None:
            overrides[key] = val
    if journal_path is not None:
        overrides["journal"] = {"path": journal_path}
    configs = [with_overrides(c, overrides) for c in configs]

    def announce(line: str) -> None:
        click.echo(line)
        sys.stdout.flush()

    serve_fakes(configs, announce)


def _judge_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """How `run`, `check` and `report` judge (--set, --allow-inconclusive) and the report files they write
    (--html/--junit/--json FILE)."""
    fn = click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None,
                      help="Write verdicts and run figures as JSON to FILE.")(fn)
    fn = click.option("--junit", type=click.Path(dir_okay=False), default=None,
                      help="Write JUnit XML to FILE (one testcase per check) for CI test reporters.")(fn)
    fn = click.option("--html", type=click.Path(dir_okay=False), default=None,
                      help="Write the offline HTML drill report (charts, verdicts, evidence) to FILE.")(fn)
    fn = click.option("--allow-inconclusive", is_flag=True,
                      help="Do not fail the gate on Inconclusive verdicts.")(fn)
    return click.option("--set", "sets", multiple=True, metavar="CHECK.PARAM=VALUE",
                        help="Override a check parameter, e.g. --set canary_split.alpha=0.01 (repeatable).")(fn)


@main.command("run")
@click.argument("scenario")
@click.option("--gateway", default=None,
              help="The system under test (default: gatedrill.yaml's gateway, else reference): "
                   "reference (embedded), litellm (LiteLLM proxy), portkey (Portkey gateway), "
                   "nginx, haproxy, container (the scenario's image), or url:http://HOST:PORT (yours, set up by "
                   "hand). Real gateways are configured from the scenario's routing intent; what they cannot "
                   "express is listed before the run and the checks it affects are marked expected to fail.")
@click.option("--mutant", default=None, metavar="NAME",
              help=f"Reference gateway only: run with a deliberate bug the checks should catch: {', '.join(MUTANTS)}.")
@click.option("--out", "out", type=click.Path(file_okay=False), default=None,
              help="Run record folder (default runs/NAME-TIME, or gatedrill.yaml's out/NAME-TIME).")
@click.option("--scale", type=float, default=None,
              help="Multiply durations and timeline times (default: gatedrill.yaml's scale, else 1).")
@click.option("--seed", type=int, default=None, help="Override the scenario's seed.")
@click.option("--limitation", "limitations", multiple=True, metavar="FEATURE=CHECK[,CHECK][@PHASE]",
              help="Declare what the gateway cannot do, as gateway.limitations does in a scenario: the checks named "
                   "are judged as expected to fail; with @PHASE (a fault window's timeline note, rollback only) just "
                   "that window, e.g. --limitation 'attempt_timeout=rollback@primary hangs' (repeatable).")
@click.option("--baseline", type=click.Path(exists=True, file_okay=False), default=None, metavar="RUN_DIR",
              help="After the run, compare it with this earlier run of the same drill (gatedrill compare); a "
                   "regression exits 1. The comparison is also written to RUN/compare.html and compare.xml.")
@click.option("--load-workers", type=click.IntRange(min=0), default=0, metavar="N",
              help="Generate the load on Locust's master and N local worker processes (each sends arrival i when "
                   "i mod workers is its index, so a seed gives the same requests). Default 0: one process.")
@click.option("--remote-workers", type=click.IntRange(min=0), default=0, metavar="M",
              help="Also wait for M workers from other hosts (`gatedrill worker --master HOST:PORT`); set "
                   "--master-bind to an address they reach.")
@click.option("--master-bind", default="127.0.0.1:0", metavar="HOST:PORT", show_default=True,
              help="Where the load master listens for workers (port 0: a free one, printed).")
@click.option("--join-timeout", type=click.FloatRange(min=1), default=300.0, show_default=True, metavar="SECONDS",
              help="How long the master waits for remote workers to join.")
@click.option("--fakes-host", default=None, metavar="ADDR",
              help="Bind every fake on ADDR instead of 127.0.0.1, so a gateway or load workers on other hosts reach "
                   "them; off loopback each fake's control API gets a fresh token.")
@click.option("--adopt-fake", "adopt", multiple=True, metavar="NAME=URL",
              help="Serve upstream NAME by the standalone fake at URL (`gatedrill fake serve`, e.g. a fakes "
                   "Deployment) instead of starting one: the run sets it to the upstream's settings, resets it and "
                   "reads its journal over the control API. Its control token comes from GATEDRILL_CONTROL_TOKEN. "
                   "Repeatable.")
@_judge_options
def run_cmd(scenario: str, gateway: str | None, mutant: str | None, out: str | None, scale: float | None,
            seed: int | None, limitations: tuple[str, ...], baseline: str | None, load_workers: int,
            remote_workers: int, master_bind: str, join_timeout: float, fakes_host: str | None,
            adopt: tuple[str, ...], sets: tuple[str, ...],
            allow_inconclusive: bool,
            html: str | None, junit: str | None, json_out: str | None) -> None:
    """Run a drill (a built-in name like canary-rollback, or a scenario file) and write a run record.

    \b
    Examples:
      gatedrill run canary-rollback
      gatedrill run canary-rollback --scale 0.7 --out runs/rollback-quick
      gatedrill run my-drill.yaml --gateway url:http://127.0.0.1:4000
      gatedrill run canary-split --load-workers 2
    """
    from .adopted_fakes import parse_adoptions
    from .load import console_progress
    from .runner import resolve_scenario, run
    from .settings import RunSettings

    if mutant is not None and mutant not in MUTANTS:
        raise GatedrillError(f"unknown mutant {mutant!r}; choose one of: {', '.join(MUTANTS)}")
    # flags, else gatedrill.yaml, else defaults; a bad --set fails here, before the drill
    settings = RunSettings.resolve(gateway=gateway, scale=scale, seed=seed, mutant=mutant,
                                   allow_inconclusive=allow_inconclusive, sets=sets, limitations=limitations)
    out_dir = settings.run_dir(scenario, out)
    if sets:  # merged with the scenario's own parameters (e.g. rollback's upstream), as the judgement will use them
        from gatedrill.scenarios import resolve

        from .check_params import parse_overrides
        from .scenario import load_scenario

        parse_overrides(list(sets), load_scenario(resolve(scenario)).checks)
    progress = console_progress(sys.stderr)
    opts = settings.run_options(out=out_dir, progress=progress, notice=click.echo, load_workers=load_workers,
                                remote_workers=remote_workers, master_bind=master_bind, join_timeout_s=join_timeout,
                                fakes_host=fakes_host, adopt_fakes=parse_adoptions(adopt),
                                adopt_token=os.environ.get(CONTROL_TOKEN_ENV) or None)
    resolve_scenario(scenario, opts)  # what the flags add (a limitation's phase) fails here, as one line, first
    _warn_plan(scenario, settings.scale, list(sets))
    restore_signals = _stop_on_signals()
    try:
        outcome = run(scenario, opts)
    except KeyboardInterrupt:
        where = f"; the partial run record is in {out_dir}" if out_dir else ""
        click.echo(f"gatedrill: interrupted; every process it started is stopped{where}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    finally:
        restore_signals()
        close = getattr(progress, "close", None)
        if close is not None:
            close()
    _print_run_summary(outcome.path)
    passed = _judge_and_print(outcome.path, settings, html=html, junit=junit, json_out=json_out)
    if baseline is not None:
        passed = _compare_and_print(baseline, str(outcome.path), 0.01, list(sets), html=str(outcome.path /
                                    "compare.html"), junit=str(outcome.path / "compare.xml")) and passed
    sys.exit(gate_exit_code(passed))


@main.command("worker")
@click.option("--master", required=True, metavar="HOST:PORT",
              help="The load master of a `gatedrill run ... --remote-workers M --master-bind HOST:PORT`.")
@click.option("--join-timeout", type=click.FloatRange(min=1), default=300.0, show_default=True, metavar="SECONDS",
              help="Give up when no master gives this worker a run within this time.")
def worker_cmd(master: str, join_timeout: float) -> None:
    """Join a drill's load from this machine as one Locust worker, until that run ends.

    The master sends this worker its share of the seeded schedule, the gateway's URL and the request headers
    (over Locust's channel, unencrypted: keep it on a private network); its client records go back to the master.
    Exit 0 when it ran its share (also when stopped mid-run), 1 when no run came, 2 on bad arguments.

    \b
    Example (two hosts):
      host A: gatedrill run canary-split --gateway url:http://10.0.0.5:4000 --fakes-host 10.0.0.4 \\
                --remote-workers 1 --master-bind 10.0.0.4:5557
      host B: gatedrill worker --master 10.0.0.4:5557
    """
    import os

    from .load.distribution import parse_address
    from .load.run import node_argv

    try:
        parse_address(master)
    except ValueError as exc:
        raise GatedrillError(f"--master: {exc}") from None
    argv = node_argv(f"{master}", join_timeout)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)  # gevent must patch a fresh interpreter before anything else is imported


def _judging(sets: tuple[str, ...], allow_inconclusive: bool) -> Any:
    """The settings `check` and `report` judge with: only --set and --allow-inconclusive apply to a stored run."""
    from .check_params import parse_overrides
    from .settings import RunSettings

    return RunSettings(allow_inconclusive=allow_inconclusive, overrides=parse_overrides(list(sets)))


def _judge_and_print(run_dir: Any, settings: Any, html: str | None = None, junit: str | None = None,
                     json_out: str | None = None) -> bool:
    """Judge a run record with the checks its scenario lists; print the verdicts (harness.report.terminal), write
    the requested reports; return the gate."""
    from .report import judge_run, print_verdicts, write_outputs

    judged = judge_run(run_dir, overrides=settings.overrides, allow_inconclusive=settings.allow_inconclusive)
    print_verdicts(judged)
    for path in write_outputs(judged, html=html, junit=junit, json=json_out):
        click.echo(f"report: {path}")
    return judged.passed


def _stop_on_signals() -> Callable[[], None]:
    """Ctrl-C (KeyboardInterrupt), SIGTERM and SIGHUP (SystemExit) stop the run once: further signals while the
    children are being stopped are ignored, so clean-up (bounded: a few seconds) always finishes.
    Returns a function that puts the previous handlers back."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # signal handlers belong to the main thread (e.g. under CliRunner in a thread)

    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def _stop(signum: int, _frame: object) -> None:
        for sig in sigs:
            signal.signal(sig, signal.SIG_IGN)
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)

    previous = {sig: signal.getsignal(sig) for sig in sigs}
    for sig in sigs:
        signal.signal(sig, _stop)

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def _print_run_summary(path: Any) -> None:
    """What happened, from the run record alone: requests, errors, rates, where traffic went, timeline."""
    from .record import RunRecord
    from .report import print_run_summary

    print_run_summary(RunRecord.load(path))


@main.command("compare")
@click.argument("baseline_run", type=click.Path(exists=True, file_okay=False))
@click.argument("candidate_run", type=click.Path(exists=True, file_okay=False))
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.01, show_default=True,
              help="Family-wise false-alarm rate, split over the metric tests.")
@click.option("--set", "sets", multiple=True, metavar="CHECK.PARAM=VALUE",
              help="Override a check parameter when judging both runs (repeatable).")
@click.option("--html", type=click.Path(dir_okay=False), default=None, help="Write the comparison as HTML to FILE.")
@click.option("--junit", type=click.Path(dir_okay=False), default=None, help="Write JUnit XML to FILE.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None, help="Write JSON to FILE.")
def compare_cmd(baseline_run: str, candidate_run: str, alpha: float, sets: tuple[str, ...], html: str | None,
                junit: str | None, json_out: str | None) -> None:
    """Judge a candidate gateway build against a baseline on the same drill (two run records). Exit 1 on a
    regression: a metric significantly and materially worse (overhead, error rate, split share, attempts per
    request, detection or recovery time) or a check that newly fails.

    \b
    Example:
      gatedrill compare runs/canary-split-litellm-old runs/canary-split-litellm-new --junit compare.xml
    """
    if not _compare_and_print(baseline_run, candidate_run, alpha, list(sets), html, junit, json_out):
        sys.exit(EXIT_FAILED)


def _compare_and_print(baseline: str, candidate: str, alpha: float, sets: list[str], html: str | None = None,
                       junit: str | None = None, json_out: str | None = None) -> bool:
    """Compare two run records, print the one-screen summary, write the outputs; True when nothing regressed."""
    from .check_params import parse_overrides
    from .compare import CompareParams, compare_runs, summary_lines, write_outputs

    comparison = compare_runs(baseline, candidate, CompareParams(alpha=alpha), parse_overrides(sets))
    for line in summary_lines(comparison):
        click.echo(line)
    for path in write_outputs(comparison, html=html, junit=junit, json_out=json_out):
        click.echo(f"comparison: {path}")
    return not comparison.regressed


@main.command("sweep")
@click.argument("scenario")
@click.option("--gateway", default="reference", show_default=True,
              help="The system under test, as for run: reference, litellm, portkey, nginx, haproxy, container or "
                   "url:URL.")
@click.option("--rates", default=",".join(f"{r:g}" for r in DEFAULT_RATES), show_default=True,
              help="Offered rates (req/s) to step through, comma-separated; stops after the first saturated step.")
@click.option("--step-s", type=float, default=DEFAULT_STEP_S, show_default=True,
              help="Seconds of judged load per step.")
@click.option("--warm-up-s", type=float, default=DEFAULT_WARM_UP_S, show_default=True,
              help="Seconds of load at the start of each step, before the judged ones, that no overhead figure "
                   "counts: each step starts its gateway afresh, and a fresh gateway's first requests are slow.")
@click.option("--budget-ms", type=float, default=None,
              help="Overhead p99 budget that bounds the knee (default: the scenario's overhead p99 budget, else 50).")
@click.option("--out", "out", type=click.Path(file_okay=False), default=None,
              help="Folder for the steps' run records, sweep.json and sweep.html (default runs/sweep-NAME-TIME).")
def sweep_cmd(scenario: str, gateway: str, rates: str, step_s: float, warm_up_s: float,
              budget_ms: float | None, out: str | None) -> None:
    """Find a gateway's knee: run the drill at rising rates (one run record per step, timeline removed) and report
    the highest rate with overhead p99 within budget and no queue growth, the overhead below it, and the rate where
    the gateway saturated. Draws it in sweep.html.

    \b
    Example:
      gatedrill sweep canary-split --gateway litellm --rates 10,20,30,40 --step-s 10
    """
    from datetime import UTC, datetime
    from pathlib import Path

    from .sweep import sweep

    try:
        steps = tuple(float(r) for r in rates.split(",") if r.strip())
    except ValueError:
        raise GatedrillError(f"--rates takes numbers separated by commas, e.g. 10,20,40 (got {rates!r})") from None
    name = Path(scenario).stem
    folder = Path(out) if out else Path("runs") / f"sweep-{name}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
    restore_signals = _stop_on_signals()
    try:
        result = sweep(scenario, gateway, folder, steps, step_s, budget_ms, notice=click.echo, warm_up_s=warm_up_s)
    except KeyboardInterrupt:
        click.echo(f"gatedrill: interrupted; every process it started is stopped; steps so far are in {folder}",
                   err=True)
        sys.exit(EXIT_INTERRUPTED)
    finally:
        restore_signals()
    for line in result.lines():
        click.echo(line)
    click.echo(f"sweep: {folder / 'sweep.html'}")


@main.command("repro")
@click.argument("finding_id", required=False, metavar="FINDING_ID")
@click.option("-o", "--out", "out", type=click.Path(file_okay=False), default=None,
              help="Folder to write (new or empty; default repro-FINDING_ID).")
def repro_cmd(finding_id: str | None, out: str | None) -> None:
    """Write a gateway finding's minimal reproduction into a folder: the gateway's config, one fake's config, the
    request and run.sh, which starts both on 127.0.0.1, shows the behaviour with one curl line and stops both.
    Without FINDING_ID, list the published findings.

    \b
    Examples:
      gatedrill repro
      gatedrill repro portkey-npm-429-becomes-500 -o /tmp/portkey-429 && /tmp/portkey-429/run.sh
    """
    from pathlib import Path

    from .findings import find, published, write_repro

    if finding_id is None:
        for f in published():
            click.echo(f"{f.id:42s} {f.gateway} {f.version:9s} {f.status.label()}")
        return
    finding = find(finding_id)
    folder = Path(out or f"repro-{finding.id}")
    write_repro(finding, folder)
    click.echo(f"wrote {folder}: run {folder / 'run.sh'} (README.md says what it shows)")


@main.command("plan")
@click.argument("scenario")
@click.option("--scale", type=float, default=1.0, show_default=True, help="The scale the run would use.")
@click.option("--set", "sets", multiple=True, metavar="CHECK.PARAM=VALUE",
              help="Override a check parameter, as for run (repeatable).")
def plan_cmd(scenario: str, scale: float, sets: tuple[str, ...]) -> None:
    """Size a drill before running it: per statistical check, the observations it needs (from alpha, minimum
    detectable effect, power or quantile), the number a run at --scale will produce, and the smallest conclusive
    scale. Exit 1 if a check would be Inconclusive for want of data.

    \b
    Example:
      gatedrill plan canary-split --scale 0.3
    """
    from gatedrill.scenarios import resolve

    from .check_params import parse_overrides
    from .plan import plan, plan_table, shortfalls
    from .scenario import load_scenario

    if scale <= 0:
        raise GatedrillError("--scale must be above 0")
    base = load_scenario(resolve(scenario))
    needs = plan(base, scale, parse_overrides(list(sets), base.checks))
    for line in plan_table(base.name, scale, needs):
        click.echo(line)
    if any(not n.fallback for n in needs if n.conclusive is False) and shortfalls(needs):
        sys.exit(EXIT_FAILED)


def _warn_plan(scenario: str, scale: float, sets: list[str]) -> None:
    """Before a run: say which checks it cannot make conclusive (`gatedrill plan`'s shortfalls)."""
    from gatedrill.scenarios import resolve

    from .check_params import parse_overrides
    from .plan import plan, shortfalls
    from .scenario import load_scenario

    base = load_scenario(resolve(scenario))
    for line in shortfalls(plan(base, scale, parse_overrides(sets, base.checks))):
        click.echo(f"warning: {line}", err=True)


@main.command("check")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@_judge_options
def check_cmd(run_dir: str, sets: tuple[str, ...], allow_inconclusive: bool, html: str | None, junit: str | None,
              json_out: str | None) -> None:
    """Judge a stored run record again (offline: no process is started). Exit 1 if the gate fails."""
    settings = _judging(sets, allow_inconclusive)
    sys.exit(gate_exit_code(_judge_and_print(run_dir, settings, html=html, junit=junit, json_out=json_out)))


@main.command("report")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@_judge_options
def report_cmd(run_dir: str, sets: tuple[str, ...], allow_inconclusive: bool, html: str | None, junit: str | None,
               json_out: str | None) -> None:
    """Summarise a stored run record and write reports (offline). Exit 1 if the gate fails.

    \b
    RUN_DIR is the folder a run printed (runs/NAME-TIME). Example:
      gatedrill report runs/canary-rollback-20261203-041500 --html report.html --json verdicts.json
    """
    settings = _judging(sets, allow_inconclusive)
    _print_run_summary(run_dir)
    sys.exit(gate_exit_code(_judge_and_print(run_dir, settings, html=html, junit=junit, json_out=json_out)))


@main.command("gameday")
@click.argument("scenario", required=False)
@click.option("--gateway", default=None, help="The system under test, as for `run` (default: gatedrill.yaml's "
              "gateway, else reference).")
@click.option("--mutant", default=None, metavar="NAME",
              help="Reference gateway only: rehearse against a deliberate bug, as for `run` (can you tell?).")
@click.option("--port", type=click.IntRange(0, 65535), default=8090, show_default=True,
              help="The console's port on 127.0.0.1 (0: a free one; the URL is printed).")
@click.option("--out", "out", type=click.Path(file_okay=False), default=None,
              help="Run record folder (default runs/NAME-TIME, or gatedrill.yaml's out/NAME-TIME).")
@click.option("--scale", type=float, default=None, help="Multiply durations and timeline times, as for `run`.")
@click.option("--seed", type=int, default=None, help="Override the scenario's seed.")
@click.option("--export", "export_dir", type=click.Path(exists=True, file_okay=False), default=None,
              metavar="RUN_DIR", help="Instead of a session: write the session recorded in RUN_DIR as a scenario "
              "YAML, its actions taken by hand as timeline entries at their times.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="With --export: the YAML file to write (default: print it).")
@click.option("--name", default=None, help="With --export: the drill's name (default: the scenario's name + "
              "-gameday).")
@_judge_options
def gameday_cmd(scenario: str | None, gateway: str | None, mutant: str | None, port: int, out: str | None,
                scale: float | None,
                seed: int | None, export_dir: str | None, output: str | None, name: str | None,
                sets: tuple[str, ...], allow_inconclusive: bool, html: str | None, junit: str | None,
                json_out: str | None) -> None:
    """Rehearse an incident: run a drill with a live console (a local web page) to inject faults, change weights
    and mark the incident by hand while the load runs. The session is a normal run record, judged by the
    scenario's checks (its HTML report is written to RUN/report.html); --export turns it into a drill.

    \b
    Examples:
      gatedrill gameday canary-rollback --port 8090        (then open http://127.0.0.1:8090/)
      gatedrill gameday --export runs/canary-rollback-20261203-041500 -o scenarios/rehearsed.yaml
      gatedrill run scenarios/rehearsed.yaml
    """
    if export_dir is not None:
        if scenario is not None:
            raise GatedrillError("give either SCENARIO (run a session) or --export RUN_DIR, not both")
        from .gameday import export_session

        text, manual = export_session(export_dir, output, name)
        if output is None:
            click.echo(text, nl=False)
        else:
            click.echo(f"wrote {output}: the session with its {manual} actions taken by hand; "
                       f"check it with: gatedrill scenarios validate {output}", err=True)
        return
    if scenario is None:
        raise GatedrillError("give a SCENARIO to run a session (a built-in name or a file), or --export RUN_DIR")
    if output is not None or name is not None:
        raise GatedrillError("-o/--output and --name go with --export RUN_DIR")
    from pathlib import Path

    from .gameday import run_gameday
    from .load import console_progress
    from .settings import RunSettings

    if mutant is not None and mutant not in MUTANTS:
        raise GatedrillError(f"unknown mutant {mutant!r}; choose one of: {', '.join(MUTANTS)}")
    settings = RunSettings.resolve(gateway=gateway, scale=scale, seed=seed, mutant=mutant,
                                   allow_inconclusive=allow_inconclusive, sets=sets)
    out_dir = settings.run_dir(scenario, out)
    progress = console_progress(sys.stderr)
    try:
        path, judged = run_gameday(scenario, settings, out_dir, port, click.echo, progress)
    except KeyboardInterrupt:
        where = f"; the partial run record is in {out_dir}" if out_dir else ""
        click.echo(f"gatedrill: interrupted; every process it started is stopped{where}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    finally:
        close = getattr(progress, "close", None)
        if close is not None:
            close()
    _print_run_summary(path)
    from .report import print_verdicts, write_outputs

    print_verdicts(judged)
    for written in write_outputs(judged, html=html or str(Path(path) / "report.html"), junit=junit, json=json_out):
        click.echo(f"report: {written}")
    click.echo(f"export it as a drill: gatedrill gameday --export {path} -o scenarios/{judged.record.scenario.name}"
               "-gameday.yaml")
    sys.exit(gate_exit_code(judged.passed))


@main.command("init")
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def init_cmd(directory: str, force: bool) -> None:
    """Scaffold gatedrill in a repository: gatedrill.yaml (project defaults) and a canary scenario to fill in.

    Refuses to overwrite existing files unless --force.
    """
    from .scaffold import init_project

    for path in init_project(directory, force=force):
        click.echo(f"wrote {path}")
    click.echo("next: fill in the FILL IN parts of gatedrill.yaml and the scenario, then run "
               "`gatedrill run scenarios/my-gateway-canary.yaml` or `pytest scenarios/`")


@main.group()
def scenarios() -> None:
    """List, show and validate scenarios (built-in drills or your own files)."""


@scenarios.command("list")
def scenarios_list() -> None:
    """List the built-in drills with a one-line description."""
    from gatedrill.scenarios import builtin_names, resolve

    from .scenario import load_scenario

    for name in builtin_names():
        sc = load_scenario(resolve(name))
        first = sc.description.strip().split(". ")[0].rstrip(".")
        click.echo(f"{name:26s} {sc.duration_s:5.0f} s  {first}.")


@scenarios.command("show")
@click.argument("scenario")
def scenarios_show(scenario: str) -> None:
    """Print a scenario (a built-in name or a path) as YAML."""
    from gatedrill.scenarios import resolve

    click.echo(resolve(scenario).read_text(), nl=False)


@scenarios.command("validate")
@click.argument("files", nargs=-1, required=True)
def scenarios_validate(files: tuple[str, ...]) -> None:
    """Validate scenario files; errors give file:line, the key path and what is expected."""
    from gatedrill.scenarios import resolve

    from .scenario import load_scenario

    failed = 0
    for f in files:
        try:
            sc = load_scenario(resolve(f))
        except GatedrillError as exc:
            failed += 1
            click.echo(str(exc), err=True)
            continue
        click.echo(f"{f}: ok ({sc.name}, {sc.duration_s:g} s, {len(sc.upstreams)} upstreams, "
                   f"{len(sc.timeline)} timeline actions, checks: {', '.join(sc.checks.names()) or 'none'})")
    if failed:
        sys.exit(EXIT_USAGE)


@scenarios.command("routing")
@click.argument("scenario")
@click.option("--scale", type=float, default=1.0, show_default=True,
              help="Show the times this scale would give (a url gateway keeps its own cooldown).")
def scenarios_routing(scenario: str, scale: float) -> None:
    """Print the routing a gateway must be configured with for a drill, before any run: targets with their model,
    window and base URL, fallbacks, retries, cooldown, timeout; values left at gatedrill's default are marked."""
    from gatedrill.scenarios import resolve

    from .routing_brief import routing_lines
    from .scenario import load_scenario

    if scale <= 0:
        raise GatedrillError("--scale must be above 0")
    for line in routing_lines(load_scenario(resolve(scenario)), scale):
        click.echo(line)


@scenarios.command("schema")
def scenarios_schema() -> None:
    """Print the scenario JSON Schema (for editors and validators)."""
    import json

    from .schema_export import scenario_json_schema

    click.echo(json.dumps(scenario_json_schema(), indent=2, sort_keys=True))


@main.group()
def record() -> None:
    """The run record's format, for tools that read records without gatedrill."""


@record.command("schema")
def record_schema() -> None:
    """Print the run record's JSON Schema: one definition per file (meta.json, clients.jsonl, journal/*.jsonl...)."""
    import json

    from .record import record_json_schema

    click.echo(json.dumps(record_json_schema(), indent=2, sort_keys=True))


if __name__ == "__main__":  # pragma: no cover
    main()
