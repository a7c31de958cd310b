"""The reaper's grace per child: when the harness dies outright, a child that needs seconds for its own clean-up (the
container follower removing its container through a busy Docker engine) gets them, while a child that ignores
SIGTERM is still killed after the short default grace."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil

SLOW_CLEANUP = """
import pathlib, signal, sys, time
def bye(*_):
    time.sleep(3)  # longer than the default grace
    pathlib.Path(sys.argv[1]).write_text("cleaned")
    sys.exit(0)
signal.signal(signal.SIGTERM, bye)
while True:
    time.sleep(1)
"""

STUBBORN = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
while True:
    time.sleep(1)
"""

HARNESS = """
import sys, pathlib
from gatedrill.harness.processes import Processes
work = pathlib.Path(sys.argv[1])
procs = Processes(work)
slow = procs.start([sys.executable, "-c", sys.argv[2], str(work / "cleaned")], None, grace_s=20)
stubborn = procs.start([sys.executable, "-c", sys.argv[3]], None)
print(slow.pid, stubborn.pid, flush=True)
sys.stdin.read()
"""


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_harness_killed_outright_gives_each_child_its_own_grace(tmp_path: Path) -> None:
    harness = subprocess.Popen([sys.executable, "-c", HARNESS, str(tmp_path), SLOW_CLEANUP, STUBBORN],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    pids: list[int] = []
    try:
        assert harness.stdout is not None
        pids = [int(x) for x in harness.stdout.readline().split()]
        time.sleep(1.0)  # both children have installed their handlers
    finally:
        harness.kill()  # SIGKILL: only the reaper is left to stop the children
        harness.wait()
    slow, stubborn = pids
    deadline = time.monotonic() + 20
    while not (_gone(slow) and _gone(stubborn)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids:
        if not _gone(pid):
            psutil.Process(pid).kill()
    assert _gone(stubborn), "a child that ignores SIGTERM must be killed after the default grace"
    assert (tmp_path / "cleaned").read_text() == "cleaned", "the slow child was killed before its clean-up ended"
