"""Child processes the harness starts (fakes, gateways, load workers): each in its own process group,
always stopped (on success, failure, Ctrl-C and SIGTERM), and killed with the harness even on SIGKILL
(`child_reaper`), never left as orphans."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from pathlib import Path
from typing import IO, Any

from gatedrill.deferred_signals import signals_deferred
from gatedrill.fakes.errors import GatedrillError

from .child_reaper import GRACE_S, die_with_parent, reaper


class InfrastructureError(GatedrillError):
    """A process we depend on failed to start or died (exit code 3)."""


STOP_GRACE_S = 5.0


class Processes:
    """Starts children in new sessions and kills every one of their groups on close."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._procs: list[subprocess.Popen[bytes]] = []
        self._grace: dict[int, float] = {}  # pid -> its own stop grace, where it was given one

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self, argv: list[str], log_name: str | None, stdout: int | IO[Any] | None = None,
              env: dict[str, str] | None = None, pass_fds: tuple[int, ...] = (),
              grace_s: float | None = None) -> subprocess.Popen[bytes]:
        """Start `argv` with stderr (and stdout unless given) appended to `workdir/log_name`, or this process's own
        when `log_name` is None; `pass_fds` stay open in the child. `grace_s`: how long the child may take to
        finish its own clean-up after SIGTERM, on a stop and when the harness dies, before it gets SIGKILL."""
        log = open(self.workdir / log_name, "ab") if log_name else None  # noqa: SIM115 - owned by the child
        with signals_deferred():  # a Ctrl-C inside Popen would lose a started child: it waits until we hold it
            proc = subprocess.Popen(argv, stdout=stdout if stdout is not None else log, stderr=log,
                                    stdin=subprocess.DEVNULL, start_new_session=True, env=env, pass_fds=pass_fds,
                                    preexec_fn=die_with_parent())
            self._procs.append(proc)
            if grace_s is not None:
                self._grace[proc.pid] = grace_s
            reaper.watch(proc.pid, GRACE_S if grace_s is None else grace_s)
        if log is not None:
            log.close()
        return proc

    def stop(self, proc: subprocess.Popen[bytes], grace: float | None = None, sig: int = signal.SIGTERM) -> None:
        """Signal the child's whole group (SIGTERM by default), then SIGKILL it after `grace` seconds (the child's
        own grace if it was started with one, else 5 s)."""
        grace = grace if grace is not None else self._grace.pop(proc.pid, STOP_GRACE_S)
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(grace)
        with contextlib.suppress(ProcessLookupError):  # stragglers left in the group
            os.killpg(proc.pid, signal.SIGKILL)
        reaper.forget(proc.pid)
        if proc in self._procs:
            self._procs.remove(proc)

    def close(self) -> None:
        for proc in reversed(list(self._procs)):
            self.stop(proc)


def read_lines(proc: subprocess.Popen[bytes], count: int, timeout: float, what: str) -> list[str]:
    """Read `count` announcement lines from a child's stdout, or fail clearly on timeout or early exit."""
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    buf = b""
    try:
        while len(lines) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise InfrastructureError(f"{what} did not become ready within {timeout:g} s")
            if not sel.select(left):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                raise InfrastructureError(f"{what} exited during start-up (exit code {proc.wait()})")
            buf += chunk
            while b"\n" in buf and len(lines) < count:
                line, buf = buf.split(b"\n", 1)
                lines.append(line.decode())
    finally:
        sel.close()
    return lines


def exit_on_sigterm() -> None:
    """Turn SIGTERM/SIGHUP into SystemExit so `finally` blocks (which stop the children) run."""

    def _raise(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise)
