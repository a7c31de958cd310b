"""Busy-loop processes pinned one per core, outside the test process's tree (as another CI job would be), each
bounded in time: they end by themselves after `seconds`, and are killed by pid when the block ends."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

_LOOP = """
import os, sys, time
pid = os.fork()
if pid:
    print(pid, flush=True)
    os._exit(0)
os.setsid()
null = os.open(os.devnull, os.O_RDWR)
for fd in (0, 1, 2):  # let go of the launcher's pipes, so it is done as soon as it exits
    os.dup2(null, fd)
os.sched_setaffinity(0, {int(sys.argv[1])})
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    pass
"""


@contextlib.contextmanager
def busy_cores(seconds: float, cores: list[int] | None = None) -> Iterator[list[int]]:
    """One CPU-bound process per core (all cores by default); yields their pids. The launcher exits at once, so the
    loops are re-parented away from this process: gatedrill's sampler must count them as other processes."""
    pids: list[int] = []
    try:
        for core in cores if cores is not None else sorted(os.sched_getaffinity(0)):
            out = subprocess.run([sys.executable, "-c", _LOOP, str(core), repr(seconds)], capture_output=True,
                                 text=True, timeout=10, check=True)
            pids.append(int(out.stdout.strip()))
        yield pids
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
