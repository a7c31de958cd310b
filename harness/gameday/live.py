"""The console's live state: one tick per load progress report (about a second), the action log, the end.

Everything here comes from what the run already produces: the load worker's progress snapshots (counts per
upstream and per error class, the last interval's latency), the timeline's recorded events, and the reference
gateway's /health (breaker state per upstream). The state is kept whole for the session (one tick a second, so
bounded by the scenario's duration) so a page opened late, or reloaded, draws the session from its start.
Subscribers (the server's SSE streams, on another thread's event loop) get each update as (event, data).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from ..load import Progress
from ..record import TimelineEvent

UNKNOWN = "-"  # the load's upstream label when the gateway did not say


@dataclass(frozen=True)
class Tick:
    """One interval of the load: requests per second to each upstream (as the gateway reported it), client errors
    per second by cause, the interval's latency of successful requests, and breaker states where known."""

    t: float
    phase: str
    per_upstream: dict[str, float]
    errors: dict[str, float]
    p50_ms: float | None
    p99_ms: float | None
    breakers: dict[str, str]
    sent: int
    completed: int
    error_total: int


@dataclass(frozen=True)
class LogLine:
    """An action as the log shows it: when (s after load start), what, and whether it took."""

    t: float
    source: str
    action: str
    text: str
    ok: bool
    mark: str | None = None


@dataclass
class LiveState:
    """Thread-safe: the runner's thread feeds progress and events; the server's loop reads and subscribes."""

    upstreams: list[str]
    duration_s: float
    info: dict[str, Any] = field(default_factory=dict)  # what the page shows as fixed: scenario, gateway, options
    breaker_source: str | None = None  # where breaker states come from (None: the gateway reports none)
    ticks: list[Tick] = field(default_factory=list)
    log: list[LogLine] = field(default_factory=list)
    ended: dict[str, Any] | None = None
    breakers: dict[str, str] = field(default_factory=dict)
    _last: Progress | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _subscribers: list[tuple[asyncio.AbstractEventLoop, Callable[[tuple[str, Any]], None]]] = field(
        default_factory=list, init=False)

    def _snapshot(self) -> dict[str, Any]:
        return {"upstreams": self.upstreams, "duration_s": self.duration_s, "info": self.info,
                "breaker_source": self.breaker_source, "ticks": [asdict(t) for t in self.ticks],
                "log": [asdict(x) for x in self.log], "ended": self.ended}

    def subscribe(self, loop: asyncio.AbstractEventLoop, put: Callable[[tuple[str, Any]], None]
                  ) -> tuple[dict[str, Any], Callable[[], None]]:
        """Everything so far, and from then on `put((event, data))` on `loop` for every update (taken together, so
        no update is missed or sent twice); returns (snapshot, unsubscribe)."""
        entry = (loop, put)
        with self._lock:
            self._subscribers.append(entry)
            snapshot = self._snapshot()

        def unsubscribe() -> None:
            with self._lock:
                if entry in self._subscribers:
                    self._subscribers.remove(entry)

        return snapshot, unsubscribe

    def _publish(self, event: str, data: Any) -> None:
        for loop, put in list(self._subscribers):
            if not loop.is_closed():
                loop.call_soon_threadsafe(put, (event, data))

    def on_progress(self, p: Progress) -> None:
        """A load progress report: the interval since the previous one becomes a tick."""
        with self._lock:
            prev = self._last
            self._last = p
            dt = p.elapsed_s - prev.elapsed_s if prev is not None else p.elapsed_s
            if dt <= 0.05:  # the final whole-run report, or a duplicate: no new interval
                return
            def rate(now: dict[str, int], before: dict[str, int]) -> dict[str, float]:
                return {k: round((n - before.get(k, 0)) / dt, 3) for k, n in now.items()}
            per = rate(p.by_upstream, prev.by_upstream if prev else {})
            per = {u: per.get(u, 0.0) for u in self.upstreams} | {k: v for k, v in per.items()
                                                                  if k not in self.upstreams and v}
            tick = Tick(t=round(p.elapsed_s, 3), phase=p.phase, per_upstream=per,
                        errors=rate(p.by_error, prev.by_error if prev else {}), p50_ms=p.window_latency_p50_ms,
                        p99_ms=p.window_latency_p99_ms, breakers=dict(self.breakers), sent=p.sent,
                        completed=p.completed, error_total=p.errors)
            self.ticks.append(tick)
            self._publish("tick", asdict(tick))

    def on_event(self, event: TimelineEvent) -> None:
        """A timeline event as recorded (scheduled or manual) joins the log."""
        line = LogLine(t=round(event.sent_s if event.sent_s is not None else event.at_s, 3), source=event.source,
                       action=event.action, text=event.describe(), ok=event.ok, mark=event.mark)
        with self._lock:
            self.log.append(line)
            self._publish("log", asdict(line))

    def note(self, text: str, t: float | None = None) -> None:
        """A console message in the log (the session stopping, say): not an action, never recorded."""
        with self._lock:
            when = t if t is not None else (self._last.elapsed_s if self._last else 0.0)
            line = LogLine(t=round(when, 3), source="console", action="note", text=text, ok=True)
            self.log.append(line)
            self._publish("log", asdict(line))

    def set_breakers(self, states: dict[str, str]) -> None:
        with self._lock:
            self.breakers = states

    def end(self, result: dict[str, Any]) -> None:
        """The session is over: its record, gate and verdicts (or why it failed)."""
        with self._lock:
            self.ended = result
            self._publish("end", result)
