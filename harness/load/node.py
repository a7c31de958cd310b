"""A distributed run's worker, inside its own load process: Locust's WorkerRunner driving our `Driver` on its share.

It connects to the master (`master.py`), waits for its share and the run's settings (`gd_config`), builds a
driver for them and says it is ready; on `gd_go` it fixes the common t=0 and Locust spawns its user(s). Its client
records go back to the master in batches (`MasterSink`) rather than to a file, so a worker on another host leaves
nothing behind; so do its progress (with the raw latency and send lag of the requests finished since the last
report, which the master folds into its live histograms), its summary and, once a second, its own CPU use and
event-loop lag (the host condition of a machine the master cannot see).

It stops by itself: after its run (duration + drain), on `gd_abort`, SIGTERM or SIGINT, when its parent goes away
(a local worker), when the master stops heartbeating for `MASTER_SILENCE_S`, and when no master gives it work within
the join timeout.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

import gevent
import gevent.event
import orjson
from locust import runners
from locust.env import Environment
from locust.runners import WorkerRunner

from .distribution import Share
from .driver import DriveConfig, Driver, user_class
from .records import ClientRecord
from .spec import LoadSpec

MASTER_SILENCE_S = 10.0  # no heartbeat from the master this long: it is gone, stop
SAMPLE_S = 1.0  # CPU and loop-lag samples
LAG_TICK_S = 0.05  # the event-loop probe's sleep
SPAWN_WAIT_S = 10.0  # after t=0, the most a worker waits for Locust to spawn its users


class MasterSink:
    """Client records as JSON lines, sent to the master in batches of about 64 KiB (and on each flush)."""

    def __init__(self, runner: WorkerRunner, arm: str, limit: int = 1 << 16) -> None:
        self.runner = runner
        self.arm = arm
        self.limit = limit
        self.count = 0
        self._buf: list[bytes] = []
        self._size = 0
        self.live: list[tuple[float, float, bool]] | None = [] if arm == "gw" else None

    def take_live(self) -> list[tuple[float, float, bool]]:
        """(latency, send lag, ok) of the records written since the last call."""
        live, self.live = self.live or [], []
        return live

    def write(self, record: ClientRecord) -> None:
        if self.live is not None:  # raw figures for the master's live histograms (cheaper than encoding ours)
            self.live.append((round(record.latency_s, 6), round(max(0.0, record.send_lag_s), 6), record.ok))
        line = orjson.dumps(record) + b"\n"
        self._buf.append(line)
        self._size += len(line)
        self.count += 1
        if self._size >= self.limit:
            self.flush()

    def flush(self) -> None:
        if self._buf:
            data, self._buf, self._size = b"".join(self._buf), [], 0
            self.runner.send_message("gd_records", {"arm": self.arm, "lines": data})

    def close(self) -> None:
        self.flush()


class Node:
    """One worker process's life: join, take a share, run it, report, leave."""

    def __init__(self, master: tuple[str, int], join_timeout_s: float = 300.0) -> None:
        self.user_cls = user_class(None, None)
        self.env = Environment(user_classes=[self.user_cls])
        self.driver: Driver | None = None
        self.share: Share | None = None
        self.summary: dict[str, Any] | None = None
        self.done = gevent.event.Event()
        self.reason: str | None = None  # why it stopped before its run (no master, aborted before going)
        self.join_timeout_s = join_timeout_s
        self.heard = time.monotonic()
        # Locust retries the connection CONNECT_RETRY_COUNT times, CONNECT_TIMEOUT s each: bound it by the join timeout
        runners.CONNECT_RETRY_COUNT = max(1, math.ceil(join_timeout_s / runners.CONNECT_TIMEOUT))
        self.runner: WorkerRunner = self.env.create_worker_runner(master[0], master[1])
        for name, handler in (("gd_config", self._on_config), ("gd_go", self._on_go),
                              ("gd_abort", self._on_abort), ("gd_finish", self._on_finish)):
            self.runner.register_message(name, handler)
        self.env.events.heartbeat_received.add_listener(self._on_heartbeat)

    def _on_heartbeat(self, **_kw: Any) -> None:
        self.heard = time.monotonic()

    def _send(self, kind: str, data: dict[str, Any]) -> None:
        self.runner.send_message(kind, data)

    def _on_config(self, environment: Environment, msg: Any, **_kw: Any) -> None:
        d = msg.data
        self.share = Share(int(d["index"]), int(d["count"]))
        cfg = DriveConfig(spec=LoadSpec.model_validate_json(d["spec"]), url=d["url"], duration_s=float(d["duration_s"]),
                          seed=int(d["seed"]), records_path=Path(os.devnull), run_id=d["run_id"],
                          headers=dict(d.get("headers") or {}), drain_s=d.get("drain_s"),
                          control_url=d.get("control_url") if d.get("control") else None,
                          header_switches=[(float(a), dict(h)) for a, h in d.get("header_switches") or []],
                          share=self.share, writer=MasterSink(self.runner, "gw"),
                          control_writer=MasterSink(self.runner, "ctl") if d.get("control") else None)
        try:
            self.driver = Driver(cfg, on_status=self._on_driver_status)
        except ValueError as exc:
            self.reason = f"bad settings from the master: {exc}"
            self.done.set()
            return
        self.user_cls.driver = self.driver
        self.user_cls.host = cfg.url
        self._send("gd_ready", {"host": socket.gethostname(), "pid": os.getpid()})

    def _on_go(self, environment: Environment, msg: Any, **_kw: Any) -> None:
        if self.driver is None or self.driver.env is not None:
            return
        self.driver.cfg.t0_mono = float(msg.data["t0_wall"]) - (time.time() - time.monotonic())
        self.driver.begin(self.env)
        gevent.spawn(self._run)
        gevent.spawn(self._sampler)

    def _on_abort(self, environment: Environment, msg: Any, **_kw: Any) -> None:
        self.abort(str((msg.data or {}).get("reason") or "cancelled"))

    def _on_finish(self, environment: Environment, msg: Any, **_kw: Any) -> None:
        if self.driver is not None:
            self.driver.finish_early()

    def abort(self, reason: str) -> None:
        if self.driver is not None and self.driver.env is not None:
            self.driver.abort(reason)
        else:
            self.reason = reason
            self.done.set()

    def _on_driver_status(self, msg: dict[str, Any]) -> None:
        """Progress (with the histograms the master merges) and header switches go to the master."""
        driver = self.driver
        kind = msg.get("type")
        if driver is None or kind not in ("progress", "switch"):
            return
        if kind == "progress":
            # Raw figures, not our histograms: encoding three HDR histograms costs ~80 ms of this event loop.
            sink = driver.writer
            live = sink.take_live() if isinstance(sink, MasterSink) else []
            msg = {**msg, "started_arrivals": driver.started_arrivals, "scheduled_arrivals": driver.scheduled_arrivals,
                   "live": live}
        self._send("gd_status", msg)

    def _run(self) -> None:
        driver = self.driver
        assert driver is not None
        end = driver.t0 + SPAWN_WAIT_S
        while not len(self.runner.user_greenlets) and time.monotonic() < end and not driver.stop_new.is_set():
            gevent.sleep(0.02)
        driver.wait_users(self.runner)
        self.runner.user_greenlets.kill(block=True, timeout=5)  # closed users past the drain (record `aborted`)
        self.summary = driver.end()
        self.done.set()

    def _sampler(self) -> None:
        """Once a second: this process's CPU (cores) and the event loop's worst lag (ms) since the last sample."""
        cpu, t = time.process_time(), time.monotonic()
        worst = 0.0
        tick = t
        while not self.done.is_set():
            gevent.sleep(LAG_TICK_S)
            now = time.monotonic()
            worst = max(worst, now - tick - LAG_TICK_S)
            tick = now
            if now - t >= SAMPLE_S:
                c = time.process_time()
                self._send("gd_sample", {"host": socket.gethostname(), "pid": os.getpid(), "wall": time.time(),
                                         "dt": round(now - t, 4), "cpu": round((c - cpu) / (now - t), 3),
                                         "loop_lag_ms": round(worst * 1e3, 3)})
                cpu, t, worst = c, now, 0.0

    def run(self, parent: int | None = None) -> int:
        """Until the run is over (or never came); 0 when it ran, 1 when it did not."""
        joined_by = time.monotonic() + self.join_timeout_s
        while not self.done.wait(0.2):
            now = time.monotonic()
            if parent is not None and os.getppid() != parent:
                self.abort("parent_gone")
            elif self.driver is None and now > joined_by:
                self.abort(f"no master gave this worker a run within {self.join_timeout_s:g} s")
            elif self.runner.connected and now - self.heard > MASTER_SILENCE_S:
                self.abort("master_gone")
        if self.summary is not None:
            share = self.share or Share()
            self._send("gd_final", {**self.summary, "index": share.index})
        gevent.sleep(0.3)  # let the last messages leave before the socket closes
        self.runner.quit()
        return 0 if self.summary is not None else 1


def install_signals(node: Node) -> None:
    """SIGTERM and SIGINT abort the run (the worker still sends what it recorded)."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(sig, node.abort, "cancelled")
