"""Executes a scenario's fault timeline against running fakes and the gateway, at planned times, and the actions a
person sends by hand during a game day (`submit`), through the same control calls.

Each action is sent at load start + at_s (absolute deadline, so one slow action does not delay the rest)
through the fakes' control API, and recorded with its planned time, the time it was sent and the time the
fake acknowledged it. A `mark` calls nothing: it is recorded when it comes due (or is pressed).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

import httpx

from gatedrill.fakes.errors import ConfigError

from .record.timeline import TimelineEvent
from .scenario import ClearFaults, Mark, PatchUpstream, SetFaults, SetWeights, TimelineAction

NO_RUNTIME_WEIGHTS = "this gateway cannot change weights at runtime (not expressible); action skipped"


class TimelineRunner:
    """Runs the actions in a background thread; `start(t0)` with t0 = load start (time.monotonic())."""

    def __init__(self, actions: list[TimelineAction], fake_urls: dict[str, str], gateway_control: str | None,
                 record: Callable[[TimelineEvent], None]) -> None:
        self.actions = sorted(actions, key=lambda a: a.at_s)
        self.fake_urls = fake_urls
        self.gateway_control = gateway_control
        self.record = record
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._record_lock = threading.Lock()  # scheduled and manual actions come from different threads
        self._watchers: list[Callable[[TimelineEvent], None]] = []
        self.t0 = 0.0
        self.t0_wall = 0.0

    def watch(self, fn: Callable[[TimelineEvent], None]) -> None:
        """Also hand every recorded event to `fn` (a live console's log), after the record has it."""
        self._watchers.append(fn)

    def start(self, t0: float, t0_wall: float) -> None:
        self.t0, self.t0_wall = t0, t0_wall
        self._thread = threading.Thread(target=self._run, name="gatedrill-timeline", daemon=True)
        self._thread.start()

    @property
    def started(self) -> bool:
        return self._thread is not None

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        """No action after this returns: the scheduled ones end, and a manual one in flight is recorded first."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        with self._record_lock:
            pass

    def submit(self, act: TimelineAction) -> TimelineEvent:
        """Apply one action now, by hand (the game-day console): recorded with `source: manual`, planned when sent.
        Raises ConfigError before the load has started or after the timeline stopped."""
        if not self.started or self.stopped:
            raise ConfigError("the session is not running: actions are taken between the load's start and its end")
        if isinstance(act, SetFaults | ClearFaults | PatchUpstream) and act.upstream not in self.fake_urls:
            raise ConfigError(f"unknown upstream {act.upstream!r}; this session has {sorted(self.fake_urls)}")
        now = round(max(0.0, time.monotonic() - self.t0), 3)
        act = act.model_copy(update={"at_s": now})
        with httpx.Client(timeout=5) as client:
            return self._execute(client, act, "manual")

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            for act in self.actions:
                if self._stop.wait(max(0.0, self.t0 + act.at_s - time.monotonic())):
                    return
                self._execute(client, act, "scenario")

    def _execute(self, client: httpx.Client, act: TimelineAction,
                 source: Literal["scenario", "manual"]) -> TimelineEvent:
        sent = time.monotonic()
        try:
            status, detail = self._apply(client, act)
        except httpx.HTTPError as exc:
            status, detail = 0, f"{type(exc).__name__}: {exc}"
        done = time.monotonic()
        event = TimelineEvent(
            action=act.action, upstream=getattr(act, "upstream", None), note=act.note,
            planned_s=act.at_s, sent_s=sent - self.t0, applied_s=done - self.t0,
            applied_wall=self.t0_wall + (done - self.t0), ok=isinstance(act, Mark) or 200 <= status < 300,
            status=status, detail=detail, spec=act, source=source,
        )
        with self._record_lock:
            if source == "manual" and self.stopped:
                raise ConfigError("the session ended while this action was sent; it is not in the record")
            self.record(event)
            for fn in self._watchers:
                fn(event)
        return event

    def _apply(self, client: httpx.Client, act: TimelineAction) -> tuple[int, str]:
        if isinstance(act, Mark):
            return 0, ""
        if isinstance(act, SetWeights):
            if self.gateway_control is None:
                return 0, NO_RUNTIME_WEIGHTS
            r = client.put(f"{self.gateway_control}/weights", json=act.weights)
            return r.status_code, r.text[:500]
        base = self.fake_urls[act.upstream] + "/_gatedrill"
        if isinstance(act, SetFaults):
            r = client.put(f"{base}/faults", json=[f.model_dump(mode="json") for f in act.faults])
        elif isinstance(act, ClearFaults):
            r = client.delete(f"{base}/faults")
        elif isinstance(act, PatchUpstream):
            r = client.patch(f"{base}/config", json=act.patch)
        else:  # pragma: no cover - the union is exhaustive
            raise AssertionError(act)
        return r.status_code, "" if r.is_success else r.text[:500]
