"""A worker's counting state, shared with the other workers of its fake so that they count as one fake.

- Fault rules: `first_n` and `every_nth` count matching requests across all workers, and the `probability` coin is
  the single fake's coin: the k-th draw anywhere in the fake is the k-th number of the plan's seeded generator (each
  worker keeps a copy of the generator and winds it forward past the draws other workers took). Time windows
  (`start_s`, `end_s`) count from one install time, taken when the rules were changed.
- Rate limits: one token bucket per model and kind for the whole fake, read and charged under the shared lock.
- Latency: each worker draws from its own seeded stream (seed, worker index), so workers do not repeat each other's
  samples; the distribution is the configured one, the sequence is not a single process's.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence

from ..conversation import ChatRequest
from ..faults import Fault, FaultPlan, FaultRule
from ..ratelimit import Bucket, Decision, RateLimiter
from ..state import LocalState
from .region import SharedRegion


class SharedFaultPlan(FaultPlan):
    """A fault plan whose counters and coin live in shared memory while its generation is the installed one. A plan a
    newer change replaced (a worker that has not yet applied the change) counts on its own until it is swapped out."""

    def __init__(self, rules: list[FaultRule], seed: int, installed: float, region: SharedRegion,
                 generation: int) -> None:
        super().__init__(rules, seed, installed)
        self._region = region
        self._generation = generation
        self._drawn = 0  # draws this copy of the generator has made
        self._sharing = False

    def choose(self, req: ChatRequest | None, model: str | None, forced: str | None) -> tuple[str | None, Fault | None]:
        if not self:
            return super().choose(req, model, forced)
        with self._region.lock:
            self._sharing = self._region.fault_generation == self._generation
            return super().choose(req, model, forced)

    def _seen(self, i: int) -> int:
        return self._region.count_match(i) if self._sharing else super()._seen(i)

    def _coin(self) -> float:
        if not self._sharing:
            return super()._coin()
        k = self._region.next_draw()
        rng = self._rng
        while self._drawn < k:
            rng.random()
            self._drawn += 1
        self._drawn += 1
        return rng.random()


class SharedRateLimiter(RateLimiter):
    """The fake's buckets, loaded from shared memory, decided by `RateLimiter`'s own rule, and stored back, all under
    the shared lock. `reset` leaves them: the group clears them once for all workers (`GroupControl.reset`)."""

    def __init__(self, region: SharedRegion) -> None:
        super().__init__()
        self._region = region

    def check(self, model: str, rpm: int | None, tpm: int | None, tokens: int, now: float | None = None) -> Decision:
        region = self._region
        with region.lock:
            stamp = time.monotonic() if now is None else now
            buckets: dict[tuple[str, str], Bucket] = {}
            for kind in ("requests", "tokens"):
                found = region.load_bucket(model, kind)
                if found is not None:
                    buckets[(model, kind)] = Bucket(limit=found[0], level=found[1], stamp=found[2])
            self._buckets = buckets
            decision = self._check(model, rpm, tpm, tokens, stamp)
            for (m, kind), b in self._buckets.items():
                region.store_bucket(m, kind, b.limit, b.level, b.stamp)
            return decision

    def reset(self) -> None:
        """Nothing here: the shared buckets are cleared once by the group, not once per worker."""


class WorkerState(LocalState):
    """Worker `index`'s state. `generation` and `installed` name the fault-rule list the next plan it builds belongs
    to; the worker sets them from each control message before applying it."""

    def __init__(self, region: SharedRegion, index: int, generation: int, installed: float) -> None:
        self.region = region
        self.index = index
        self.generation = generation
        self.installed = installed

    def fault_plan(self, rules: Sequence[FaultRule], seed: int) -> FaultPlan:
        return SharedFaultPlan(list(rules), seed, self.installed, self.region, self.generation)

    def rate_limiter(self) -> RateLimiter:
        return SharedRateLimiter(self.region)

    def latency_rng(self, seed: int) -> random.Random:
        return random.Random(f"{seed}:worker:{self.index}")
