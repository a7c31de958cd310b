"""Time series for the charts, bucketed from the run record: traffic per upstream, client error rate, latency
percentiles. Times are seconds after the load's start (t0)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ...record import WARM_UP, ClientRecord, RunRecord
from ..run_figures import is_error
from .svg import nice_step

MAX_TRAFFIC_BUCKETS = 150
LATENCY_BUCKETS = 25
PERCENTILES = (50, 90, 99)


@dataclass(frozen=True)
class Buckets:
    """Equal time buckets [start + i*width, start + (i+1)*width) covering the run."""

    start: float
    width: float
    count: int

    @property
    def edges(self) -> list[float]:
        return [self.start + i * self.width for i in range(self.count + 1)]

    @property
    def mids(self) -> list[float]:
        return [self.start + (i + 0.5) * self.width for i in range(self.count)]

    def index(self, t: float) -> int | None:
        i = math.floor((t - self.start) / self.width)
        return i if 0 <= i < self.count else None


def span(record: RunRecord) -> tuple[float, float]:
    """The chart span (s after t0): from the first event (or 0) to the run's end."""
    t0 = record.load_start()
    first = min((e.arrival_wall - t0 for es in record.journals.values() for e in es
                 if e.correlation_id != WARM_UP and e.arrival_wall), default=0.0)
    end = max(record.run_end() - t0, 1.0)
    return min(0.0, first), end


def buckets_for(record: RunRecord, target: int, min_width: float = 1.0) -> Buckets:
    lo, hi = span(record)
    width = max(min_width, nice_step(hi - lo, target) if (hi - lo) / min_width > target else min_width)
    start = math.floor(lo / width) * width
    return Buckets(start, width, max(1, math.ceil((hi - start) / width)))


def traffic_per_upstream(record: RunRecord) -> tuple[Buckets, dict[str, list[float]]]:
    """Attempts per second reaching each upstream (from the fakes' journals, warm-up excluded)."""
    b = buckets_for(record, MAX_TRAFFIC_BUCKETS)
    t0 = record.load_start()
    out: dict[str, list[float]] = {}
    for name, entries in record.journals.items():
        counts = [0.0] * b.count
        for e in entries:
            if e.correlation_id == WARM_UP:
                continue
            i = b.index(e.arrival_wall - t0)
            if i is not None:
                counts[i] += 1
        out[name] = [c / b.width for c in counts]
    return b, out


def _client_time(c: ClientRecord, t0: float) -> float | None:
    t = c.sent_s or c.intended_s
    return None if not t else t - t0


def client_error_rate(record: RunRecord) -> tuple[Buckets, list[float | None], list[int], list[int]]:
    """Per bucket (by send time): error rate in %, errors and requests (None rate for an empty bucket)."""
    b = buckets_for(record, LATENCY_BUCKETS)
    t0 = record.load_start()
    errors, total = [0] * b.count, [0] * b.count
    for c in record.clients:
        if c.correlation_id == WARM_UP:
            continue
        t = _client_time(c, t0)
        i = None if t is None else b.index(t)
        if i is None:
            continue
        total[i] += 1
        errors[i] += int(is_error(c))
    rate = [None if n == 0 else 100.0 * e / n for e, n in zip(errors, total, strict=True)]
    return b, rate, errors, total


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile of sorted values (q in 0..100)."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def latency_percentiles(record: RunRecord, kind: str) -> tuple[Buckets, dict[int, list[float | None]], list[int]]:
    """p50/p90/p99 per bucket (by intended send time) in ms. kind: "ttft" (first content, streams) or "total"
    (end of response), both from the intended send time so a stall is not hidden (coordinated omission)."""
    b = buckets_for(record, LATENCY_BUCKETS)
    t0 = record.load_start()
    per: list[list[float]] = [[] for _ in range(b.count)]
    for c in record.clients:
        if c.correlation_id == WARM_UP or is_error(c):
            continue
        end = c.ttft_mono if kind == "ttft" else c.end_mono
        if end is None:
            continue
        i = b.index(c.intended_s - t0)
        if i is not None:
            per[i].append(1000.0 * (end - c.intended_mono))
    out: dict[int, list[float | None]] = {q: [] for q in PERCENTILES}
    for values in per:
        values.sort()
        for q in PERCENTILES:
            out[q].append(percentile(values, q) if values else None)
    return b, out, [len(v) for v in per]
