"""The machine's condition during a run, read from the record's host samples and client records: the windows the
host or the load generator could not serve. The rule that uses it (a timing check never Fails on such a window) is
`harness.checks.machine_condition`.

The load is cut into one-second windows. A window is *strained* when
- the host was saturated: on average at least 90% of every core busy, more tasks runnable than cores, and at least a
  quarter of the cores taken by processes gatedrill did not start (so a gateway that burns CPU itself is not
  excused); or at least 10% of the cores stolen by the hypervisor;
- or the generator was the bottleneck: it used at least 90% of a core, or sent late (send lag p90 above 50 ms)
  while it still had free in-flight slots (a full pool means the gateway, not the generator, was slow). In a
  distributed load each worker is judged on its own samples, wherever it ran: the busiest worker's CPU, and the
  worst event-loop lag of any (above 50 ms: its greenlets could not run on time).
Consecutive strained windows of one kind form a span ("the host was saturated from 12 s to 19 s: load 5.1 on 2
cores").

The rule (`checks.apply_host_condition`): a check in `TIMING_CHECKS` whose figures are latencies or times (`overhead`:
client latency; `rollback`: detection and recovery times) and that did not Pass in a run with a strained span is
Inconclusive, with the span as its first reason and its own finding kept in the figures, unless it still Fails on a
second look that allows for the machine: `overhead` judged on the requests sent outside the strained spans,
`rollback` with its detection budget raised by the strained time inside each detection interval (and its recovery
budget by all strained time). Passes stay:
a gateway that met its budget on a busy host met it. Checks that count (canary_split, accounting, error_mapping,
context_*, streaming_integrity, retry_amplification) are not affected: a busy host makes things slower, not
miscounted.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from ..record import ClientRecord, HostSample, RunRecord

WINDOW_S = 1.0
BUSY_SHARE = 0.9  # of all cores
FOREIGN_SHARE = 0.25  # of all cores, used by processes gatedrill did not start
STEAL_SHARE = 0.1
GENERATOR_CPU = 0.9  # cores
SEND_LAG_MS = 50.0
OURS = frozenset({"runner", "fakes", "gateway", "generator", "other_child"})


@dataclass
class Window:
    start_s: float
    cores: int = 0
    busy: float = 0.0
    steal: float = 0.0
    running: float = 0.0
    foreign: float = 0.0
    generator_cpu: float = 0.0
    send_lag_p90_ms: float = 0.0
    in_flight: int = 0
    samples: int = 0
    loop_lag_ms: float = 0.0  # distributed load: the worst event-loop lag any worker reported
    kind: str | None = None  # "host" or "generator" when strained


@dataclass
class Span:
    kind: str
    start_s: float
    end_s: float
    load: float
    cores: int
    foreign: float
    steal: float
    generator_cpu: float
    send_lag_p90_ms: float
    loop_lag_ms: float = 0.0  # distributed load: the worst event-loop lag a worker reported

    def reason(self) -> str:
        when = f"from {self.start_s:g} s to {self.end_s:g} s"
        if self.kind == "host":
            extra = f", {self.steal:.1f} cores stolen" if self.steal >= STEAL_SHARE * self.cores else ""
            return (f"the host was saturated {when}: load {self.load:.1f} on {self.cores} cores "
                    f"(other processes used {self.foreign:.1f} cores{extra})")
        lag = f", a worker's event loop stalled {self.loop_lag_ms:.0f} ms" if self.loop_lag_ms > SEND_LAG_MS else ""
        return (f"the load generator was the bottleneck {when}: send lag p90 {self.send_lag_p90_ms:.0f} ms, "
                f"generator CPU {self.generator_cpu:.2f} cores{lag}")


def _p90(values: list[float]) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, math.ceil(0.9 * len(values)) - 1)]


def windows(samples: list[HostSample], clients: list[ClientRecord], load_start_wall: float,
            duration_s: float, max_in_flight: int) -> list[Window]:
    """One-second windows of the load, each with the host's and the generator's condition, strained ones marked."""
    n = max(1, math.ceil(duration_s / WINDOW_S))
    out = [Window(start_s=i * WINDOW_S) for i in range(n)]
    per_worker: list[dict[int, list[float]]] = [{} for _ in range(n)]
    for s in samples:
        i = math.floor((s.wall - load_start_wall) / WINDOW_S)
        if not 0 <= i < n:
            continue
        w = out[i]
        if s.worker is not None:  # a load worker's own process, wherever it ran
            per_worker[i].setdefault(s.worker, []).append(s.procs.get("generator", 0.0))
            w.loop_lag_ms = max(w.loop_lag_ms, s.loop_lag_ms or 0.0)
            continue
        ours = sum(v for k, v in s.procs.items() if k in OURS)
        w.samples += 1
        w.cores = s.cores or 1
        w.busy += s.busy
        w.steal += s.steal
        w.running += s.running
        w.foreign += max(0.0, s.busy - ours)
        w.generator_cpu += s.procs.get("generator", 0.0)
    lags: list[list[float]] = [[] for _ in range(n)]
    spans: list[tuple[float, float]] = []
    for c in clients:
        intended, sent = c.intended_s, c.sent_s
        if intended is None or not sent:
            continue
        i = math.floor((intended - load_start_wall) / WINDOW_S)
        if 0 <= i < n:
            lags[i].append((sent - intended) * 1000)
        spans.append((sent - load_start_wall, (c.end_s or sent) - load_start_wall))
    for i, w in enumerate(out):
        if w.samples:
            for attr in ("busy", "steal", "running", "foreign", "generator_cpu"):
                setattr(w, attr, getattr(w, attr) / w.samples)
        if per_worker[i]:  # one process per worker: the busiest one, not their sum, says whether one was saturated
            w.generator_cpu = max(sum(v) / len(v) for v in per_worker[i].values())
        w.send_lag_p90_ms = _p90(lags[i])
        mid = w.start_s + WINDOW_S / 2
        w.in_flight = sum(1 for a, b in spans if a <= mid < b)
        w.kind = _strain(w, max_in_flight)
    return out


def _strain(w: Window, max_in_flight: int) -> str | None:
    if w.samples:
        saturated = (w.busy >= BUSY_SHARE * w.cores and w.running > w.cores
                     and w.foreign >= FOREIGN_SHARE * w.cores)
        if saturated or w.steal >= STEAL_SHARE * w.cores:
            return "host"
        if w.generator_cpu >= GENERATOR_CPU:
            return "generator"
    if w.loop_lag_ms > SEND_LAG_MS:
        return "generator"
    if w.send_lag_p90_ms > SEND_LAG_MS and w.in_flight < max_in_flight:
        return "generator"
    return None


def strained_spans(ws: list[Window]) -> list[Span]:
    """Consecutive strained windows of one kind, merged, with their mean condition."""
    out: list[Span] = []
    run: list[Window] = []

    def close() -> None:
        if run:
            k = len(run)
            out.append(Span(run[0].kind or "", run[0].start_s, run[-1].start_s + WINDOW_S,
                            round(sum(w.running for w in run) / k, 2), max(w.cores for w in run),
                            round(sum(w.foreign for w in run) / k, 2), round(sum(w.steal for w in run) / k, 2),
                            round(sum(w.generator_cpu for w in run) / k, 2),
                            round(max(w.send_lag_p90_ms for w in run), 1), round(max(w.loop_lag_ms for w in run), 1)))
            run.clear()

    for w in ws:
        if w.kind is None or (run and run[-1].kind != w.kind):
            close()
        if w.kind is not None:
            run.append(w)
    close()
    return out


def run_condition(record: RunRecord) -> dict[str, Any]:
    """The record's host condition: every window and the strained spans (figures for verdicts and reports)."""
    start = record.meta.load_start_wall
    samples = record.host
    if start is None:
        return {"sampled": bool(samples), "windows": [], "spans": []}
    ws = windows(samples, record.load_clients(), start, record.scenario.duration_s,
                 record.scenario.load.max_in_flight)
    return {"sampled": bool(samples), "windows": [asdict(w) for w in ws],
            "spans": [asdict(s) | {"reason": s.reason()} for s in strained_spans(ws)]}


def spans_reason(spans: list[dict[str, Any]]) -> str:
    """The strained spans as one reason: the first three, then how many more."""
    return "; ".join(s["reason"] for s in spans[:3]) + (f"; and {len(spans) - 3} more" if len(spans) > 3 else "")


def unstrained(record: RunRecord, spans: list[dict[str, Any]]) -> RunRecord:
    """The record with only the client requests (the control arm's too) intended outside every strained span
    (journals untouched)."""
    start = record.meta.load_start_wall or 0.0

    def outside(c: ClientRecord) -> bool:
        t = (c.intended_s or 0.0) - start
        return not any(s["start_s"] <= t < s["end_s"] for s in spans)

    return replace(record, clients=[c for c in record.clients if outside(c)],
                   control_clients=[c for c in record.control_clients if outside(c)])


def strained_seconds(spans: list[dict[str, Any]], a: float, b: float) -> float:
    """Seconds of [a, b] (since load start) inside strained spans."""
    return sum(max(0.0, min(b, s["end_s"]) - max(a, s["start_s"])) for s in spans)
