"""When each arrival of an open-model load is due: pure, seeded functions of (profile, duration, seed).

Every profile is a list of segments whose target rate is linear in time (constant rates are the flat case).
Poisson profiles (`poisson`, `soak`, `ramp`, `spike`) draw arrivals by inverting the integrated rate: unit
exponential gaps S_k are mapped through Lambda^-1, which is exact for any non-negative linear rate and
reduces to plain exponential gaps at a constant rate. `constant` and `steps` space arrivals evenly, so a
step of r/s lasting d seconds holds exactly ceil(r*d) arrivals. The same (profile, duration, seed) always
gives the same times; times are offsets in seconds from the start of the run, increasing, all < duration.

Closed-model load has no schedule: `concurrency` sessions run back to back (see `driver`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

from .spec import Arrivals, Constant, Poisson, Ramp, Soak, Spike, Steps

_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class Segment:
    """From `start` to `end` seconds the target rate goes linearly from `rate_start` to `rate_end`."""

    start: float
    end: float
    rate_start: float
    rate_end: float

    def rate_at(self, t: float) -> float:
        span = self.end - self.start
        if span <= 0:
            return self.rate_start
        return self.rate_start + (self.rate_end - self.rate_start) * (t - self.start) / span

    def integral(self, t0: float, t1: float) -> float:
        """Expected arrivals in [t0, t1] clipped to this segment."""
        a, b = max(t0, self.start), min(t1, self.end)
        if b <= a:
            return 0.0
        return (self.rate_at(a) + self.rate_at(b)) / 2 * (b - a)


def segments(arrivals: Arrivals, duration_s: float) -> list[Segment]:
    """The profile as linear-rate segments covering [0, duration_s]."""
    d = float(duration_s)
    if d <= 0:
        return []
    if isinstance(arrivals, Constant | Poisson | Soak):
        return [Segment(0.0, d, arrivals.rate, arrivals.rate)]
    if isinstance(arrivals, Ramp):
        return [Segment(0.0, d, arrivals.from_rate, arrivals.to_rate)]
    if isinstance(arrivals, Steps):
        out: list[Segment] = []
        t = 0.0
        for i, step in enumerate(arrivals.steps):
            last = i == len(arrivals.steps) - 1
            end = d if last else min(d, t + step.duration_s)
            if end > t:
                out.append(Segment(t, end, step.rate, step.rate))
            t = end
            if t >= d:
                break
        return out
    if isinstance(arrivals, Spike):
        a, b = min(arrivals.at_s, d), min(arrivals.at_s + arrivals.duration_s, d)
        parts = [(0.0, a, arrivals.base_rate), (a, b, arrivals.spike_rate), (b, d, arrivals.base_rate)]
        return [Segment(s, e, r, r) for s, e, r in parts if e > s]
    raise TypeError(f"unknown arrival profile {arrivals!r}")


def is_poisson(arrivals: Arrivals) -> bool:
    """Whether arrivals are random (Poisson) rather than evenly spaced."""
    return not isinstance(arrivals, Constant | Steps)


def rate_at(arrivals: Arrivals, duration_s: float, t: float) -> float:
    """The target arrival rate (per second) at offset t."""
    for seg in segments(arrivals, duration_s):
        if seg.start <= t < seg.end:
            return seg.rate_at(t)
    return 0.0


def expected_arrivals(arrivals: Arrivals, duration_s: float, t0: float = 0.0, t1: float | None = None) -> float:
    """The expected number of arrivals in [t0, t1] (the whole run by default)."""
    end = duration_s if t1 is None else t1
    return sum(seg.integral(t0, end) for seg in segments(arrivals, duration_s))


def arrival_times(arrivals: Arrivals, duration_s: float, seed: int) -> Iterator[float]:
    """Arrival offsets (seconds from the start), increasing, lazily: a long soak never sits in memory."""
    rng = random.Random(f"gatedrill-arrivals:{seed}")
    poisson = is_poisson(arrivals)
    for seg in segments(arrivals, duration_s):
        if poisson:
            yield from _poisson(rng, seg)
        else:
            yield from _even(seg)


def arrival_list(arrivals: Arrivals, duration_s: float, seed: int) -> list[float]:
    return list(arrival_times(arrivals, duration_s, seed))


def _even(seg: Segment) -> Iterator[float]:
    rate = seg.rate_start
    if rate <= 0:
        return
    n = math.ceil((seg.end - seg.start) * rate - _EPS)
    for k in range(n):
        yield seg.start + k / rate


def _poisson(rng: random.Random, seg: Segment) -> Iterator[float]:
    """Inversion: with Lambda(u) = a*u + c*u^2 (u from the segment start), arrival k is at Lambda^-1(S_k)."""
    a = seg.rate_start
    span = seg.end - seg.start
    c = (seg.rate_end - seg.rate_start) / (2 * span)
    total = a * span + c * span * span
    if total <= 0:
        return
    s = 0.0
    while True:
        s += rng.expovariate(1.0)
        if s >= total:
            return
        # 2S / (a + sqrt(a^2 + 4cS)) is the root of c*u^2 + a*u - S, without cancellation when c is small.
        u = s / a if c == 0 else 2 * s / (a + math.sqrt(max(0.0, a * a + 4 * c * s)))
        t = seg.start + u
        if t < seg.end:
            yield t
