"""Counts and latency histograms folded from client records: the figures progress lines and results show.

The worker folds records as they finish (for live progress and its final summary); the parent can fold
the same records from the JSONL file when a worker died before summarising. One fold, two uses.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from .histogram import LatencyHistogram
from .records import ClientRecord


class Tally:
    """Running totals over finished requests."""

    def __init__(self) -> None:
        self.requests = 0
        self.ok = 0
        self.errors = 0
        self.streams = 0
        self.streams_clean = 0
        self.by_status: Counter[str] = Counter()
        self.by_error: Counter[str] = Counter()
        self.by_upstream: Counter[str] = Counter()
        self.sessions: set[str] = set()
        self.bytes = 0
        self.latency = LatencyHistogram()  # end - intended
        self.service = LatencyHistogram()  # end - sent
        self.ttft = LatencyHistogram()  # first content - intended, streams
        self.send_lag = LatencyHistogram()  # sent - intended

    def add(self, r: ClientRecord) -> None:
        self.requests += 1
        self.sessions.add(r.session_id)
        self.by_status[str(r.status)] += 1
        if r.error_class is None:
            self.ok += 1
        else:
            self.errors += 1
            self.by_error[r.error_class] += 1
        self.by_upstream[r.upstream or "-"] += 1
        if r.stream:
            self.streams += 1
            if r.finished_cleanly:
                self.streams_clean += 1
        self.bytes += r.bytes
        self.latency.record(r.latency_s)
        self.service.record(r.service_s)
        self.send_lag.record(max(0.0, r.send_lag_s))
        t = r.ttft_latency_s
        if t is not None:
            self.ttft.record(t)

    def extend(self, records: Iterable[ClientRecord]) -> Tally:
        for r in records:
            self.add(r)
        return self

    def upstream_share(self) -> dict[str, float]:
        total = sum(self.by_upstream.values())
        return {k: v / total for k, v in sorted(self.by_upstream.items())} if total else {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "ok": self.ok,
            "errors": self.errors,
            "sessions": len(self.sessions),
            "streams": self.streams,
            "streams_clean": self.streams_clean,
            "bytes": self.bytes,
            "by_status": dict(sorted(self.by_status.items())),
            "by_error": dict(sorted(self.by_error.items())),
            "by_upstream": dict(sorted(self.by_upstream.items())),
            "latency": self.latency.to_dict(),
            "service": self.service.to_dict(),
            "ttft": self.ttft.to_dict(),
            "send_lag": self.send_lag.to_dict(),
        }
