"""One game-day session: the scenario runs through the normal runner while the console serves its live state and
sends what a person presses through the run's own timeline; at the end the record is judged like any run.

The session ends when the scenario's duration is over, on the page's Stop button, or on a first Ctrl-C: all three
stop the load gracefully (no new request, those in flight drain), so the record is complete and judged. A second
Ctrl-C (or SIGTERM) interrupts at once, as for `gatedrill run`.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gatedrill.fakes.errors import ConfigError

from ..runner import LiveRun, resolve_scenario, run
from .actions import FAULT_KINDS, timeline_action
from .live import LiveState
from .server import Console

if TYPE_CHECKING:
    from ..load import Progress
    from ..report import JudgedRun
    from ..scenario import Scenario
    from ..settings import RunSettings

END_GRACE_S = 1.5  # the page gets the verdicts before the server goes


@dataclass
class Session:
    """The live parts of one session, filled in as the run comes up."""

    state: LiveState
    finish: threading.Event
    live: LiveRun | None = None
    console: Console | None = None

    def act(self, body: Any) -> dict[str, Any]:
        """A console request, applied now through the run's timeline (ConfigError: say why not, change nothing)."""
        live = self.live
        if live is None or not live.timeline.started:
            raise ConfigError("the load has not started yet: actions are taken while it runs")
        if self.finish.is_set():
            raise ConfigError("the session is stopping: no more actions")
        event = live.timeline.submit(timeline_action(body, self.state.upstreams))
        return {"ok": event.ok, "t": round(event.planned_s, 3), "detail": event.detail}

    def stop(self, why: str = "Stop pressed") -> None:
        if not self.finish.is_set():
            self.finish.set()
            self.state.note(f"{why}: the load stops and drains, then the record is judged")

    def on_live(self, live: LiveRun) -> None:
        self.live = live
        live.timeline.watch(self.state.on_event)
        if self.console is not None and self.state.breaker_source is not None:
            self.console.poll_health(live.gateway_url.rstrip("/") + "/health")


def _info(scenario: Scenario) -> dict[str, Any]:
    """What the page shows as fixed: the drill, the gateway, its weights, and whether breaker state can be read."""
    kind = scenario.gateway.kind
    weights = {t.upstream: t.weight for t in scenario.gateway.routing.targets}
    note = "" if kind == "reference" else (f"the {kind} gateway cannot change weights at runtime: a weight change is "
                                           "recorded as skipped")
    return {"scenario": scenario.name, "gateway": kind, "weights": weights, "weights_note": note,
            "fault_kinds": list(FAULT_KINDS), "breaker_source": "/health" if kind == "reference" else None}


def run_gameday(scenario_ref: str, settings: RunSettings, out: Path | None, port: int,
                announce: Callable[[str], None], progress: Callable[[Progress], None] | None = None,
                ) -> tuple[Path, JudgedRun]:
    """Run the session and judge its record; returns (record folder, judged run). The console's URL goes to
    `announce` before the load starts; a port that is taken fails here, before any process starts."""
    from ..report import judge_run

    opts = settings.run_options(out=out)
    scenario = resolve_scenario(scenario_ref, opts)
    info = _info(scenario)
    state = LiveState(list(scenario.upstreams), scenario.duration_s, info=info,
                      breaker_source=info["breaker_source"])
    session = Session(state, threading.Event())
    console = Console(state, session.act, session.stop, port=port)
    session.console = console
    url = console.start()
    announce(f"game-day console: {url} (Stop there, or Ctrl-C, ends the session; the record is judged)")

    def tee(p: Progress) -> None:
        state.on_progress(p)
        if progress is not None:
            progress(p)

    opts = settings.run_options(out=out, progress=tee, notice=announce, finish=session.finish,
                                on_live=session.on_live)
    restore = _graceful_first_interrupt(session)
    try:
        try:
            outcome = run(scenario_ref, opts)
        except BaseException as exc:
            state.end({"error": f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__})
            raise
        finally:
            restore()
        judged = judge_run(outcome.path, overrides=settings.overrides, allow_inconclusive=settings.allow_inconclusive)
        state.end({"path": str(outcome.path), "passed": judged.passed,
                   "verdicts": [{"check": v.check, "status": v.status.value, "summary": v.summary}
                                for v in judged.verdicts],
                   "hint": f"export it as a drill: gatedrill gameday --export {outcome.path} -o DRILL.yaml"})
        time.sleep(END_GRACE_S)
        return outcome.path, judged
    finally:
        console.close()


def _graceful_first_interrupt(session: Session) -> Callable[[], None]:
    """A first Ctrl-C ends the session gracefully (as Stop does); a second one, or SIGTERM, interrupts at once.
    Returns a function that puts the previous handlers back (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.getsignal(sig) for sig in sigs}

    def handler(signum: int, _frame: object) -> None:
        if signum == signal.SIGINT and not session.finish.is_set():
            session.stop("Ctrl-C")
            return
        for sig in sigs:
            signal.signal(sig, signal.SIG_IGN)  # clean-up (bounded) always finishes
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)

    for sig in sigs:
        signal.signal(sig, handler)

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore
