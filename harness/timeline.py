"""Executes a scenario's fault timeline against running fakes and the gateway, at planned times.

Each action is sent at load start + at_s (absolute deadline, so one slow action does not delay the rest)
through the fakes' control API, and recorded with its planned time, the time it was sent and the time the
fake acknowledged it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx

from .record.timeline import TimelineEvent
from .scenario import ClearFaults, PatchUpstream, SetFaults, SetWeights, TimelineAction


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
        self.t0 = 0.0
        self.t0_wall = 0.0

    def start(self, t0: float, t0_wall: float) -> None:
        self.t0, self.t0_wall = t0, t0_wall
        self._thread = threading.Thread(target=self._run, name="gatedrill-timeline", daemon=True)
        self._thread.start()

    @property
    def started(self) -> bool:
        return self._thread is not None

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            for act in self.actions:
                if self._stop.wait(max(0.0, self.t0 + act.at_s - time.monotonic())):
                    return
                sent = time.monotonic()
                try:
                    status, detail = self._apply(client, act)
                except httpx.HTTPError as exc:
                    status, detail = 0, f"{type(exc).__name__}: {exc}"
                done = time.monotonic()
                self.record(TimelineEvent(
                    action=act.action, upstream=getattr(act, "upstream", None), note=act.note,
                    planned_s=act.at_s, sent_s=sent - self.t0, applied_s=done - self.t0,
                    applied_wall=self.t0_wall + (done - self.t0), ok=200 <= status < 300,
                    status=status, detail=detail, spec=act,
                ))

    def _apply(self, client: httpx.Client, act: TimelineAction) -> tuple[int, str]:
        if isinstance(act, SetWeights):
            if self.gateway_control is None:
                return 0, "this gateway cannot change weights at runtime (not expressible); action skipped"
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
