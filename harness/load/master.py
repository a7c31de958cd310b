"""A distributed run's master, inside the load process: Locust's MasterRunner, our schedule split over its workers.

Only Locust's own runners and message channel are used (ZeroMQ, the `gd_*` custom messages): no other protocol.
The master waits for `count` workers (`gatedrill worker`, or the local ones `LoadRun` starts), gives each its
share of the seeded schedule (`distribution.Share`) and a common t=0 (wall clock: workers on other hosts need
synchronised clocks, as Locust's own statistics do), then starts one Locust user per worker (open model) or
`concurrency` users spread by Locust (closed model). Workers stream their client records back in batches; the
master appends them to the run record's files, relays merged progress and the workers' CPU and event-loop samples
to the parent, and at the end merges the workers' summaries (HDR histograms) into one of a single generator's
shape. A worker that stops heartbeating (Locust marks it missing) or quits without its summary has died: the
summary says so, with its unsent share.

Every wait is bounded: joining (`join_timeout_s`), readiness, the run (duration + drain + a margin), and the
wait for summaries after an abort.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import gevent
import gevent.event
from locust.env import Environment
from locust.runners import STATE_MISSING, MasterRunner

from .distribution import DIED, FINISHED, Share, merge_summaries, merge_tallies, owned_arrivals, session_owner
from .driver import DriveConfig, user_class
from .histogram import LatencyHistogram
from .progress import DONE, DRAINING, RUNNING, STARTING, Progress
from .records import iter_records
from .schedule import expected_arrivals
from .summary import Tally

READY_TIMEOUT_S = 30.0  # from config to every worker's ready
LEAD_S = 0.5  # t=0 this long after the last worker is ready (the go message and the spawn must reach them first)
AFTER_S = 20.0  # past duration + drain, the most the master waits for summaries
ABORT_WAIT_S = 3.0  # after an abort, the most it waits for the workers' last records


class Master:
    """One distributed run. `run()` blocks until every worker has sent its summary or died, then returns the
    merged summary; `abort()` and `finish_early()` pass the word on to the workers."""

    def __init__(self, cfg: DriveConfig, count: int, bind: tuple[str, int], on_status: Callable[[dict[str, Any]], None],
                 join_timeout_s: float = 300.0, control_records_path: Path | None = None) -> None:
        if count < 1:
            raise ValueError(f"a distributed run needs at least one worker, not {count}")
        self.cfg = cfg
        self.count = count
        self.on_status = on_status
        self.join_timeout_s = join_timeout_s
        self.drain_s = cfg.spec.request_timeout_s if cfg.drain_s is None else cfg.drain_s
        user_cls = user_class(None, cfg.url)  # the workers' class, by name
        self.user_name = user_cls.__name__
        self.env = Environment(user_classes=[user_cls], host=cfg.url)
        self.runner: MasterRunner = self.env.create_master_runner(bind[0], bind[1])
        self.port = int(self.runner.server.port)
        self.files: dict[str, IO[bytes]] = {"gw": open(cfg.records_path, "ab")}  # noqa: SIM115 - closed in run()
        self.control_records_path = control_records_path
        if control_records_path is not None:
            control_records_path.parent.mkdir(parents=True, exist_ok=True)
            self.files["ctl"] = open(control_records_path, "ab")  # noqa: SIM115 - closed in run()
        self.lines = {"gw": 0, "ctl": 0}
        self.index_of: dict[str, int] = {}  # Locust client id -> share index
        self.ready: dict[int, dict[str, Any]] = {}
        self.status: dict[int, dict[str, Any]] = {}  # the latest progress of each worker
        self.finals: dict[int, dict[str, Any]] = {}
        self.died: dict[int, float] = {}  # index -> seconds after t0 it was found dead
        self.heard: dict[int, float] = {}  # index -> when its last progress arrived (monotonic)
        self.switches_seen: set[int] = set()
        self.t0_mono = 0.0
        self.t0_wall = 0.0
        self.stop_reason: str | None = None
        self.failure: str | None = None
        self.phase = STARTING
        self.event = gevent.event.Event()  # set on every message that may end a wait
        self.cpu0 = time.process_time()
        # live progress: every worker's requests, folded as they are reported (the record merges the workers' own)
        self.live_latency, self.live_lag, self.live_window = LatencyHistogram(), LatencyHistogram(), LatencyHistogram()
        for name, handler in (("gd_ready", self._on_ready), ("gd_status", self._on_status),
                              ("gd_records", self._on_records), ("gd_final", self._on_final),
                              ("gd_sample", self._on_sample)):
            self.runner.register_message(name, handler)

    # -- messages from workers ------------------------------------------------------------------------------

    def _index(self, msg: Any) -> int | None:
        return self.index_of.get(msg.node_id)

    def _on_ready(self, environment: Environment, msg: Any, **_kw: Any) -> None:
        i = self._index(msg)
        if i is not None:
            self.ready[i] = dict(msg.data or {})
            self.event.set()

    def _on_status(self, environment: Environment, msg: Any, **_kw: Any) -> None:
        i = self._index(msg)
        if i is None:
            return
        data = msg.data or {}
        self.heard[i] = time.monotonic()
        if data.get("type") == "switch":
            index = int(data["index"])
            if index not in self.switches_seen:
                self.switches_seen.add(index)
                self.on_status(data)
        elif data.get("type") == "progress":
            for latency, lag, ok in data.pop("live", None) or []:
                self.live_latency.record(latency)
                self.live_lag.record(lag)
                if ok:
                    self.live_window.record(latency)
            self.status[i] = data

    def _on_records(self, environment: Environment, msg: Any, **_kw: Any) -> None:
        if self._index(msg) is None:
            return
        arm = msg.data.get("arm", "gw")
        f = self.files.get(arm)
        lines = msg.data.get("lines") or b""
        if f is not None and lines:
            f.write(lines)
            self.lines[arm] += lines.count(b"\n")

    def _on_final(self, environment: Environment, msg: Any, **_kw: Any) -> None:
        i = self._index(msg)
        if i is not None:
            self.finals[i] = dict(msg.data or {})
            self.event.set()

    def _on_sample(self, environment: Environment, msg: Any, **_kw: Any) -> None:
        i = self._index(msg)
        if i is not None:
            self.on_status({"type": "worker_sample", "worker": i, **(msg.data or {})})

    # -- control --------------------------------------------------------------------------------------------

    def _broadcast(self, kind: str, data: dict[str, Any] | None = None) -> None:
        for cid, i in self.index_of.items():
            if i not in self.finals and i not in self.died:
                with contextlib.suppress(Exception):
                    self.runner.send_message(kind, data or {}, client_id=cid)

    def abort(self, reason: str = "cancelled") -> None:
        """Stop now: the workers cut what is in flight (recorded as aborted) and send their summaries."""
        if self.stop_reason is None:
            self.stop_reason = reason
            self._broadcast("gd_abort", {"reason": reason})
            self.event.set()

    def finish_early(self) -> None:
        """End the run as if its duration were over: the workers start nothing new and drain."""
        if self.stop_reason is None:
            self.stop_reason = "stopped"
            self._broadcast("gd_finish")

    # -- the run --------------------------------------------------------------------------------------------

    def _wait(self, until: Callable[[], bool], deadline: float) -> bool:
        while not until():
            left = deadline - time.monotonic()
            if left <= 0 or (self.stop_reason is not None and self.phase == STARTING):
                return until()
            self.event.clear()
            self.event.wait(min(left, 0.25))
        return True

    def _join(self) -> None:
        """Wait for `count` workers; give each its share; wait until each is ready."""
        runner = self.runner
        self.on_status({"type": "master", "host": runner.master_bind_host, "port": self.port,
                        "workers": self.count})
        deadline = time.monotonic() + self.join_timeout_s
        if not self._wait(lambda: len(runner.clients.ready) >= self.count, deadline):
            raise JoinError(f"only {len(runner.clients.ready)} of {self.count} load workers joined the master on "
                            f"port {self.port} within {self.join_timeout_s:g} s")
        joined = sorted(runner.clients.ready, key=lambda c: runner.get_worker_index(c.id))
        for extra in joined[self.count:]:
            runner.send_message("quit", None, client_id=extra.id)
        cfg = self.cfg
        for i, client in enumerate(joined[:self.count]):
            self.index_of[client.id] = i
            runner.send_message("gd_config", {
                "index": i, "count": self.count, "spec": cfg.spec.model_dump_json(), "url": cfg.url,
                "duration_s": cfg.duration_s, "seed": cfg.seed, "run_id": cfg.run_id, "headers": cfg.headers,
                "drain_s": self.drain_s, "control_url": cfg.control_url,
                "control": self.control_records_path is not None,
                "header_switches": cfg.header_switches}, client_id=client.id)
        if not self._wait(lambda: len(self.ready) >= self.count, time.monotonic() + READY_TIMEOUT_S):
            missing = sorted(set(range(self.count)) - set(self.ready))
            raise JoinError(f"load workers {missing} joined but did not get ready within {READY_TIMEOUT_S:g} s")
        for i, info in sorted(self.ready.items()):
            self.on_status({"type": "worker_joined", "worker": i, **info})

    def run(self) -> dict[str, Any]:
        try:
            try:
                self._join()
            except JoinError as exc:
                self.failure = str(exc)
                self.stop_reason = self.stop_reason or "workers_missing"
                return self._summary()
            if self.stop_reason is not None:  # cancelled while the workers joined
                return self._summary()
            self.t0_wall = time.time() + LEAD_S
            self.t0_mono = self.t0_wall - (time.time() - time.monotonic())
            self._broadcast("gd_go", {"t0_wall": self.t0_wall})
            self.on_status({"type": "started", "t0_mono": self.t0_mono, "t0_wall": self.t0_wall})
            users = self.count if self.cfg.spec.mode == "open" else max(self.count, int(self.cfg.spec.concurrency or 1))
            self.runner.start(users, spawn_rate=max(users, 100))
            self.phase = RUNNING
            self._follow()
            return self._summary()
        finally:
            with contextlib.suppress(Exception):
                self.runner.quit()
            for f in self.files.values():
                f.close()

    def _follow(self) -> None:
        """Relay progress once a second until every worker has sent its summary or died (bounded)."""
        end = self.t0_mono + self.cfg.duration_s + self.drain_s + AFTER_S
        next_report = self.t0_mono + 1.0
        aborted_at: float | None = None
        while len(self.finals) + len(self.died) < self.count:
            now = time.monotonic()
            if now > end or (aborted_at is not None and now > aborted_at + ABORT_WAIT_S):
                for i in set(range(self.count)) - set(self.finals) - set(self.died):
                    self.died[i] = round(now - self.t0_mono, 3)
                break
            if self.stop_reason is not None and aborted_at is None and self.stop_reason != "stopped":
                aborted_at = now
            self._find_dead(now)
            if now >= next_report:
                self.on_status({"type": "progress", **self.progress(now).to_dict()})
                next_report = now + 1.0
            for f in self.files.values():
                f.flush()
            self.event.clear()
            self.event.wait(0.2)
        self.phase = DONE

    def _find_dead(self, now: float) -> None:
        """A worker Locust marks missing (no heartbeat for ~3 s) or that left without its summary has died."""
        clients = self.runner.clients
        for cid, i in self.index_of.items():
            if i in self.finals or i in self.died:
                continue
            node = clients.get(cid)
            if node is None or node.state == STATE_MISSING:
                self.died[i] = round(now - self.t0_mono, 3)
                last = self.status.get(i, {})
                self.on_status({"type": "worker_died", "worker": i, "after_s": self.died[i],
                                "host": self.ready.get(i, {}).get("host"), "started": last.get("started_arrivals"),
                                "in_flight": last.get("in_flight")})

    def progress(self, now: float) -> Progress:
        """The workers' latest progress, summed (rates, counts) and merged (latency histograms)."""
        parts = [self.status[i] for i in sorted(self.status) if i not in self.died]
        spec = self.cfg.spec
        p = Progress(phase=self.phase if self.phase != RUNNING else _phase(parts), duration_s=self.cfg.duration_s)
        p.elapsed_s = round(max((float(x.get("elapsed_s") or 0.0) for x in parts), default=0.0), 3)
        for name in ("achieved_rate", "request_rate"):
            setattr(p, name, round(sum(float(x.get(name) or 0.0) for x in parts), 2))
        for name in ("sent", "completed", "errors", "in_flight"):
            setattr(p, name, sum(int(x.get(name) or 0) for x in parts))
        if spec.mode == "open" and spec.arrivals is not None:
            a = max(0.0, now - 1.0 - self.t0_mono)
            p.target_rate = round(expected_arrivals(spec.arrivals, self.cfg.duration_s, a, a + 1.0), 2)
        lag, latency, window = self.live_lag, self.live_latency, self.live_window
        self.live_window = LatencyHistogram()
        p.send_lag_p99_ms = round(lag.percentile(99) * 1e3, 3)
        p.latency_p50_ms = round(latency.percentile(50) * 1e3, 3)
        p.latency_p99_ms = round(latency.percentile(99) * 1e3, 3)
        if window.count:
            p.window_latency_p50_ms = round(window.percentile(50) * 1e3, 3)
            p.window_latency_p99_ms = round(window.percentile(99) * 1e3, 3)
        tally = merge_tallies([{"by_error": x.get("by_error"), "by_upstream": x.get("by_upstream")} for x in parts])
        p.by_error, p.by_upstream = tally["by_error"], tally["by_upstream"]
        total = sum(p.by_upstream.values())
        p.upstream_share = {k: round(v / total, 4) for k, v in p.by_upstream.items()} if total else {}
        return p

    def _summary(self) -> dict[str, Any]:
        cfg = self.cfg
        workers: list[dict[str, Any]] = []
        dead_tallies = self._dead_tallies()
        for i in range(self.count):
            info = self.ready.get(i, {})
            if i in self.finals:
                workers.append({**self.finals[i], "index": i, "state": FINISHED, **_who(info)})
                continue
            last = self.status.get(i, {})
            scheduled = owned_arrivals(cfg.spec, cfg.duration_s, cfg.seed, Share(i, self.count))
            started = int(last.get("started_arrivals") or 0)
            heard = self.heard.get(i)
            workers.append({"index": i, "state": DIED, **_who(info), "died_after_s": self.died.get(i),
                            "last_heard_s": None if heard is None else round(heard - self.t0_mono, 3),
                            "scheduled_arrivals": scheduled, "started_arrivals": started,
                            "unsent_arrivals": max(0, scheduled - started), "in_flight": last.get("in_flight"),
                            "requests_sent": int(last.get("sent") or 0), "stop_reason": "died",
                            "tally": dead_tallies[i].to_dict()})
        total = self.env.stats.total
        base = {"run_id": cfg.run_id, "url": cfg.url, "path": None, "seed": cfg.seed, "duration_s": cfg.duration_s,
                "drain_s": self.drain_s, "t0_mono": self.t0_mono, "t0_wall": self.t0_wall,
                "records": self.lines["gw"], "records_path": str(cfg.records_path),
                "control_records": self.lines["ctl"],
                "control_records_path": None if self.control_records_path is None else str(self.control_records_path),
                "locust": {"requests": total.num_requests, "failures": total.num_failures,
                           "avg_ms": round(total.avg_response_time, 3),
                           "p50_ms": total.get_response_time_percentile(0.5),
                           "p99_ms": total.get_response_time_percentile(0.99),
                           "cpu_warning": bool(self.runner.worker_cpu_warning_emitted)},
                "master": {"bind": self.runner.master_bind_host, "port": self.port, "host": socket.gethostname(),
                           "cpu_s": round(time.process_time() - self.cpu0, 3)}}
        merged = merge_summaries(cfg.spec, workers, base)
        merged["path"] = next((w.get("path") for w in workers if w.get("path")), None)
        if self.stop_reason is not None and merged["stop_reason"] == "duration":
            merged["stop_reason"] = self.stop_reason
        if self.failure is not None:
            merged["failure"] = self.failure
        return merged


    def _dead_tallies(self) -> dict[int, Tally]:
        """The records a dead worker sent before it died, folded (its session ids tell its share)."""
        dead = {i for i in range(self.count) if i not in self.finals}
        tallies = {i: Tally() for i in dead}
        path = self.cfg.records_path
        if dead and path.exists():
            for rec in iter_records(path):
                owner = session_owner(rec.session_id, self.count)
                if owner in dead:
                    tallies[owner].add(rec)
        return tallies


class JoinError(Exception):
    """Not enough workers joined, or they did not get ready, in time."""


def _who(info: dict[str, Any]) -> dict[str, Any]:
    return {"host": info.get("host"), "pid": info.get("pid")}


def _phase(parts: list[dict[str, Any]]) -> str:
    phases = {x.get("phase") for x in parts}
    for phase in (RUNNING, DRAINING, STARTING):
        if phase in phases:
            return phase
    return DONE if parts else STARTING
