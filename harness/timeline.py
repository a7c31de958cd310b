"""Executes a scenario's fault timeline against running fakes and the gateway, at planned times, and the actions a
person sends by hand during a game day (`submit`), through the same control calls.

Each action is sent at load start + at_s (absolute deadline, so one slow action does not delay the rest)
through the fakes' control API, and recorded with its planned time, the time it was sent and the time the
fake acknowledged it. A `set_weights` goes to the gateway's own `WeightChanger` (its adapter provides one where
the gateway can change weights during a run); when it took effect is found afterwards from the journals
(`weight_effect.py`). A `mark` calls nothing: it is recorded when it comes due (or is pressed).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import httpx

from gatedrill.fakes.control import CONTROL_TOKEN_HEADER
from gatedrill.fakes.errors import ConfigError

from .record.timeline import TimelineEvent
from .scenario import ClearFaults, Mark, PatchUpstream, SetFaults, SetWeights, TimelineAction

NO_RUNTIME_WEIGHTS = "this gateway cannot change weights at runtime (not expressible); action skipped"


@dataclass
class WeightsApplied:
    """What a gateway said to new weights: an HTTP-like status (0: not sent), a detail, and (when the change goes
    out later than it was asked for, as with a switch the load generator makes) when it was actually sent."""

    status: int
    detail: str = ""
    sent_mono: float | None = None


class WeightChanger(Protocol):
    """Changes a running gateway's weights by its own mechanism; returns once the gateway has taken them."""

    mechanism: str

    def set_weights(self, update: dict[str, float], weights: dict[str, float]) -> WeightsApplied:
        """`update`: the action's weights as the scenario gave them; `weights`: every upstream's after it."""
        ...


class TimelineRunner:
    """Runs the actions in a background thread; `start(t0)` with t0 = load start (time.monotonic()). `weights`
    receives every set_weights (None: the gateway cannot change them); `initial` is the routing's weight per
    upstream, which the updates accumulate on."""

    def __init__(self, actions: list[TimelineAction], fake_urls: dict[str, str], weights: WeightChanger | None,
                 record: Callable[[TimelineEvent], None], initial: dict[str, float] | None = None,
                 control_tokens: dict[str, str] | None = None) -> None:
        self.actions = sorted(actions, key=lambda a: a.at_s)
        self.fake_urls = fake_urls
        self.control_tokens = dict(control_tokens or {})  # upstream -> its control API's token (fakes off loopback)
        self.weights = weights
        self.current = dict(initial or {})  # upstream -> weight, as set_weights updates accumulate
        self.record = record
        self._stop = threading.Event()
        self._closed = False  # after stop(): an action still under way (a slow reload) is no longer recorded
        self._lock = threading.Lock()  # scheduled and manual actions come from different threads
        self._watchers: list[Callable[[TimelineEvent], None]] = []
        self._thread: threading.Thread | None = None
        # built now, before the load starts: a client's TLS context takes 20-70 ms on a quiet machine and far more
        # on a busy one, which would otherwise make the first action late
        self._client = httpx.Client(timeout=5)
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
        else:
            self._client.close()  # the thread that owns it never started
        with self._lock:
            self._closed = True

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
            event = self._execute(client, act, "manual")
        if event is None:
            raise ConfigError("the session ended while this action was sent; it is not in the record")
        return event

    def _run(self) -> None:
        with self._client:
            for act in self.actions:
                if self._stop.wait(max(0.0, self.t0 + act.at_s - time.monotonic())):
                    return
                if self._execute(self._client, act, "scenario") is None:
                    return

    def _execute(self, client: httpx.Client, act: TimelineAction,
                 source: Literal["scenario", "manual"]) -> TimelineEvent | None:
        """Apply one action and record it; None when the timeline was closed meanwhile (nothing recorded)."""
        sent = time.monotonic()
        mechanism = None
        try:
            if isinstance(act, SetWeights):
                applied = self._set_weights(act)
                status, detail = applied.status, applied.detail
                sent = applied.sent_mono if applied.sent_mono is not None else sent
                mechanism = None if self.weights is None else self.weights.mechanism
            else:
                status, detail = self._apply(client, act)
        except Exception as exc:  # recorded as not applied; the timeline goes on
            status, detail = 0, f"{type(exc).__name__}: {exc}"[:500]
        done = max(time.monotonic(), sent)
        event = TimelineEvent(
            action=act.action, upstream=getattr(act, "upstream", None), note=act.note,
            planned_s=act.at_s, sent_s=sent - self.t0, applied_s=done - self.t0,
            applied_wall=self.t0_wall + (done - self.t0), ok=isinstance(act, Mark) or 200 <= status < 300,
            status=status, detail=detail, spec=act, mechanism=mechanism, source=source,
        )
        with self._lock:
            if self._closed:
                return None
            self.record(event)
            for fn in self._watchers:
                fn(event)
        return event

    def _set_weights(self, act: SetWeights) -> WeightsApplied:
        if self.weights is None:
            return WeightsApplied(0, NO_RUNTIME_WEIGHTS)
        self.current = {**self.current, **act.weights}
        return self.weights.set_weights(dict(act.weights), dict(self.current))

    def _apply(self, client: httpx.Client, act: SetFaults | ClearFaults | PatchUpstream | Mark) -> tuple[int, str]:
        if isinstance(act, Mark):
            return 0, ""
        base = self.fake_urls[act.upstream] + "/_gatedrill"
        token = self.control_tokens.get(act.upstream)
        headers = {CONTROL_TOKEN_HEADER: token} if token else None
        if isinstance(act, SetFaults):
            r = client.put(f"{base}/faults", json=[f.model_dump(mode="json") for f in act.faults], headers=headers)
        elif isinstance(act, ClearFaults):
            r = client.delete(f"{base}/faults", headers=headers)
        elif isinstance(act, PatchUpstream):
            r = client.patch(f"{base}/config", json=act.patch, headers=headers)
        else:  # pragma: no cover - the union is exhaustive
            raise AssertionError(act)
        return r.status_code, "" if r.is_success else r.text[:500]
