"""The load engine, run inside the worker process: Locust users on gevent that send the schedule.

Importing this module imports Locust, which monkey-patches the whole process for gevent. Import it only
in the worker subprocess (`python -m gatedrill.harness.load.worker`), never where asyncio servers run in threads.

Open model: one Locust user is the dispatcher. It walks the arrival schedule, waits for each intended
time and hands the arrival to a gevent pool of at most `max_in_flight` sessions, so a slow gateway never
slows the schedule down; when the pool is full the arrival waits, and because every latency counts from
the *intended* send time, that wait shows in the results instead of vanishing (coordinated omission).
Locust's `LoadTestShape` only sets user counts on one-second ticks, so it cannot place arrivals; the
schedule does that (`schedule.py`). Closed model: `concurrency` Locust users each run sessions back to
back until the duration ends.

HTTP goes through `connection.py`, a lean keep-alive client on (monkey-patched) sockets, not through
FastHttpUser's geventhttpclient: that spent 3.5x the CPU per request here, its FastHttpSession drops
non-2xx bodies, and it reads streams in fixed-size blocks, while we need error envelopes and the arrival
time of the first streamed bytes. Each request still fires Locust's `request` event, so Locust's own
statistics are kept alongside ours. A request is never retried by the client: a retry would hide the
gateway's behaviour and break accounting.

The run stops by itself: no new sessions after `duration_s`, no new requests after `max_requests`;
sessions already going get `drain_s` to finish their turns, then what is in flight is cut and recorded as
`aborted`.
"""

from __future__ import annotations

import gc
import random
import socket
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gevent
import gevent.event
import gevent.pool
from locust import User, constant, task
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import Runner

from .connection import Connection, IncompleteBody, Pool, ProtocolError, Response
from .control_arm import RUN_ID_SUFFIX, ControlArm
from .conversation import Request, Session, chat_path
from .distribution import Share
from .histogram import LatencyHistogram
from .progress import DONE, DRAINING, RUNNING, STARTING, Progress
from .records import ClientRecord, RecordSink, RecordWriter, kept_headers
from .reply import Reply, StreamReader, error_dialect, error_message, parse_completion
from .schedule import arrival_times, expected_arrivals
from .spec import LoadSpec
from .summary import Tally

UPSTREAM_HEADER = "x-gatedrill-upstream"
ATTEMPTS_HEADER = "x-gatedrill-attempts"


@dataclass(slots=True)
class DriveConfig:
    spec: LoadSpec
    url: str
    duration_s: float
    seed: int
    records_path: Path
    run_id: str = "gd"
    headers: dict[str, str] = field(default_factory=dict)
    drain_s: float | None = None  # default: the spec's request timeout
    control_url: str | None = None  # the control arm's fake (open model, `spec.control_share` > 0); None: no arm
    control_records_path: Path | None = None
    # (at_s, headers) in time order: requests intended from t0 + at_s on carry these headers over `headers`
    header_switches: list[tuple[float, dict[str, str]]] = field(default_factory=list)
    share: Share = field(default_factory=Share)  # the arrivals it sends (all, unless one of several workers)
    t0_mono: float | None = None  # the run's t=0 when given (a distributed run's workers share one); None: now
    writer: RecordSink | None = None  # where records go (None: a RecordWriter on `records_path`)
    control_writer: RecordSink | None = None  # the control arm's (None: a RecordWriter on `control_records_path`)


class RequestFailed(Exception):
    """What Locust's statistics get for a failed request: its error class."""


