"""A circuit breaker per upstream: closed, open (cooling down) and half-open (one probe decides).

`failures` failed attempts within `window_s`, with no success in between, open it for `cooldown_s` (or
longer, when the upstream's own `retry-after` says so). Counting only failures not followed by a success
keeps a busy upstream with a small, steady error rate in service, as consecutive-error outlier detection
does. When the time is up, the next request that picks the upstream is the probe; while it is in flight
nobody else is sent there. Its success closes the breaker, its failure opens it again. A stream counts as
a success only once it has ended cleanly, so an upstream that breaks every stream midway is taken out too.
"""

from __future__ import annotations

from collections import deque

from ..intent import CooldownPolicy

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class Breaker:
    def __init__(self, half_open: bool = True) -> None:
        self.half_open = half_open  # False: a cooled upstream comes back with its full share (a mutant)
        self.state = CLOSED
        self.open_until = 0.0
        self.probing = False
        self.rate_limited = False  # the last failure that opened it was a 429
        self._failures: deque[float] = deque()
        self.opened = 0  # times it opened, for /health

    def available(self, now: float, policy: CooldownPolicy) -> bool:
        """May a request be sent now? (Does not claim the probe; `acquire` does.)"""
        if not policy.enabled:
            return True
        if self.state == OPEN and now >= self.open_until:
            self.state = HALF_OPEN if self.half_open else CLOSED
            self.probing = False
        if self.state == HALF_OPEN:
            return not self.probing
        return self.state == CLOSED

    def acquire(self, now: float, policy: CooldownPolicy) -> bool:
        """Claim a send; in half-open state this claims the one probe. False when the breaker refuses."""
        if not self.available(now, policy):
            return False
        if policy.enabled and self.state == HALF_OPEN:
            self.probing = True
        return True

    def release(self) -> None:
        """A claimed probe ended without a verdict (client gone, gateway error): let the next request probe."""
        if self.state == HALF_OPEN:
            self.probing = False

    def success(self) -> None:
        self.state = CLOSED
        self.probing = False
        self._failures.clear()

    def failure(self, now: float, policy: CooldownPolicy, hold_s: float | None = None, rate_limited: bool = False
                ) -> None:
        """Count a failed attempt; open when the threshold is reached (or at once when a probe failed)."""
        if not policy.enabled:
            return
        failures = self._failures
        failures.append(now)
        while failures and failures[0] < now - policy.window_s:
            failures.popleft()
        if self.state == HALF_OPEN or (self.state == CLOSED and len(failures) >= policy.failures):
            self.state = OPEN
            self.open_until = now + max(policy.cooldown_s, hold_s or 0.0)
            self.probing = False
            self.rate_limited = rate_limited
            self.opened += 1
            failures.clear()

    def reopens_in(self, now: float) -> float:
        return max(0.0, self.open_until - now) if self.state == OPEN else 0.0
