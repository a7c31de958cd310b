"""Run records whose runner died without closing them: recognised by a lock and marked `abandoned`.

A live runner holds an exclusive `flock` on `RUN/.runner.lock` for the whole run. The kernel drops the lock
when the runner dies, however it dies (SIGKILL included), so a record that still says `running` but whose lock
can be taken belongs to no one. The next run in the same folder of runs marks it `abandoned`. A record with no
lock file (written before this existed) is left alone: nothing proves its runner is gone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from pathlib import Path

LOCK_FILE = ".runner.lock"
ABANDONED = "abandoned"


class RunnerLock:
    """Held by the runner from the moment its record exists until the record is closed."""

    def __init__(self, run_dir: Path) -> None:
        self._fd: int | None = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _unowned(run_dir: Path) -> bool:
    lock = run_dir / LOCK_FILE
    if not lock.exists():
        return False
    fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing drops the lock again
    return True


def mark_abandoned(runs_dir: Path) -> list[Path]:
    """Mark every record under `runs_dir` left `running` by a runner that is gone; return their folders."""
    marked: list[Path] = []
    if not runs_dir.is_dir():
        return marked
    for meta_path in sorted(runs_dir.glob("*/meta.json")):
        with contextlib.suppress(OSError, ValueError):
            meta = json.loads(meta_path.read_text())
            if meta.get("outcome") != "running" or not _unowned(meta_path.parent):
                continue
            meta.update(outcome=ABANDONED, error="the runner died before it closed this record (killed, e.g. "
                                                 "SIGKILL or out of memory); its processes were stopped with it",
                        abandoned_noticed_wall=time.time())
            tmp = meta_path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(meta, indent=2, sort_keys=True))
            tmp.replace(meta_path)
            marked.append(meta_path.parent)
    return marked
