"""The ways a running gateway's weights change that more than one adapter uses: the reference gateway's control
API, a user's command or HTTP call (`gateway.set_weights`), and a switch the load generator makes (a gateway that
takes its routing per request, like Portkey). Each is a `timeline.WeightChanger`."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from typing import Any

import httpx

from ..child_reaper import reaper
from ..timeline import WeightsApplied
from ..weights_hook import WeightsHook, fill, fill_body


class ControlApiWeights:
    """The reference gateway's control API: PUT /weights with the action's own per-upstream weights."""

    mechanism = "control API"

    def __init__(self, control_url: str) -> None:
        self.url = control_url

    def set_weights(self, update: dict[str, float], weights: dict[str, float]) -> WeightsApplied:
        r = httpx.put(f"{self.url}/weights", json=update, timeout=5)
        return WeightsApplied(r.status_code, r.text[:500])


class HookWeights:
    """`gateway.set_weights`: the user's command (exit 0 = taken) or HTTP call (2xx = taken), weights filled in.
    The command's output is kept in the detail (first 300 characters)."""

    def __init__(self, hook: WeightsHook) -> None:
        self.hook = hook
        self.mechanism = "command" if hook.command is not None else "http"

    def set_weights(self, update: dict[str, float], weights: dict[str, float]) -> WeightsApplied:
        hook = self.hook
        if hook.command is not None:
            return run_command([fill(a, weights) for a in hook.command], hook.timeout_s)
        http = hook.http
        assert http is not None  # WeightsHook requires one of the two
        kwargs: dict[str, Any] = {"headers": {k: fill(v, weights, env=True) for k, v in http.headers.items()},
                                  "timeout": http.timeout_s}
        if http.body is not None:
            kwargs["json"] = fill_body(http.body, weights)
        r = httpx.request(http.method, fill(http.url, weights), **kwargs)
        return WeightsApplied(r.status_code, "" if r.is_success else r.text[:500])


def run_command(argv: list[str], timeout_s: float) -> WeightsApplied:
    """Run a set_weights command in its own process group, watched by the reaper (so it dies with the harness
    however the harness ends) and killed, group and all, after `timeout_s`; exit 0 means applied."""
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
    except OSError as exc:
        return WeightsApplied(0, f"set_weights command {argv[0]} could not run: {exc.strerror or exc}")
    reaper.watch(proc.pid)
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return WeightsApplied(0, f"set_weights command {argv[0]} took over {timeout_s:g} s; killed")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # it, or what it left behind in its group
        proc.wait()
        reaper.forget(proc.pid)
    said = out.decode(errors="replace").strip()[:300]
    return WeightsApplied(200 if proc.returncode == 0 else 0,
                          f"{argv[0]} exit {proc.returncode}" + (f": {said}" if said else ""))


class LoadSwitchWeights:
    """A gateway that takes its routing with each request: the load generator switches to the next request
    headers at the planned time (by each request's intended send time), and says when it first sent them. This
    waits for that word; the runner passes it on with `switched`."""

    mechanism = "request headers switched by the load generator"

    def __init__(self, header: str, wait_s: float) -> None:
        self.header = header
        self.wait_s = wait_s  # how long after the planned time a first request may take (the load's own gaps)
        self._sent: dict[int, float] = {}
        self._cond = threading.Condition()
        self._next = 0
        self._cancelled = False

    def cancel(self) -> None:
        """The load is over: stop waiting for a switch that can no longer go out."""
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()

    def switched(self, index: int, sent_mono: float) -> None:
        """The load generator sent its first request with switch `index` (0-based) at `sent_mono`."""
        with self._cond:
            self._sent.setdefault(index, sent_mono)
            self._cond.notify_all()

    def set_weights(self, update: dict[str, float], weights: dict[str, float]) -> WeightsApplied:
        with self._cond:
            index = self._next
            self._next += 1
            deadline = time.monotonic() + self.wait_s
            while index not in self._sent and not self._cancelled and time.monotonic() < deadline:
                self._cond.wait(max(0.0, deadline - time.monotonic()))
            sent = self._sent.get(index)
        if sent is None:
            return WeightsApplied(0, f"no request carried the new {self.header} within {self.wait_s:g} s of the "
                                     "planned time, or before the load ended")
        return WeightsApplied(200, f"requests intended from the planned time on carry the new {self.header}",
                              sent_mono=sent)
