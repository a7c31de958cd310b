"""Children die with their parent, even when the parent gets SIGKILL and no `finally` runs.

Two guards, for every process the harness starts:

- `die_with_parent()` is a `preexec_fn` that asks Linux (`prctl(PR_SET_PDEATHSIG, SIGTERM)`) to send the child
  SIGTERM when the thread that started it dies; it survives `exec`, so it covers nginx, node and LiteLLM too. It
  is set only from the main thread, since the kernel ties it to the starting thread, not the process.
- A reaper process, started once per parent, holds the read end of a pipe and a list of the children's process
  groups. When the pipe reaches end of file (the parent is gone, however it died) it sends SIGTERM to every group
  still listed, then SIGKILL after each group's grace (a short one by default; a child whose clean-up takes longer,
  such as removing a container through the Docker engine, is watched with its own). Groups cover grandchildren too
  (nginx workers, uvicorn workers).

This file also runs as the reaper itself (`python -I child_reaper.py`): standard library only, so it starts in
milliseconds, and in its own session, so a Ctrl-C to the terminal does not take it down before it is needed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

PR_SET_PDEATHSIG = 1
GRACE_S = 1.5  # after SIGTERM, what a child gets to flush (the fakes write their journals) before SIGKILL

_prctl: Callable[..., int] | None
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux: the reaper alone guards
    _prctl = None


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` that makes the child get SIGTERM when this thread dies, or None where that cannot work."""
    if _prctl is None or threading.current_thread() is not threading.main_thread():
        return None
    parent = os.getpid()
    prctl = _prctl

    def _preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died between fork and prctl
            os.kill(os.getpid(), signal.SIGTERM)

    return _preexec


class _Reaper:
    """The parent's side: one reaper process and the pipe that tells it which groups to kill."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner = 0
        self._proc: subprocess.Popen[bytes] | None = None

    def _send(self, line: str) -> None:
        with self._lock:
            if self._owner != os.getpid() or self._proc is None or self._proc.poll() is not None:
                self._proc = subprocess.Popen([sys.executable, "-I", os.path.abspath(__file__)],
                                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL, start_new_session=True)
                self._owner = os.getpid()
            assert self._proc.stdin is not None
            with contextlib.suppress(OSError):
                self._proc.stdin.write(line.encode() + b"\n")
                self._proc.stdin.flush()

    def watch(self, pgid: int, grace_s: float = GRACE_S) -> None:
        """Kill process group `pgid` if this process dies before calling `forget(pgid)`: SIGTERM, then SIGKILL
        after `grace_s`."""
        self._send(f"+{pgid} {grace_s:g}")

    def forget(self, pgid: int) -> None:
        """The group was stopped and reaped: its id may be reused, so never signal it again."""
        self._send(f"-{pgid}")


reaper = _Reaper()


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_all(groups: set[int], sig: int) -> None:
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)


def main() -> int:
    """The reaper: read "+PGID GRACE" / "-PGID" lines until end of file, then stop every group still listed:
    SIGTERM to all, then SIGKILL to each one still alive after its own grace."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    graces: dict[int, float] = {}
    for raw in sys.stdin.buffer:
        line = raw.strip()
        with contextlib.suppress(ValueError):
            if line[:1] == b"+":
                pgid, _, grace = line[1:].partition(b" ")
                graces[int(pgid)] = float(grace) if grace else GRACE_S
            elif line[:1] == b"-":
                graces.pop(int(line[1:]), None)
    groups = {g for g in graces if g > 1 and _alive(g)}
    _signal_all(groups, signal.SIGTERM)
    start = time.monotonic()
    while groups:
        waited = time.monotonic() - start
        _signal_all({g for g in groups if waited >= graces[g]}, signal.SIGKILL)
        groups = {g for g in groups if waited < graces[g] and _alive(g)}
        time.sleep(0.05)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
