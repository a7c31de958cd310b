"""Child processes for the benchmarks: pinned to a core, each in its own process group, always killed.

Also reads what the kernel knows about a process tree (CPU time and memory from /proc), which is the
figure the benchmarks report: on a shared, noisy machine CPU time per request is stable where
requests per second is not.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from gatedrill.harness.processes import Processes as _Processes

CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVER_CORE = 0
LOAD_CORE = 1


# Decided once, before `pin_self` narrows this process (and what it starts) to one core.
_CAN_PIN = hasattr(os, "sched_setaffinity") and {SERVER_CORE, LOAD_CORE} <= os.sched_getaffinity(0)


def pinning_available() -> bool:
    return _CAN_PIN


def pin_self(core: int) -> None:
    """Pin this process (the load generator and its children unless they say otherwise) to one core."""
    if pinning_available():
        os.sched_setaffinity(0, {core})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Processes(_Processes):
    """The harness's process groups, with an optional core to pin each child to."""

    def start(self, argv: list[str], core: int | str | None, log_name: str,  # type: ignore[override]
              stdout: int | IO[Any] | None = None, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        if core is not None and pinning_available():
            argv = ["taskset", "-c", str(core), *argv]
        return super().start(argv, log_name, stdout, env)


def _stat_fields(pid: int) -> list[str]:
    data = Path(f"/proc/{pid}/stat").read_text()
    return data[data.rfind(")") + 2:].split()  # fields from 3 (state) on; comm may hold spaces


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int(_stat_fields(int(entry.name))[1]) == pid:
                    out.append(int(entry.name))
    return out


def tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo.extend(_children(p))
    return pids


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes (all their threads), in seconds."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            f = _stat_fields(pid)
            total += int(f[11]) + int(f[12])  # utime, stime (fields 14 and 15)
    return total / CLK_TCK


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of one process, in kB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def get_json(url: str, timeout: float = 5.0) -> Any:
    import json

    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=1.0):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} not ready after {timeout:.0f} s") from None
            time.sleep(0.05)


def run_main(main: Callable[[], int]) -> None:
    """A bench's entry point: its exit code, or 130 on Ctrl-C (every process it started stops in its own cleanup)."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted; every process started was stopped", file=sys.stderr)
        sys.exit(130)
