"""The host sampler: while a drill runs, a thread in the runner samples the machine's condition into `host.jsonl`
(one `HostSample` per line, the model in `harness.record`).

Each sample (every `interval_s`) holds, for the time since the previous one: the cores busy and stolen
(`/proc/stat`), the runnable tasks (`/proc/loadavg` field 4, the sampler itself left out) and the 1-minute load,
and the CPU each process gatedrill started used (psutil CPU times of the runner's descendants, labelled: the
fakes, the gateway and its workers, the load generator and its local workers). A distributed load's workers also
report their own process (CPU, event-loop lag) once a second, wherever they run (`worker_sample`, `add`). Everything
else that ran is `other` CPU: what busy jobs
outside the drill took. `condition.py` turns these samples into windows the host could not serve.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path
from typing import Any

from ..record import HOST_FILE, HostSample

__all__ = ["GENERATOR_MARK", "HOST_FILE", "HostSampler", "cpu_ticks", "loadavg", "worker_sample"]
GENERATOR_MARK = "gatedrill.harness.load.worker"  # in the command line of the load process and its local workers


def cpu_ticks() -> tuple[float, float, float]:
    """(total, busy, steal) jiffies summed over all CPUs, from the first line of /proc/stat."""
    with open("/proc/stat", "rb") as f:
        parts = [float(x) for x in f.readline().split()[1:]]
    parts += [0.0] * (8 - len(parts))
    user, nice, system, _idle, _iowait, irq, softirq, steal = parts[:8]
    total = sum(parts[:8])
    return total, user + nice + system + irq + softirq + steal, steal


def loadavg() -> tuple[float, int]:
    """(1-minute load average, tasks runnable now)."""
    with open("/proc/loadavg", "rb") as f:
        fields = f.read().split()
    return float(fields[0]), int(fields[3].split(b"/")[0])


def worker_sample(msg: dict[str, Any]) -> HostSample:
    """A distributed load worker's report on its own process (CPU in cores, worst event-loop lag), as a host sample:
    a worker on another host is a machine this sampler cannot see."""
    cpu = float(msg.get("cpu") or 0.0)
    wall = float(msg.get("wall") or time.time())
    return HostSample(mono=round(wall - (time.time() - time.monotonic()), 6), wall=round(wall, 6),
                      dt=float(msg.get("dt") or 0.0), cores=0, busy=cpu, procs={"generator": cpu},
                      worker=int(msg["worker"]), worker_host=msg.get("host"), loop_lag_ms=msg.get("loop_lag_ms"))


class HostSampler:
    """A daemon thread that appends one JSON sample per interval to `path`; `labels` names known child pids."""

    def __init__(self, path: Path, labels: dict[int, str] | None = None, interval_s: float = 0.25) -> None:
        self.path = path
        self.labels = dict(labels or {})
        self.interval_s = interval_s
        self.cores = os.cpu_count() or 1
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="gatedrill-host-sampler", daemon=True)
        self._procs: dict[int, Any] = {}  # pid -> psutil.Process
        self._cpu: dict[int, float] = {}  # pid -> CPU seconds at the previous sample
        self._extra: list[HostSample] = []  # samples handed in (load workers'), written by the sampling thread
        self._lock = threading.Lock()

    def add(self, sample: HostSample) -> None:
        """Write `sample` too (from any thread), with the next one of the host's."""
        with self._lock:
            self._extra.append(sample)

    def _drain(self) -> bytes:
        with self._lock:
            extra, self._extra = self._extra, []
        return b"".join(s.model_dump_json(exclude_none=True).encode() + b"\n" for s in extra)

    def label(self, pid: int, name: str) -> None:
        self.labels[pid] = name

    def start(self) -> HostSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def __enter__(self) -> HostSampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _label_of(self, proc: Any) -> str:
        """The label of a process or of its nearest labelled ancestor; the generator by its command line."""
        import psutil

        with contextlib.suppress(psutil.Error):
            if any(GENERATOR_MARK in part for part in proc.cmdline()):
                return "generator"
            for p in [proc, *proc.parents()]:
                if p.pid in self.labels:
                    return self.labels[p.pid]
        return "other_child"

    def _process_cpu(self, me: Any) -> dict[str, float]:
        """CPU seconds each label's processes used since the previous sample."""
        import psutil

        used: dict[str, float] = {}
        seen: set[int] = set()
        try:
            children = me.children(recursive=True)
        except psutil.Error:
            children = []
        for proc in [me, *children]:
            pid = proc.pid
            seen.add(pid)
            if pid not in self._procs:
                self._procs[pid] = proc
            try:
                t = self._procs[pid].cpu_times()
            except psutil.Error:
                continue
            now = t.user + t.system
            before = self._cpu.get(pid)
            self._cpu[pid] = now
            if before is None:
                continue
            name = "runner" if proc is me else self._label_of(self._procs[pid])
            used[name] = used.get(name, 0.0) + max(0.0, now - before)
        for gone in set(self._procs) - seen:
            self._procs.pop(gone, None)
            self._cpu.pop(gone, None)
        return used

    def _loop(self) -> None:
        import psutil

        me = psutil.Process()
        prev_t, prev_ticks = time.monotonic(), cpu_ticks()
        self._process_cpu(me)
        with self.path.open("ab") as out:
            while not self._stop.wait(self.interval_s):
                now, ticks = time.monotonic(), cpu_ticks()
                dt = max(1e-6, now - prev_t)
                total = max(1e-9, ticks[0] - prev_ticks[0])
                busy = (ticks[1] - prev_ticks[1]) / total * self.cores
                steal = (ticks[2] - prev_ticks[2]) / total * self.cores
                load1, running = loadavg()
                procs = {k: round(v / dt, 3) for k, v in self._process_cpu(me).items()}
                sample = HostSample(mono=round(now, 6), wall=round(time.time(), 6), dt=round(dt, 4), cores=self.cores,
                                    busy=round(busy, 3), steal=round(steal, 3), running=max(0, running - 1),
                                    load1=load1, procs=procs)
                out.write(sample.model_dump_json(exclude_none=True).encode() + b"\n" + self._drain())
                out.flush()
                prev_t, prev_ticks = now, ticks
            out.write(self._drain())
