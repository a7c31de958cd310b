"""The live status of a load run, and how to show it: plain lines for CI and logs, a live panel on a terminal.

The worker sends a `Progress` about once a second; the parent hands each to `on_progress`. Rates are over
the last interval: `target_rate` is what the schedule asked for (arrivals/s: sessions, or requests when
each session is one request), `achieved_rate` what the generator started, `request_rate` every request
sent including later turns. `by_error` and `by_upstream` count finished requests over the whole run (a live view
takes differences for per-second figures); `window_latency_*` are over the last interval only.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import IO, Any

# The load run's phases, in order (defined here once; the worker sets them, the views show them).
STARTING, RUNNING, DRAINING, DONE, CANCELLED = "starting", "running", "draining", "done", "cancelled"
PHASES = (STARTING, RUNNING, DRAINING, DONE, CANCELLED)


@dataclass(slots=True)
class Progress:
    phase: str = STARTING
    elapsed_s: float = 0.0
    duration_s: float = 0.0
    target_rate: float | None = None  # None in closed mode
    achieved_rate: float = 0.0
    request_rate: float = 0.0
    sent: int = 0
    completed: int = 0
    errors: int = 0
    in_flight: int = 0
    send_lag_p99_ms: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p99_ms: float = 0.0
    upstream_share: dict[str, float] = field(default_factory=dict)
    by_error: dict[str, int] = field(default_factory=dict)  # error class -> requests, whole run
    by_upstream: dict[str, int] = field(default_factory=dict)  # upstream ("-": unknown) -> requests, whole run
    window_latency_p50_ms: float | None = None  # successful requests finished in the last interval (None: none)
    window_latency_p99_ms: float | None = None

    @property
    def remaining_s(self) -> float:
        return max(0.0, self.duration_s - self.elapsed_s)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Progress:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in names})

    def line(self) -> str:
        """One plain line, e.g. for CI logs."""
        target = "closed" if self.target_rate is None else f"{self.target_rate:.1f}/s"
        shares = " ".join(f"{k}={v:.0%}" for k, v in self.upstream_share.items()) or "-"
        return (
            f"[load {self.phase}] {self.elapsed_s:5.1f}s/{self.duration_s:g}s "
            f"rate {self.achieved_rate:.1f}/s of {target} (req {self.request_rate:.1f}/s) "
            f"sent {self.sent} done {self.completed} err {self.errors} inflight {self.in_flight} "
            f"lag.p99 {self.send_lag_p99_ms:.1f}ms lat.p50 {self.latency_p50_ms:.1f}ms "
            f"lat.p99 {self.latency_p99_ms:.1f}ms upstreams {shares}"
        )


class PlainProgress:
    """Prints updates as plain lines: the first, every phase change and the last at once, the rest at most one per
    `every_s` seconds of the run (a long drill in a CI log stays readable)."""

    def __init__(self, stream: IO[str] | None = None, every_s: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.every_s = every_s
        self._phase: str | None = None
        self._last_s = float("-inf")

    def __call__(self, p: Progress) -> None:
        if p.phase == self._phase and p.elapsed_s - self._last_s < self.every_s:
            return
        self._phase, self._last_s = p.phase, p.elapsed_s
        print(p.line(), file=self.stream, flush=True)

    def close(self) -> None:
        pass


class RichProgress:
    """A live-updating panel (rich) for interactive terminals: phase, a time bar, rates, errors, latency and the
    share of traffic each upstream got. The last state stays on screen when the run ends."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        from rich.console import Console
        from rich.live import Live

        self._console = Console(file=stream or sys.stderr)
        self._live = Live(console=self._console, auto_refresh=False, transient=False)
        self._started = False

    def _table(self, p: Progress) -> Any:
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        colour = {RUNNING: "green", DRAINING: "yellow", DONE: "bold green", CANCELLED: "red"}.get(p.phase, "")
        t = Table(title=Text(f"load: {p.phase}", style=colour), show_header=False, expand=False, box=None)
        t.add_column(style="bold")
        t.add_column()
        t.add_column()
        total = p.duration_s or 1.0
        t.add_row("time", ProgressBar(total=total, completed=min(p.elapsed_s, total), width=30),
                  f"{p.elapsed_s:.1f}s / {p.duration_s:g}s ({p.remaining_s:.1f}s left)")
        target = "closed model" if p.target_rate is None else f"{p.target_rate:.1f}/s"
        behind = p.target_rate is not None and p.phase == RUNNING and p.achieved_rate < 0.95 * p.target_rate
        t.add_row("arrivals", "", Text(f"{p.achieved_rate:.1f}/s achieved of {target}", style="red" if behind else ""))
        t.add_row("requests", "", f"{p.request_rate:.1f}/s; sent {p.sent}, done {p.completed}, in flight {p.in_flight}")
        share = p.errors / p.completed if p.completed else 0.0
        t.add_row("errors", "", Text(f"{p.errors} ({share:.1%} of done)", style="red" if p.errors else ""))
        t.add_row("latency", "", f"p50 {p.latency_p50_ms:.1f} ms, p99 {p.latency_p99_ms:.1f} ms "
                                 f"(send lag p99 {p.send_lag_p99_ms:.1f} ms)")
        for name, frac in p.upstream_share.items():
            t.add_row(f"  {name}", ProgressBar(total=1.0, completed=frac, width=30), f"{frac:.1%}")
        return t

    def __call__(self, p: Progress) -> None:
        if not self._started:
            self._live.start()
            self._started = True
        self._live.update(self._table(p), refresh=True)

    def close(self) -> None:
        if self._started:
            self._live.stop()
            self._started = False


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no", "off")


def console_progress(stream: IO[str] | None = None) -> Callable[[Progress], None]:
    """The right view for the stream: the rich panel on an interactive terminal; plain lines in CI (`CI` set, as
    CI services do), on a dumb terminal, or when the stream is not a TTY (piped, redirected to a log).
    `GATEDRILL_PROGRESS=plain|rich|off` overrides the choice."""
    out = stream or sys.stderr
    forced = os.environ.get("GATEDRILL_PROGRESS", "").strip().lower()
    if forced == "off":
        return _silent
    interactive = out.isatty() and not _truthy(os.environ.get("CI")) and os.environ.get("TERM") != "dumb"
    if forced == "rich" or (forced != "plain" and interactive):
        try:
            return RichProgress(out)
        except ImportError:
            pass
    return PlainProgress(out)


def _silent(_p: Progress) -> None:
    pass