class Driver:
    """One run: schedule, users, HTTP, records and progress. `run()` blocks until it has stopped."""

    def __init__(self, cfg: DriveConfig, on_status: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.cfg = cfg
        self.spec = cfg.spec
        self.on_status = on_status or (lambda _m: None)
        self.drain_s = cfg.spec.request_timeout_s if cfg.drain_s is None else cfg.drain_s
        self.timeout = cfg.spec.request_timeout_s
        parts = urlsplit(cfg.url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"gateway URL must be http://host:port[/v1], not {cfg.url!r}")
        self.path = chat_path(cfg.url)
        self.pool = Pool(parts.hostname, parts.port or 80, timeout=0,
                         connect_timeout=min(10.0, self.timeout))
        self.tally = Tally()
        self.window = LatencyHistogram()  # latency of successful requests since the last progress report
        self.budget = cfg.share.budget(cfg.spec.max_requests)  # this generator's part of `max_requests`
        self.writer: RecordSink = cfg.writer or RecordWriter(cfg.records_path)
        self.control: ControlArm | None = None
        if (cfg.control_url and (cfg.control_records_path is not None or cfg.control_writer is not None)
                and cfg.spec.control_share > 0 and cfg.spec.mode == "open"):
            self.control = ControlArm.open(cfg.control_url, cfg.control_writer or RecordWriter(
                cfg.control_records_path or ""), min(10.0, self.timeout))
        self.control_rng = random.Random(f"gatedrill-control:{cfg.seed}")
        self.control_skipped = 0  # control twins left out because every in-flight slot was busy
        self.stop_new = gevent.event.Event()  # set: start no new request
        self.stop_reason = "duration"
        self.sent = 0  # requests sent or about to be (the max_requests budget)
        self.started_arrivals = 0  # sessions started
        self.scheduled_arrivals = 0
        self.unsent_arrivals = 0
        self.pool_waits = 0  # arrivals that found every in-flight slot busy
        self.dispatching = False  # the open model's one dispatcher has started
        self.in_flight = 0
        self.max_in_flight_seen = 0
        self.next_session = 0
        self.phase = STARTING
        self.t0 = 0.0
        self.wall_offset = 0.0
        self.deadline = 0.0
        self.drain_deadline = 0.0
        self.dispatch_end = 0.0
        self.env: Environment | None = None
        self.cpu_warning = False
        self.aborted = False
        self.failure: str | None = None
        self.cpu0 = 0.0
        self.switches_sent = 0  # header switches whose first request went out (each reported once)
        self._status: gevent.Greenlet[Any, Any] | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------

    def abort(self, reason: str = "cancelled") -> None:
        """Stop now: no new requests, no drain; requests in flight are cut and recorded as aborted."""
        self.stop_reason = reason
        self.aborted = True
        self.drain_deadline = time.monotonic()
        self.stop_new.set()

    def finish_early(self, reason: str = "stopped") -> None:
        """End the run now as if its duration were over: no new requests, those in flight drain as usual (a game
        day's Stop button), so the record holds no cut requests."""
        if self.stop_new.is_set():
            return
        self.stop_reason = reason
        now = time.monotonic()
        self.deadline = min(self.deadline, now) if self.deadline else now
        drain_end = now + self.drain_s
        self.drain_deadline = min(self.drain_deadline, drain_end) if self.drain_deadline else drain_end
        self.stop_new.set()

    def fail(self, what: str) -> None:
        """A bug in the generator: keep the first traceback, and stop the run (it is not trustworthy)."""
        if self.failure is None:
            self.failure = what
        self.abort("generator_error")

    def users(self) -> int:
        """How many Locust users the run needs: one dispatcher (open model) or `concurrency` (closed)."""
        return 1 if self.spec.mode == "open" else int(self.spec.concurrency or 1)

    def run(self) -> dict[str, Any]:
        """The single-process run: a local Locust runner with this driver's users, until they have stopped."""
        user_cls = user_class(self, self.cfg.url)
        env = Environment(user_classes=[user_cls], host=self.cfg.url)
        runner = env.create_local_runner()
        self.begin(env)
        runner.spawn_users({user_cls.__name__: self.users()})
        self.wait_users(runner)
        runner.quit()
        return self.end()

    def begin(self, env: Environment) -> None:
        """Fix t=0 (the given one, or 50 ms from now), tell the parent, and start reporting progress."""
        self.env = env
        driver = self
        env.events.cpu_warning.add_listener(lambda **_kw: setattr(driver, "cpu_warning", True))
        gc.collect()
        gc.freeze()  # start-up objects out of the collector's sight: fewer, shorter pauses while sending
        self.cpu0 = time.process_time()
        self.t0 = self.cfg.t0_mono if self.cfg.t0_mono is not None else time.monotonic() + 0.05
        self.wall_offset = time.time() - time.monotonic()
        # Tell the parent at once when t=0 is, so it can schedule against the same clock (CLOCK_MONOTONIC is
        # system-wide): a fault timeline must not wait for the first progress report.
        self.on_status({"type": "started", "t0_mono": self.t0, "t0_wall": self.t0 + self.wall_offset})
        self.deadline = self.t0 if self.stop_new.is_set() else self.t0 + self.cfg.duration_s  # finished early
        self.drain_deadline = self.t0 if self.aborted else self.deadline + self.drain_s
        self.phase = RUNNING
        self._status = gevent.spawn(self._status_loop)

    def wait_users(self, runner: Runner) -> None:
        """Until the users have stopped, or the drain is over (closed users are then killed by the runner)."""
        hard_stop = self.drain_deadline + 10.0
        while len(runner.user_greenlets) and time.monotonic() < hard_stop:
            runner.user_greenlets.join(timeout=max(0.01, min(0.5, self.drain_deadline - time.monotonic() + 0.05)))
            if time.monotonic() >= self.drain_deadline and self.spec.mode == "closed":
                break  # closed users past the drain: quit() kills them (their requests record `aborted`)

    def end(self) -> dict[str, Any]:
        """Close the records and connections; the summary (and a last progress report over the whole run)."""
        self.phase = DONE
        if self._status is not None:
            self._status.kill()
        self.writer.close()
        self.pool.close()
        if self.control is not None:
            self.control.close()
        summary = self.summary()
        whole_run = (self.t0, self.dispatch_end or time.monotonic(), 0, 0)
        self.on_status({"type": "progress", **self.progress(whole_run).to_dict()})
        return summary

    # -- users -------------------------------------------------------------------------------------------

    def dispatch(self) -> None:
        """Open model: start each arrival at its intended time, in a pool of at most `max_in_flight`."""
        spec = self.spec
        assert spec.arrivals is not None
        pool = gevent.pool.Pool(spec.max_in_flight)
        it: Iterator[float] = arrival_times(spec.arrivals, self.cfg.duration_s, self.cfg.seed)
        stop = self.stop_new
        share = self.cfg.share
        control = self.control
        position = 0  # the index of the next arrival the iterator yields
        for index, offset in enumerate(it):
            position = index + 1
            # one control coin per arrival, in order, whoever sends it: every worker draws the same coins
            twin = control is not None and self.control_rng.random() < spec.control_share
            if not share.owns(index):
                continue
            self.scheduled_arrivals += 1
            due = self.t0 + offset
            delay = due - time.monotonic()
            if delay > 0.05:
                stop.wait(delay)  # a long gap: wake early on abort
            elif delay > 0:
                gevent.sleep(delay)  # cheaper than an event wait, and at most 50 ms from noticing an abort
            if stop.is_set() or time.monotonic() >= self.deadline:
                self.unsent_arrivals += 1
                break
            if pool.full():
                self.pool_waits += 1
                pool.wait_available(timeout=max(0.0, self.deadline - time.monotonic()))
                if pool.full() or stop.is_set():
                    self.unsent_arrivals += 1
                    break
            self.started_arrivals += 1
            pool.spawn(self._session, index, due)
            if twin:
                if pool.full():
                    self.control_skipped += 1
                else:  # the same session, sent at the same intended time, straight to the control fake
                    pool.spawn(self._session, index, due, True)
        rest = sum(1 for i, _ in enumerate(it, start=position) if share.owns(i))
        self.scheduled_arrivals += rest
        self.unsent_arrivals += rest
        self.dispatch_end = time.monotonic()
        self._stop_dispatching()
        while len(pool) and time.monotonic() < self.drain_deadline:
            pool.join(timeout=min(0.1, max(0.0, self.drain_deadline - time.monotonic())))
        pool.kill(block=True, timeout=5)

    def closed_user(self) -> None:
        """Closed model: sessions back to back until the run stops."""
        while not self.stop_new.is_set() and time.monotonic() < self.deadline:
            index = self.cfg.share.session_index(self.next_session)  # workers' session ids never collide
            self.next_session += 1
            self.started_arrivals += 1
            self._session(index, time.monotonic())
        self._stop_dispatching()

    def _stop_dispatching(self) -> None:
        if not self.dispatch_end:
            self.dispatch_end = time.monotonic()
        if self.phase == RUNNING:
            self.phase = DRAINING

    def _reserve(self) -> bool:
        """Take one request from the budget, or stop the run when it is spent."""
        if self.stop_new.is_set():
            return False
        if self.sent >= self.budget:
            self.stop_reason = "max_requests"
            self.stop_new.set()
            return False
        self.sent += 1
        return True

    def _session(self, index: int, intended: float, control: bool = False) -> None:
        try:
            self._turns(index, intended, self.control if control else None)
        except gevent.GreenletExit:
            raise
        except Exception:
            self.fail(traceback.format_exc())

    def _turns(self, index: int, intended: float, arm: ControlArm | None = None) -> None:
        """A session's turns through the gateway, or (`arm`) the same session straight to the control fake, which
        spends none of the `max_requests` budget."""
        spec = self.spec
        run_id = self.cfg.run_id + (RUN_ID_SUFFIX if arm is not None else "")
        session = Session(spec.mix, index, self.cfg.seed, run_id, self.cfg.headers)
        think = spec.mix.think_time_ms
        budgeted = arm is None
        while True:
            # A session that started in time may finish its turns during the drain, as its client would.
            if intended >= self.drain_deadline or not (self._reserve() if budgeted else not self.stop_new.is_set()):
                break
            switch = self._switch_at(intended) if budgeted else 0
            if switch:
                session.extra_headers = {**self.cfg.headers, **self.cfg.header_switches[switch - 1][1]}
            req = session.next_request()
            if req is None:
                self.sent -= budgeted
                break
            delay = intended - time.monotonic()
            if delay > 0 and self.stop_new.wait(delay):
                self.sent -= budgeted
                break
            if switch > self.switches_sent:
                self._report_switch(switch)
            rec = self._exchange(req, intended, arm)
            self._finish(rec, arm)
            if rec.error_class is not None:
                break
            session.record_reply(rec.text, rec.tool_calls)
            intended = time.monotonic() + (0.0 if think.is_zero else think.sample(session.rng) / 1000.0)
        session.end()

    def _switch_at(self, intended: float) -> int:
        """How many header switches apply to a request intended at `intended` (0: the base headers)."""
        n = 0
        for at, _ in self.cfg.header_switches:
            if intended >= self.t0 + at:
                n += 1
        return n

    def _report_switch(self, switch: int) -> None:
        """Tell the parent that switches up to `switch` (1-based) are going out now, with their first request."""
        now = time.monotonic()
        for index in range(self.switches_sent, switch):
            self.on_status({"type": "switch", "index": index, "sent_mono": now})
        self.switches_sent = switch

    # -- one request -------------------------------------------------------------------------------------

    def _exchange(self, req: Request, intended: float, arm: ControlArm | None = None) -> ClientRecord:
        off = self.wall_offset
        rec = ClientRecord(
            correlation_id=req.correlation_id, session_id=req.session_id, turn=req.turn, model=req.model,
            stream=req.stream, intended_s=intended + off, intended_mono=intended, tools=req.tools,
            near_window=req.near_window, prompt_tokens=req.prompt_tokens, max_tokens=req.max_tokens,
            sent_digest=req.sent_digest, messages=req.messages,
        )
        pool = self.pool if arm is None else arm.pool
        head = pool.head("POST", self.path if arm is None else arm.path, req.headers, len(req.body))
        conn: Connection | None = None
        reusable = False
        gateway_arm = arm is None
        self.in_flight += gateway_arm
        self.max_in_flight_seen = max(self.max_in_flight_seen, self.in_flight)
        timer = gevent.Timeout(self.timeout)
        timer.start()
        rec.sent_mono = time.monotonic()
        try:
            conn = pool.acquire()
            rec.reused = conn.exchanges > 0
            resp = conn.exchange(head, req.body)
            rec.headers_mono = time.monotonic()
            rec.status = resp.status
            rec.headers = kept_headers(resp.headers.items())
            rec.upstream = rec.headers.get(UPSTREAM_HEADER)
            attempts = rec.headers.get(ATTEMPTS_HEADER)
            if attempts and attempts.isdigit():
                rec.attempts = int(attempts)
            if req.stream and rec.status == 200 and "event-stream" in rec.headers.get("content-type", ""):
                self._read_stream(resp, rec)
            else:
                body = resp.read()
                rec.bytes = len(body)
                if rec.status == 200:
                    self._apply(rec, parse_completion(body))
                else:
                    rec.error_class = f"http_{rec.status}"
                    rec.error = error_message(body)
                    rec.error_dialect = error_dialect(body)
            reusable = resp.complete and resp.keep_alive
        except gevent.Timeout as exc:
            if exc is not timer:
                raise
            rec.error_class, rec.error = "timeout", f"no complete response within {self.timeout:g} s"
        except gevent.GreenletExit:
            rec.error_class, rec.error = "aborted", "the run stopped before the response completed"
            raise
        except Exception as exc:  # every transport failure is a client-visible result, not a crash
            rec.error_class, rec.error = _classify(exc, rec), f"{type(exc).__name__}: {exc}"[:300]
        finally:
            timer.close()
            if conn is not None:
                pool.release(conn, reusable)
            rec.end_mono = time.monotonic()
            rec.sent_s = rec.sent_mono + off
            rec.end_s = rec.end_mono + off
            if rec.headers_mono is not None:
                rec.headers_s = rec.headers_mono + off
            if rec.ttft_mono is not None:
                rec.ttft_s = rec.ttft_mono + off
            self.in_flight -= gateway_arm
            if rec.error_class == "aborted":
                self._finish(rec, arm)
        return rec

    def _read_stream(self, resp: Response, rec: ClientRecord) -> None:
        """Feed SSE bytes to the reader as they arrive, stamping the first content."""
        reader = StreamReader()
        try:
            for data in resp.iter_body():
                rec.bytes += len(data)
                if reader.feed(data) and rec.ttft_mono is None:
                    rec.ttft_mono = time.monotonic()
        finally:
            self._apply(rec, reader.close(), stream=True)

    @staticmethod
    def _apply(rec: ClientRecord, reply: Reply, stream: bool = False) -> None:
        rec.text = reply.text
        rec.tool_calls = reply.tool_calls
        rec.finish_reason = reply.finish_reason
        rec.usage = reply.usage
        rec.chunks = reply.chunks
        rec.finished_cleanly = reply.finished_cleanly
        rec.done = reply.done
        if reply.error_class is not None:
            rec.error_class, rec.error = reply.error_class, reply.error
        elif stream and not rec.finished_cleanly:
            rec.error_class = "stream_incomplete"
            rec.error = "stream ended without " + ("a finish_reason" if reply.done else "data: [DONE]")

    def _finish(self, rec: ClientRecord, arm: ControlArm | None = None) -> None:
        if arm is not None:  # the control arm's records stay out of the gateway's tally and Locust's statistics
            arm.writer.write(rec)
            return
        self.writer.write(rec)
        self.tally.add(rec)
        if rec.error_class is None:
            self.window.record(rec.latency_s)
        env = self.env
        if env is not None:
            env.events.request.fire(
                request_type="POST", name="stream" if rec.stream else "json",
                response_time=rec.service_s * 1000.0, response_length=rec.bytes,
                exception=None if rec.error_class is None else RequestFailed(rec.error_class), context={},
            )

    # -- status ------------------------------------------------------------------------------------------

    def progress(self, window: tuple[float, float, int, int] | None = None) -> Progress:
        now = time.monotonic()
        spec = self.spec
        elapsed = max(0.0, min(now, self.dispatch_end or now) - self.t0)
        p = Progress(phase=self.phase, elapsed_s=round(elapsed, 3), duration_s=self.cfg.duration_s,
                     sent=self.sent, completed=self.tally.requests, errors=self.tally.errors,
                     in_flight=self.in_flight)
        if window is not None:
            t_prev, t_now, arrivals_prev, sent_prev = window
            dt = max(1e-6, t_now - t_prev)
            p.achieved_rate = round((self.started_arrivals - arrivals_prev) / dt, 2)
            p.request_rate = round((self.sent - sent_prev) / dt, 2)
            if spec.mode == "open" and spec.arrivals is not None:
                a, b = t_prev - self.t0, t_now - self.t0
                p.target_rate = round(expected_arrivals(spec.arrivals, self.cfg.duration_s, a, b) / dt, 2)
        p.send_lag_p99_ms = round(self.tally.send_lag.percentile(99) * 1e3, 3)
        p.latency_p50_ms = round(self.tally.latency.percentile(50) * 1e3, 3)
        p.latency_p99_ms = round(self.tally.latency.percentile(99) * 1e3, 3)
        p.upstream_share = {k: round(v, 4) for k, v in self.tally.upstream_share().items()}
        p.by_error = dict(self.tally.by_error)
        p.by_upstream = dict(self.tally.by_upstream)
        if window is not None and self.window.count:
            p.window_latency_p50_ms = round(self.window.percentile(50) * 1e3, 3)
            p.window_latency_p99_ms = round(self.window.percentile(99) * 1e3, 3)
            self.window = LatencyHistogram()
        return p

    def _status_loop(self) -> None:
        prev = (max(time.monotonic(), self.t0), 0, 0)
        gevent.sleep(max(0.0, self.t0 - time.monotonic()))
        while True:
            gevent.sleep(1.0 - ((time.monotonic() - self.t0) % 1.0))
            now = time.monotonic()
            p = self.progress((prev[0], now, prev[1], prev[2]))
            prev = (now, self.started_arrivals, self.sent)
            self.writer.flush()
            if self.control is not None:
                self.control.writer.flush()
            self.on_status({"type": "progress", **p.to_dict()})

    def summary(self) -> dict[str, Any]:
        spec, cfg = self.spec, self.cfg
        ran = max(1e-9, min(self.dispatch_end or self.deadline, self.deadline) - self.t0)
        target = None
        if spec.mode == "open" and spec.arrivals is not None:
            target = expected_arrivals(spec.arrivals, cfg.duration_s) / cfg.duration_s
        env = self.env
        locust: dict[str, Any] = {}
        if env is not None:
            total = env.stats.total
            locust = {"requests": total.num_requests, "failures": total.num_failures,
                      "avg_ms": round(total.avg_response_time, 3),
                      "p50_ms": total.get_response_time_percentile(0.5),
                      "p99_ms": total.get_response_time_percentile(0.99), "cpu_warning": self.cpu_warning}
        return {
            "run_id": cfg.run_id, "mode": spec.mode, "url": cfg.url, "path": self.path,
            "seed": cfg.seed, "duration_s": cfg.duration_s, "drain_s": self.drain_s,
            "t0_mono": self.t0, "t0_wall": self.t0 + self.wall_offset,
            "ran_s": round(ran, 6), "stop_reason": self.stop_reason,
            "scheduled_arrivals": self.scheduled_arrivals, "started_arrivals": self.started_arrivals,
            "unsent_arrivals": self.unsent_arrivals, "requests_sent": self.sent,
            "target_rate": target, "achieved_rate": self.started_arrivals / cfg.duration_s,
            "pool_waits": self.pool_waits, "max_in_flight": spec.max_in_flight,
            "max_in_flight_seen": self.max_in_flight_seen,
            "records": self.writer.count, "records_path": str(cfg.records_path),
            "cpu_s": round(time.process_time() - self.cpu0, 3),
            "tally": self.tally.to_dict(), "locust": locust, "failure": self.failure,
            "control": None if self.control is None else {
                "share": spec.control_share, "url": self.control.url, "records": self.control.writer.count,
                "records_path": str(cfg.control_records_path), "skipped_pool_full": self.control_skipped},
        }


def _classify(exc: BaseException, rec: ClientRecord) -> str:
    """A stable error class for a transport failure."""
    got_head = rec.headers_mono is not None
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connect_refused"
    if isinstance(exc, IncompleteBody | ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        if got_head:
            return "reset_mid_stream" if rec.stream else "incomplete_body"
        return "connection_closed"
    if isinstance(exc, ProtocolError):
        return "protocol_error"
    if isinstance(exc, OSError):
        return "connection_error"
    return "client_error"


def user_class(driver: Driver | None, host: str | None) -> type[_DriverUser]:
    """The Locust user class, bound to `driver` (a distributed worker binds it when its run arrives; a master only
    needs the class's name to match its workers')."""
    return type("GatedrillUser", (_DriverUser,), {"driver": driver, "host": host})


class _DriverUser(User):
    """The Locust user class; `run()` makes a subclass bound to its driver."""

    abstract = True
    driver: Driver | None
    wait_time = constant(0)

    @task
    def work(self) -> None:
        driver = self.driver
        if driver is None or driver.env is None or (driver.spec.mode == "open" and driver.dispatching):
            raise StopUser()  # a worker without a run, or a second dispatcher (Locust rebalancing): never twice
        try:
            if driver.spec.mode == "open":
                driver.dispatching = True
                driver.dispatch()
            else:
                driver.closed_user()
        except gevent.GreenletExit:
            raise
        except Exception:
            driver.fail(traceback.format_exc())
        raise StopUser()
