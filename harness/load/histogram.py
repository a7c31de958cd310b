"""High-resolution latency histograms: HdrHistogram up to 100 s at two significant digits (<= 1% error).

Locust's own statistics round response times above 100 ms to coarse buckets, too coarse for tail checks,
so the generator keeps these. They merge (across workers or runs) and serialise to HdrHistogram's
compressed text form, so a stored run can rebuild them exactly.
"""

from __future__ import annotations

from typing import Any

from hdrh.histogram import HdrHistogram

# Values are kept in nanoseconds, so two significant digits hold down to 1 us and below (counted in
# microseconds, 1.17 us would round to 1).
HIGHEST_NS = 100_000_000_000  # 100 s
SIGNIFICANT_DIGITS = 2

PERCENTILES = (50.0, 90.0, 99.0, 99.9)


class LatencyHistogram:
    """Records durations in seconds; negative ones count as 0, and ones over 100 s as 100 s (`clamped`)."""

    __slots__ = ("_h", "clamped")

    def __init__(self) -> None:
        # HDR's lowest discernible value sets its unit: 1 ns, so the bottom of the range keeps full precision.
        self._h = HdrHistogram(1, HIGHEST_NS, SIGNIFICANT_DIGITS)
        self.clamped = 0

    def record(self, seconds: float) -> None:
        ns = int(seconds * 1e9)
        if ns > HIGHEST_NS:
            self.clamped += 1
            ns = HIGHEST_NS
        self._h.record_value(max(ns, 1))

    @property
    def count(self) -> int:
        return int(self._h.get_total_count())

    def percentile(self, q: float) -> float:
        """The value at percentile q (0-100), in seconds; 0.0 when empty."""
        if not self.count:
            return 0.0
        return float(self._h.get_value_at_percentile(q)) / 1e9

    @property
    def min(self) -> float:
        return float(self._h.get_min_value()) / 1e9 if self.count else 0.0

    @property
    def max(self) -> float:
        return float(self._h.get_max_value()) / 1e9 if self.count else 0.0

    @property
    def mean(self) -> float:
        return float(self._h.get_mean_value()) / 1e9 if self.count else 0.0

    def merge(self, other: LatencyHistogram) -> LatencyHistogram:
        """Add other's counts into this histogram (and return it)."""
        if other.count:
            self._h.add(other._h)
        self.clamped += other.clamped
        return self

    def summary_ms(self) -> dict[str, float | int]:
        """count, min, mean, p50, p90, p99, p99.9 and max, in milliseconds."""
        out: dict[str, float | int] = {"count": self.count}
        out["min_ms"] = round(self.min * 1e3, 3)
        out["mean_ms"] = round(self.mean * 1e3, 3)
        for q in PERCENTILES:
            out[f"p{q:g}_ms"] = round(self.percentile(q) * 1e3, 3)
        out["max_ms"] = round(self.max * 1e3, 3)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The summary plus `hdr`: the compressed histogram, from which `from_dict` rebuilds it exactly."""
        out: dict[str, Any] = dict(self.summary_ms())
        out["clamped"] = self.clamped
        out["hdr"] = self._h.encode().decode("ascii") if self.count else ""
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LatencyHistogram:
        h = cls()
        if d.get("hdr"):
            h._h.add(HdrHistogram.decode(d["hdr"].encode("ascii")))
        h.clamped = int(d.get("clamped", 0))
        return h
