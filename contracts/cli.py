"""`gatedrill contract`: the contract suite and the adapter contract kit on the command line (added to the
harness's command group by `gatedrill.cli`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import click
from click.core import ParameterSource

from gatedrill.exit_codes import EXIT_FAILED, EXIT_INTERRUPTED
from gatedrill.harness.intent import MUTANTS


@click.command("contract")
@click.option("--gateway", default="reference", show_default=True,
              help="'reference', another adapter (litellm, portkey, ...) started in front of fakes, or 'url:URL'.")
@click.option("--mutant", default=None, metavar="NAME",
              help=f"Reference gateway only: a deliberate bug the suite should catch: {', '.join(MUTANTS)}.")
@click.option("--junit", type=click.Path(dir_okay=False), default=None, help="Write the results as JUnit XML.")
@click.option("--max-examples", type=int, default=25, show_default=True, help="Generated cases per operation and mode.")
@click.option("--budget", type=float, default=75.0, show_default=True, help="Seconds for the whole suite.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--part", "parts", multiple=True,
              type=click.Choice(["positive", "negative", "rate_limit", "broken_stream", "context_window", "stateful"]),
              help="Run only these parts (repeatable; default all).")
@click.option("--skip-operation", "skips", multiple=True, metavar="'METHOD PATH'",
              help="An operation the gateway does not serve, e.g. 'POST /v1/embeddings' (repeatable).")
@click.option("--adapter", default=None, metavar="NAME",
              help="Run the adapter contract kit on an adapter instead (litellm, reference, python).")
@click.option("--provider", "providers", multiple=True, type=click.Choice(["openai", "anthropic"]),
              help="With --adapter: the providers to check (repeatable; default every one it supports).")
def contract_cmd(gateway: str, mutant: str | None, junit: str | None, max_examples: int, budget: float, seed: int,
                 parts: tuple[str, ...], skips: tuple[str, ...], adapter: str | None = None,
                 providers: tuple[str, ...] = ()) -> None:
    """Check a gateway against the OpenAI-compatible contract (contracts/openapi/gateway.yaml): Schemathesis with
    SSE and error checks, a 429 passthrough probe and stateful conversations. Exit 1 on any finding.

    \b
    Examples:
      gatedrill contract
      gatedrill contract --mutant rate_limit_to_500 --junit contract.xml
      gatedrill contract --gateway url:http://127.0.0.1:4000 --skip-operation 'POST /v1/embeddings'
      gatedrill contract --adapter litellm --junit adapter.xml
    """
    from gatedrill.fakes.errors import require_extra

    for module in ("schemathesis", "hypothesis", "jsonschema"):
        require_extra(module, "contracts", "gatedrill contract")
    if adapter:
        from .adapter_kit import run_kit, targets_for, title_for

        default_n = click.get_current_context().get_parameter_source("max_examples") == ParameterSource.DEFAULT
        matrix = run_kit(targets_for(adapter, providers, mutant), title=title_for(adapter, mutant),
                         max_examples=None if default_n else max_examples, seed_value=seed)
        click.echo(matrix.render())
        if junit:
            matrix.write_junit(junit)
        if not matrix.passed:
            sys.exit(EXIT_FAILED)
        return
    import threading

    from .gateway_suite import PARTS, SuiteOptions, run_suite, start_target

    opts = SuiteOptions(max_examples=max_examples, budget_s=budget, seed=seed, parts=parts or PARTS,
                        stop=threading.Event())
    restore_signals = _stop_suite_on_signals(opts.stop)
    interrupted = False
    try:
        with start_target(gateway, mutant) as target:  # stops the fakes and gateway it started, however it ends
            target.skip_operations += skips
            result = run_suite(target, opts)
    except KeyboardInterrupt:
        interrupted = True
        click.echo("gatedrill: interrupted; every process it started is stopped", err=True)
        # everything we started is stopped; interpreter finalization (atexit, thread joins, handler reset) has
        # nothing left to do and once killed the process with SIGINT (-2) in a full CI run instead of 130
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)
    finally:
        if not interrupted:  # once interrupted, ours stay: a late signal only sets `stop` (Python's would kill us)
            restore_signals()
    for line in result.summary_lines():
        click.echo(line)
    if junit:
        result.write_junit(junit)
    if not result.ok:
        sys.exit(EXIT_FAILED)


def _stop_suite_on_signals(stop: Any) -> Callable[[], None]:
    """Ctrl-C, SIGTERM and SIGHUP stop the contract suite once: the first raises KeyboardInterrupt and sets `stop`
    (Hypothesis runs gc callbacks, where Python drops a raised exception; the suite then raises it again at its
    next request); later signals only set it, so clean-up finishes. Returns a function restoring the handlers."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def _stop(signum: int, _frame: object) -> None:
        if stop.is_set():
            return
        stop.set()
        raise KeyboardInterrupt

    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, _stop) for sig in sigs}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore
