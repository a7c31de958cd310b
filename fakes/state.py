"""Where a fake keeps the state that counts across requests: its fault rules' counters and seeded coin, its rate-limit
buckets and its latency stream.

A fake in one process keeps them in its own memory (`LocalState`, the default). A fake served by several worker
processes on one port shares the counters and buckets through shared memory and gives each worker its own latency
stream (`fakes.workers.WorkerState`), so it still behaves as one fake.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from .faults import FaultPlan, FaultRule
from .ratelimit import RateLimiter


class LocalState:
    """The state of a fake served by one process."""

    def fault_plan(self, rules: Sequence[FaultRule], seed: int) -> FaultPlan:
        """A fresh plan for `rules`: its time windows and counters start now."""
        return FaultPlan(list(rules), seed)

    def rate_limiter(self) -> RateLimiter:
        return RateLimiter()

    def latency_rng(self, seed: int) -> random.Random:
        """The seeded stream the latency model draws from."""
        return random.Random(seed)
