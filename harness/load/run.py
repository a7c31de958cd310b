"""Running a load from the parent process: start the worker, relay its progress, stop it, collect the result.

The worker (`worker.py`) runs in its own process and session (process group), with gevent patched before
anything else is imported, so Locust never touches this process. Progress arrives over a pipe, one JSON
line per second. The worker stops by itself; the parent kills its whole group on Ctrl-C, on any error,
on `cancel()`, and when the worker overruns its time, so no run leaves a process behind.

Distributed (`load_workers`, `remote_workers`): the worker process becomes a Locust master (`master.py`), and this
process starts the local Locust workers (`node.py`, each in its own session, dying with this process) once the
master says where it listens; remote ones join with `gatedrill worker`. Cancelling stops the local workers too.

The result says whether the generator, not the gateway, was the bottleneck: it fell short of the schedule
(fewer than 95% of the scheduled arrivals started) or sent late (send-lag p99 over 50 ms). Latencies from
such a run measure the generator.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

import gatedrill
from gatedrill.fakes.errors import GatedrillError

from ..child_reaper import die_with_parent, reaper
from .distribution import local_address, parse_address
from .histogram import LatencyHistogram
from .progress import Progress
from .records import iter_records
from .spec import LoadSpec
from .summary import Tally
from .worker import FINISH_SIGNAL, HEADER_SWITCHES_ENV, HEADERS_ENV

RECORDS_FILE = "clients.jsonl"  # in out_dir: the run record's client records
CONTROL_RECORDS_FILE = "control/clients.jsonl"  # in out_dir: the control arm's client records
# The worker's own files, in out_dir/logs: what it was given, what it printed, its raw summary.
SPEC_FILE = "logs/load_spec.json"
LOG_FILE = "logs/load_worker.log"
NODE_LOG_FILE = "logs/load_node-{}.log"  # each local worker's of a distributed run
SUMMARY_FILE = "logs/load_summary.json"

MIN_ACHIEVED_SHARE = 0.95
MAX_SEND_LAG_P99_MS = 50.0
DEFAULT_API_KEY = "sk-gatedrill-load"
STARTUP_S = 30.0  # time the worker may take to import Locust and start
_BOOT = ("from gevent import monkey; monkey.patch_all()\n"
         "from gatedrill.harness.load.worker import main\nraise SystemExit(main())")
_NODE_BOOT = ("from gevent import monkey; monkey.patch_all()\n"
              "from gatedrill.harness.load.worker import node_main\nraise SystemExit(node_main())")
NODE_STOP_S = 10.0  # after the master ends, the most a local worker gets to exit by itself
# the folder that holds the `gatedrill` package, for a worker started from a source tree without an install
_PACKAGE_PARENT = Path(gatedrill.__file__).resolve().parent.parent


@dataclass
class LoadResult:
    """What a load run did: the worker's own summary, plus the parent's verdict on the generator itself."""

    records_path: Path
    worker: dict[str, Any]
    cancelled: bool = False
    warnings: list[str] = field(default_factory=list)
    generator_saturated: bool = False

    @property
    def tally(self) -> dict[str, Any]:
        return dict(self.worker.get("tally") or {})

    @property
    def requests(self) -> int:
        return int(self.tally.get("requests", 0))

    @property
    def ok(self) -> int:
        return int(self.tally.get("ok", 0))

    @property
    def errors(self) -> int:
        return int(self.tally.get("errors", 0))

    @property
    def target_rate(self) -> float | None:
        return self.worker.get("target_rate")

    @property
    def achieved_rate(self) -> float:
        return float(self.worker.get("achieved_rate") or 0.0)

    def histogram(self, name: str) -> LatencyHistogram:
        """`latency` (from intended send), `service` (from actual send), `ttft` or `send_lag`."""
        return LatencyHistogram.from_dict(self.tally.get(name) or {})

    def summary(self) -> dict[str, Any]:
        """Everything as one JSON-able dict (the run record's load summary)."""
        return {**self.worker, "records_path": str(self.records_path), "cancelled": self.cancelled,
                "generator_saturated": self.generator_saturated, "warnings": self.warnings}


def judge_generator(summary: dict[str, Any]) -> tuple[bool, list[str]]:
    """(saturated, warnings): was the generator itself the bottleneck?"""
    warnings: list[str] = []
    saturated = False
    tally = summary.get("tally") or {}
    if summary.get("mode") == "open" and summary.get("stop_reason") == "duration":
        # a dead worker's unsent share is reported as such, not as the surviving generators falling behind
        scheduled = int(summary.get("scheduled_arrivals") or 0) - int(summary.get("unsent_worker_died") or 0)
        started = int(summary.get("started_arrivals") or 0)
        if scheduled and started < MIN_ACHIEVED_SHARE * scheduled:
            saturated = True
            warnings.append(f"the generator was the bottleneck: it started {started} of {scheduled} scheduled "
                            f"arrivals ({started / scheduled:.1%} < {MIN_ACHIEVED_SHARE:.0%})")
        lag = float((tally.get("send_lag") or {}).get("p99_ms") or 0.0)
        if lag > MAX_SEND_LAG_P99_MS:
            saturated = True
            why = ""
            if summary.get("pool_waits"):
                why = (f"; every one of max_in_flight={summary.get('max_in_flight')} slots was busy "
                       f"{summary['pool_waits']} times (the gateway answers slower than the load needs: raise "
                       "max_in_flight)")
            warnings.append(f"the generator was the bottleneck: send lag p99 {lag:.1f} ms > "
                            f"{MAX_SEND_LAG_P99_MS:g} ms{why}")
    if (summary.get("locust") or {}).get("cpu_warning"):
        warnings.append("Locust saw the generator process above 90% CPU")
    for w in summary.get("workers") or []:
        if w.get("state") == "died":
            warnings.append(f"load worker {w['index']} ({w.get('host') or '?'}, pid {w.get('pid')}) died (last heard "
                            f"{w.get('last_heard_s')} s into the load, found dead at {w.get('died_after_s')} s): "
                            f"its {w.get('unsent_arrivals', 0)} unsent arrivals count as not sent; "
                            f"{w.get('in_flight_at_death', 0)} requests it had in flight have no record")
    if summary.get("failure"):
        warnings.append("the generator failed: " + str(summary["failure"]).strip().splitlines()[-1])
    return saturated, warnings


class LoadRun:
    """One load run in a worker subprocess. Use as a context manager, or `start()` then `wait()`/`cancel()`."""

    def __init__(self, spec: LoadSpec, gateway_url: str, duration_s: float, seed: int, out_dir: str | Path, *,
                 headers: dict[str, str] | None = None, drain_s: float | None = None, run_id: str | None = None,
                 api_key: str | None = DEFAULT_API_KEY, on_progress: Callable[[Progress], None] | None = None,
                 on_start: Callable[[float, float], None] | None = None, control_url: str | None = None,
                 header_switches: list[tuple[float, dict[str, str]]] | None = None,
                 on_switch: Callable[[int, float], None] | None = None,
                 finish: threading.Event | None = None, load_workers: int = 0, remote_workers: int = 0,
                 master_bind: str = "127.0.0.1:0", join_timeout_s: float = 300.0,
                 on_event: Callable[[dict[str, Any]], None] | None = None) -> None:
        if duration_s <= 0:
            raise GatedrillError(f"load duration must be > 0 s, not {duration_s}")
        self.spec = spec
        self.url = gateway_url
        self.duration_s = float(duration_s)
        self.seed = int(seed)
        self.out_dir = Path(out_dir)
        self.headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self.headers.update({k.lower(): v for k, v in (headers or {}).items()})
        self.drain_s = spec.request_timeout_s if drain_s is None else float(drain_s)
        self.run_id = run_id or f"gd{seed}"
        self.on_progress = on_progress
        self.on_start = on_start  # called with (t0_mono, t0_wall) as soon as the worker fixes its t=0
        self.records_path = self.out_dir / RECORDS_FILE
        self.control_url = control_url  # the control arm's fake; its records go to CONTROL_RECORDS_FILE
        # (at_s, headers): requests intended from at_s on carry these headers instead (a per-request routing switch)
        self.header_switches = [(float(at), {k.lower(): v for k, v in h.items()}) for at, h in header_switches or []]
        self.on_switch = on_switch  # called with (switch index, monotonic time of the first request carrying it)
        self.summary_path = self.out_dir / SUMMARY_FILE
        self.proc: subprocess.Popen[bytes] | None = None
        self._forgotten = False  # the reaper no longer watches the worker's group (it was reaped)
        self._fd: int | None = None
        self._buf = b""
        self._log: IO[bytes] | None = None
        self.final: dict[str, Any] | None = None
        self.last_progress: Progress | None = None
        self.cancelled = False
        self.finish_event = finish  # set (from any thread): end the run early and drain, as `finish()` does
        self._finishing = False
        self._started = False  # the worker said when its t=0 is: its signal handlers are in place
        # A distributed run: this process (the master) plus `load_workers` local Locust workers it starts and
        # `remote_workers` that join from elsewhere (`gatedrill worker --master HOST:PORT`).
        if load_workers < 0 or remote_workers < 0:
            raise GatedrillError("the number of load workers must be >= 0")
        try:
            parse_address(master_bind)
        except ValueError as exc:
            raise GatedrillError(f"the load master's address: {exc}") from None
        self.load_workers = int(load_workers)
        self.remote_workers = int(remote_workers)
        self.master_bind = master_bind
        self.join_timeout_s = float(join_timeout_s)
        self.on_event = on_event  # worker_joined, worker_died, worker_sample and master messages
        self.master_address: tuple[str, int] | None = None  # where workers connect, once the master listens
        self.nodes: list[subprocess.Popen[bytes]] = []
        self._nodes_forgotten: set[int] = set()
        self._node_logs: list[IO[bytes]] = []

    @property
    def workers(self) -> int:
        """Load workers of a distributed run (0: one generator process)."""
        return self.load_workers + self.remote_workers

    @property
    def node_pids(self) -> list[int]:
        return [p.pid for p in self.nodes]

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def start(self) -> LoadRun:
        (self.out_dir / "logs").mkdir(parents=True, exist_ok=True)
        for stale in (self.records_path, self.summary_path, self.out_dir / CONTROL_RECORDS_FILE):
            stale.unlink(missing_ok=True)
        spec_path = self.out_dir / SPEC_FILE
        spec_path.write_text(self.spec.model_dump_json(indent=2))
        r, w = os.pipe()
        argv = [sys.executable, "-c", _BOOT, "--spec", str(spec_path), "--url", self.url,
                "--duration", repr(self.duration_s), "--seed", str(self.seed), "--out", str(self.records_path),
                "--summary", str(self.summary_path), "--status-fd", str(w), "--run-id", self.run_id,
                "--drain", repr(self.drain_s)]
        if self.control_url:
            argv += ["--control-url", self.control_url, "--control-out", str(self.out_dir / CONTROL_RECORDS_FILE)]
        if self.workers:
            argv += ["--workers", str(self.workers), "--master-bind", self.master_bind,
                     "--join-timeout", repr(self.join_timeout_s if self.remote_workers else STARTUP_S)]
        env = dict(os.environ)
        # headers carry the API key: through the environment (readable by this user only), never argv (`ps`)
        env[HEADERS_ENV] = orjson.dumps(self.headers).decode()
        env[HEADER_SWITCHES_ENV] = orjson.dumps(self.header_switches).decode()
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_PACKAGE_PARENT), env.get("PYTHONPATH")) if p)
        self._log = open(self.out_dir / LOG_FILE, "ab")  # noqa: SIM115 - closed in _close()
        try:
            self.proc = subprocess.Popen(argv, pass_fds=(w,), start_new_session=True, stdin=subprocess.DEVNULL,
                                         stdout=self._log, stderr=self._log, env=env,
                                         preexec_fn=die_with_parent())
            reaper.watch(self.proc.pid)
        except BaseException:
            os.close(r)
            os.close(w)
            self._close()
            raise
        os.close(w)
        self._fd = r
        return self

    def __enter__(self) -> LoadRun:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.cancel()
        self._close()

    def _messages(self, timeout: float) -> list[dict[str, Any]]:
        """Status lines available within timeout; [] at EOF (then `_fd` is None)."""
        fd = self._fd
        if fd is None:
            return []
        ready, _, _ = select.select([fd], [], [], max(0.0, timeout))
        if not ready:
            return []
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            os.close(fd)
            self._fd = None
            return []
        self._buf += chunk
        *lines, self._buf = self._buf.split(b"\n")
        out = []
        for line in lines:
            with contextlib.suppress(orjson.JSONDecodeError):
                out.append(orjson.loads(line))
        return out

    def _handle(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "progress":
            p = Progress.from_dict(msg)
            self.last_progress = p
            if self.on_progress is not None:
                self.on_progress(p)
        elif kind == "started":
            self._started = True
            if self.on_start is not None:
                self.on_start(float(msg["t0_mono"]), float(msg["t0_wall"]))
        elif kind == "switch":
            if self.on_switch is not None:
                self.on_switch(int(msg["index"]), float(msg["sent_mono"]))
        elif kind == "final":
            self.final = msg
        elif kind == "master":
            self.master_address = (str(msg["host"]), int(msg["port"]))
            self._start_nodes()
            if self.on_event is not None:
                self.on_event(msg)
        elif kind in ("worker_joined", "worker_died", "worker_sample") and self.on_event is not None:
            self.on_event(msg)

    def _start_nodes(self) -> None:
        """The local workers of a distributed run, each in its own session, dying with this process."""
        if self.master_address is None or self.nodes:
            return
        host, port = self.master_address
        env = {k: v for k, v in os.environ.items() if k not in (HEADERS_ENV, HEADER_SWITCHES_ENV)}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_PACKAGE_PARENT), env.get("PYTHONPATH")) if p)
        for k in range(self.load_workers):
            log = open(self.out_dir / NODE_LOG_FILE.format(k), "ab")  # noqa: SIM115 - closed in _close()
            self._node_logs.append(log)
            proc = subprocess.Popen(node_argv(f"{local_address(host)}:{port}", STARTUP_S, local=True),
                                    start_new_session=True, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                    preexec_fn=die_with_parent())
            reaper.watch(proc.pid)
            self.nodes.append(proc)

    def poll(self, timeout: float = 0.0) -> Progress | None:
        """Relay the status lines that arrive within `timeout`; the latest progress (None before the first)."""
        for msg in self._messages(timeout):
            self._handle(msg)
        return self.last_progress

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait(self) -> LoadResult:
        """Relay progress until the worker ends; any error or Ctrl-C here kills the worker's group."""
        assert self.proc is not None, "start() first"
        joining = (self.join_timeout_s if self.remote_workers else STARTUP_S) if self.workers else 0.0
        deadline = time.monotonic() + STARTUP_S + joining + self.duration_s + self.drain_s + 15.0
        try:
            while self._fd is not None:
                if self.finish_event is not None and self.finish_event.is_set():
                    self.finish()
                if time.monotonic() > deadline:
                    raise GatedrillError(f"the load generator (pid {self.proc.pid}) did not stop in time; killed it")
                for msg in self._messages(0.5):
                    self._handle(msg)
            try:
                code = self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                raise GatedrillError(f"the load generator (pid {self.proc.pid}) did not exit; killed it") from None
            self._stop_nodes(NODE_STOP_S)
            if not self.summary_path.exists():
                raise GatedrillError(f"the load generator failed (exit {code}) before its summary; see "
                                     f"{self.out_dir / LOG_FILE}:\n{self._log_tail()}")
            return self.result()
        except BaseException:
            self.cancel()
            raise
        finally:
            self._close()

    def finish(self) -> None:
        """End the run early, gracefully: the worker starts no new request and lets those in flight finish, then
        summarises as usual (stop_reason "stopped"). Once; a no-op when the worker has ended, and until it has
        started (before then SIGUSR1 would kill it; `wait` asks again)."""
        proc = self.proc
        if proc is None or self._finishing or not self._started or proc.poll() is not None:
            return
        self._finishing = True
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, FINISH_SIGNAL)

    def cancel(self) -> None:
        """Stop the worker now: SIGTERM to its process group (it records what was in flight), then SIGKILL."""
        proc = self.proc
        if proc is None:
            return
        self._stop_nodes(0.0)
        # Signal only an unreaped worker: until we reap it, its pid (= its group id) cannot be reused.
        if proc.poll() is None:
            self.cancelled = True
            _signal_group(proc.pid, signal.SIGTERM)
            end = time.monotonic() + 5.0
            while proc.poll() is None and time.monotonic() < end:
                if self._fd is None:
                    time.sleep(0.05)
                for msg in self._messages(0.1):
                    self._handle(msg)
            if proc.poll() is None:
                _signal_group(proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)
        self._close()

    def _stop_nodes(self, grace: float) -> None:
        """Local workers: give them `grace` seconds to exit by themselves, then SIGTERM, then SIGKILL their groups."""
        end = time.monotonic() + grace
        for node in self.nodes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.wait(timeout=max(0.0, end - time.monotonic()))
        for sig, wait_s in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            alive = [n for n in self.nodes if n.poll() is None]
            for node in alive:
                _signal_group(node.pid, sig)
            for node in alive:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    node.wait(timeout=wait_s)

    def result(self) -> LoadResult:
        """The result from the worker's summary, or, if it died first, folded from the records it wrote."""
        if self.summary_path.exists():
            summary = orjson.loads(self.summary_path.read_bytes())
        else:
            tally = Tally()
            if self.records_path.exists():
                tally.extend(iter_records(self.records_path))
            summary = {"mode": self.spec.mode, "stop_reason": "killed", "duration_s": self.duration_s,
                       "seed": self.seed, "run_id": self.run_id, "tally": tally.to_dict(),
                       "records_path": str(self.records_path)}
        saturated, warnings = judge_generator(summary)
        return LoadResult(records_path=self.records_path, worker=summary, cancelled=self.cancelled,
                          warnings=warnings, generator_saturated=saturated)

    def _log_tail(self, n: int = 20) -> str:
        try:
            lines = (self.out_dir / LOG_FILE).read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])

    def _close(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.poll()
        if self.proc is not None and self.proc.returncode is not None and not self._forgotten:
            self._forgotten = True
            reaper.forget(self.proc.pid)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._log is not None:
            self._log.close()
            self._log = None
        for node in self.nodes:
            if node.poll() is not None and node.pid not in self._nodes_forgotten:
                self._nodes_forgotten.add(node.pid)
                reaper.forget(node.pid)
        if self.proc is not None and self.proc.returncode is not None:
            for log in self._node_logs:
                log.close()
            self._node_logs.clear()


def node_argv(master: str, join_timeout_s: float, local: bool = False) -> list[str]:
    """The command line of a distributed run's worker (`local`: it stops when its parent goes away)."""
    return [sys.executable, "-c", _NODE_BOOT, "--master", master, "--join-timeout", repr(float(join_timeout_s)),
            *(["--local"] if local else [])]


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def run_load(spec: LoadSpec, gateway_url: str, duration_s: float, seed: int, out_dir: str | Path,
             on_progress: Callable[[Progress], None] | None = None, *, headers: dict[str, str] | None = None,
             drain_s: float | None = None, run_id: str | None = None,
             api_key: str | None = DEFAULT_API_KEY,
             on_start: Callable[[float, float], None] | None = None,
             control_url: str | None = None, header_switches: list[tuple[float, dict[str, str]]] | None = None,
             on_switch: Callable[[int, float], None] | None = None,
             finish: threading.Event | None = None, load_workers: int = 0, remote_workers: int = 0,
             master_bind: str = "127.0.0.1:0", join_timeout_s: float = 300.0,
             on_event: Callable[[dict[str, Any]], None] | None = None) -> LoadResult:
    """Drive `spec` against the gateway for `duration_s` seconds; client records land in `out_dir`.

    Every request carries `authorization: Bearer <api_key>` (gateways want a key; fakes want any) plus
    `headers`. With `control_url`, a share of arrivals (`spec.control_share`) is also sent straight there (the
    control arm). With `header_switches` [(at_s, headers)], requests intended from at_s on carry those headers
    over `headers` (a gateway that takes its routing per request changes it so); `on_switch(index, sent_mono)` hears
    when the first such request went out. Blocks until the worker has stopped; Ctrl-C or an error kills it (and its
    process group) first. Setting `finish` (from any thread) ends the run early and gracefully, as if its duration
    were over.

    With `load_workers` and/or `remote_workers`, the run is distributed on Locust's master and workers: this worker
    process becomes the master (bound at `master_bind`, 127.0.0.1 by default), `load_workers` local worker processes
    are started, and `remote_workers` more are awaited for `join_timeout_s` (`gatedrill worker --master HOST:PORT`).
    Each sends its share of the seeded schedule; the result has the same shape, with `load_workers` and `workers`.
    `on_event` hears the master's address and each worker's joining, death and CPU/loop-lag samples.
    """
    with LoadRun(spec, gateway_url, duration_s, seed, out_dir, headers=headers, drain_s=drain_s, run_id=run_id,
                 api_key=api_key, on_progress=on_progress, on_start=on_start, control_url=control_url,
                 header_switches=header_switches, on_switch=on_switch, finish=finish, load_workers=load_workers,
                 remote_workers=remote_workers, master_bind=master_bind, join_timeout_s=join_timeout_s,
                 on_event=on_event) as run:
        return run.wait()
