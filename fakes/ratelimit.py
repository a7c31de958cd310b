"""Stateful per-model rate limits (requests and tokens per minute), as token buckets that refill continuously.

Tokens are charged the way providers do: prompt tokens plus the requested `max_tokens`. A refused request
learns exactly when enough capacity will be back (retry-after), and every reply carries the real remaining
capacity and time to full reset.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass


@dataclass(slots=True)
class Bucket:
    limit: int
    level: float
    stamp: float

    def refill(self, now: float) -> None:
        rate = self.limit / 60.0
        self.level = min(self.limit, self.level + (now - self.stamp) * rate)
        self.stamp = now

    def wait_for(self, amount: float) -> float:
        """Seconds until `amount` is available (0 if it already is; inf if it never fits)."""
        if amount > self.limit:
            return math.inf
        missing = amount - self.level
        return 0.0 if missing <= 0 else missing / (self.limit / 60.0)

    def reset_in(self) -> float:
        return (self.limit - self.level) / (self.limit / 60.0)


@dataclass(slots=True)
class Decision:
    allowed: bool
    limited_by: str | None  # "requests" | "tokens"
    retry_after: float
    requests: Bucket | None
    tokens: Bucket | None
    requested_tokens: int


class RateLimiter:
    """Buckets per model; `check` charges both buckets only when both allow the request."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str], Bucket] = {}
        self._lock = threading.Lock()  # a large request is decided off the event loop's thread

    def _bucket(self, model: str, kind: str, limit: int | None, now: float) -> Bucket | None:
        if limit is None:
            return None
        key = (model, kind)
        b = self._buckets.get(key)
        if b is None or b.limit != limit:
            b = Bucket(limit=limit, level=float(limit), stamp=now)
            self._buckets[key] = b
        else:
            b.refill(now)
        return b

    def check(self, model: str, rpm: int | None, tpm: int | None, tokens: int, now: float | None = None) -> Decision:
        with self._lock:
            return self._check(model, rpm, tpm, tokens, time.monotonic() if now is None else now)

    def _check(self, model: str, rpm: int | None, tpm: int | None, tokens: int, now: float) -> Decision:
        rb = self._bucket(model, "requests", rpm, now)
        tb = self._bucket(model, "tokens", tpm, now)
        wait_r = rb.wait_for(1) if rb else 0.0
        wait_t = tb.wait_for(tokens) if tb else 0.0
        if wait_r > 0 or wait_t > 0:
            by = "requests" if wait_r >= wait_t else "tokens"
            return Decision(False, by, max(wait_r, wait_t), rb, tb, tokens)
        if rb:
            rb.level -= 1
        if tb:
            tb.level -= tokens
        return Decision(True, None, 0.0, rb, tb, tokens)

    def reset(self) -> None:
        self._buckets.clear()


def format_duration(seconds: float) -> str:
    """OpenAI's reset format: '1s', '6m0s', '120ms'."""
    if seconds < 1:
        return f"{max(0, int(seconds * 1000))}ms"
    m, s = divmod(seconds, 60)
    if m >= 1:
        return f"{int(m)}m{int(s)}s"
    return f"{s:.3g}s"
