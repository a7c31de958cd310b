"""Routing policy and its state: which upstreams a request may go to, in what order, and when to retry.

For each request the router picks a primary target (weighted, per request or sticky per session, among
targets whose circuit breaker lets traffic through), appends the declared fallbacks, and swaps any
candidate whose context window is too small for its declared context-window fallback. It does no I/O;
`dispatch.py` walks the candidates and reports back (breakers, sessions).
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from ..intent import CooldownPolicy, RoutingIntent, Target, UpstreamEndpoint
from .breaker import Breaker
from .config import GatewayConfig, check_intent
from .errors import ClientError, UpstreamError, no_upstream_available
from .mutants import Hooks
from .tokens import completion_budget, prompt_tokens
from .translate import DEFAULT_MAX_TOKENS

V = TypeVar("V")
MAX_SESSIONS = 100_000  # sticky assignments and last upstreams remembered (oldest forgotten first)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One upstream (and model) a request may be sent to. role: primary | fallback | context_window."""

    upstream: str
    model: str
    role: str
    truncate_to: int | None = None  # prompt-token budget to cut the prompt to, when truncating


class Router:
    def __init__(self, config: GatewayConfig, hooks: Hooks) -> None:
        self.endpoints: dict[str, UpstreamEndpoint] = {u.name: u for u in config.upstreams}
        self.hooks = hooks
        self.intent = config.intent
        self.cooldown: CooldownPolicy = hooks.cooldown(config.intent.cooldown)  # as the mutant sees it
        self.breakers = {name: Breaker(hooks.half_open) for name in self.endpoints}
        self._seed = config.seed
        self._rng = random.Random(config.seed)
        self._sticky: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._last_upstream: OrderedDict[str, str] = OrderedDict()
        self.weights_version = 0  # bumped by every weight change, so a stream can tell it outlived one
        self.reweighted_at = -math.inf  # monotonic time of the last weight change

    # -- configuration -------------------------------------------------------------------------------------

    def set_intent(self, intent: RoutingIntent) -> None:
        check_intent(intent, self.endpoints)
        self.intent = intent
        self.cooldown = self.hooks.cooldown(intent.cooldown)

    def set_weights(self, weights: dict[str, float]) -> RoutingIntent:
        """New weights per upstream; an upstream that is not yet a target becomes one. Raises ValueError."""
        unknown = sorted(set(weights) - set(self.endpoints))
        if unknown:
            raise ValueError(f"unknown upstream(s) {unknown}; known: {sorted(self.endpoints)}")
        targets = [t.model_copy(update={"weight": weights.get(t.upstream, t.weight)}) for t in self.intent.targets]
        for name in weights:
            if all(t.upstream != name for t in targets):
                targets.append(Target(upstream=name, model=self.model_for(name), weight=weights[name]))
        intent = RoutingIntent.model_validate({**self.intent.model_dump(),
                                               "targets": [t.model_dump() for t in targets]})
        self.set_intent(intent)
        self.weights_version += 1
        self.reweighted_at = time.monotonic()
        return intent

    def model_for(self, upstream: str, preferred: str | None = None) -> str:
        """The model to ask `upstream` for: its target's model, else `preferred` if it serves it, else its first."""
        for t in self.intent.targets:
            if t.upstream == upstream:
                return t.model
        windows = self.endpoints[upstream].context_windows
        if preferred is not None and preferred in windows:
            return preferred
        return next(iter(windows))

    # -- choosing ------------------------------------------------------------------------------------------

    def plan(self, body: dict[str, object], session: str | None, now: float) -> list[Candidate]:
        """Candidates in the order to try them; empty when nothing can be tried now."""
        intent = self.intent
        primary = self._choose(session, now)
        chain: list[Candidate] = []
        if primary is not None:
            chain.append(Candidate(primary.upstream, primary.model, "primary"))
        for name in intent.fallbacks if self.hooks.uses_fallbacks else ():
            chain.append(Candidate(name, self.model_for(name, primary.model if primary else None), "fallback"))
        sizes: dict[str, int] = {}
        fitted = [self._fit(c, body, sizes) for c in chain]
        fitting = [c for c, ok in fitted if ok]
        out: list[Candidate] = []
        seen: set[tuple[str, str]] = set()
        for c in fitting or [c for c, _ in fitted]:  # nothing fits: send anyway, the upstream's 400 goes back
            if (c.upstream, c.model) not in seen:
                seen.add((c.upstream, c.model))
                out.append(c)
        return out

    def _choose(self, session: str | None, now: float) -> Target | None:
        targets = self.intent.targets
        weights = self.hooks.weights(targets)
        live = [(t, w) for t, w in zip(targets, weights, strict=True) if w > 0]
        policy = self.cooldown
        ready = [(t, w) for t, w in live if self.breakers[t.upstream].available(now, policy)]
        if self.intent.sticky == "session" and session:
            u = self._session_point(session)
            key = self._sticky.get(session)
            assigned = next((t for t, _ in live if (t.upstream, t.model) == key), None)
            if assigned is None:
                assigned = _weighted(live, u)
                if assigned is not None:
                    _remember(self._sticky, session, (assigned.upstream, assigned.model))
            if assigned is not None and any(t is assigned for t, _ in ready):
                return assigned
            return _weighted(ready, u)  # its target is cooling down: elsewhere for now, back later
        return _weighted(ready, self._rng.random())

    def _session_point(self, session: str) -> float:
        h = hashlib.blake2b(f"{self._seed}|{session}".encode(), digest_size=8).digest()
        return int.from_bytes(h, "big") / 2.0**64

    def _fits(self, c: Candidate, body: dict[str, object], sizes: dict[str, int]) -> tuple[bool | None, int]:
        """(fits?, window): None when the window is not known to the gateway."""
        ep = self.endpoints[c.upstream]
        window = ep.context_windows.get(c.model)
        if window is None:
            return None, 0
        if ep.provider not in sizes:
            sizes[ep.provider] = prompt_tokens(body, ep.provider)
        return sizes[ep.provider] + completion_budget(body) <= window, window

    def _fit(self, c: Candidate, body: dict[str, object], sizes: dict[str, int]) -> tuple[Candidate, bool]:
        """Follow context-window fallbacks until a candidate fits; (candidate, fits or unknown)."""
        seen = {c.upstream}
        while True:
            fits, window = self._fits(c, body, sizes)
            if fits is not False:
                return c, True
            nxt = self.intent.context_window_fallbacks.get(c.upstream)
            if self.hooks.truncates or (nxt is None and self.intent.allow_truncation):
                budget = max(1, window - completion_budget(body))
                return Candidate(c.upstream, c.model, c.role, truncate_to=budget), True
            if nxt is None or nxt in seen:
                return c, False
            seen.add(nxt)
            c = Candidate(nxt, self.model_for(nxt, c.model), "context_window")

    def context_fallback(self, c: Candidate) -> Candidate | None:
        """Where to go after `c`'s upstream said the prompt does not fit."""
        nxt = self.intent.context_window_fallbacks.get(c.upstream)
        return None if nxt is None else Candidate(nxt, self.model_for(nxt, c.model), "context_window")

    def default_max_tokens(self, body: dict[str, object], c: Candidate) -> int:
        """`max_tokens` for an Anthropic upstream when the client set none: what fits the window, at most 4096."""
        window = self.endpoints[c.upstream].context_windows.get(c.model)
        if window is None:
            return DEFAULT_MAX_TOKENS
        room = window - prompt_tokens(body, "anthropic")
        return min(DEFAULT_MAX_TOKENS, room) if room > 0 else DEFAULT_MAX_TOKENS

    # -- retries and availability ------------------------------------------------------------------------

    def retryable(self, err: UpstreamError) -> bool:
        if err.kind != "http":
            return True
        return err.should_retry and err.status in self.intent.retry.retry_on

    def retry_wait(self, err: UpstreamError, retry_index: int) -> float | None:
        """Seconds before retry number `retry_index + 1` on the same upstream; None: go to the next one."""
        policy = self.intent.retry
        wait: float | None
        if err.retry_after is not None and policy.honor_retry_after:
            wait = err.retry_after if err.retry_after <= policy.max_retry_after_s else None
        else:
            wait = policy.backoff_ms / 1000.0 * (2**retry_index)
        return self.hooks.retry_wait(wait)

    def failed(self, upstream: str, now: float, hold_s: float | None, rate_limited: bool) -> None:
        """Count a failed attempt against `upstream`'s breaker (unless a mutant looks away after a reload)."""
        if self.hooks.counts_failure(now - self.reweighted_at):
            self.breakers[upstream].failure(now, self.cooldown, hold_s, rate_limited)

    def unavailable_error(self, now: float) -> ClientError:
        names = {t.upstream for t in self.intent.targets if t.weight > 0} | set(self.intent.fallbacks)
        blocked = [self.breakers[n] for n in names]
        wait = min((b.reopens_in(now) for b in blocked), default=0.0)
        return no_upstream_available(wait, any(b.rate_limited for b in blocked))

    # -- sessions ------------------------------------------------------------------------------------------

    def switched(self, session: str | None, upstream: str) -> bool:
        """Did this session's last served turn go to another upstream?"""
        last = self._last_upstream.get(session) if session else None
        return last is not None and last != upstream

    def served(self, session: str | None, upstream: str) -> None:
        if session:
            _remember(self._last_upstream, session, upstream)


def _remember(store: OrderedDict[str, V], key: str, value: V) -> None:
    store[key] = value
    store.move_to_end(key)
    if len(store) > MAX_SESSIONS:
        store.popitem(last=False)


def _weighted(pairs: Sequence[tuple[Target, float]], u: float) -> Target | None:
    """The target at point `u` (0..1) of the cumulative weights."""
    total = sum(w for _, w in pairs)
    if total <= 0:
        return None
    x = u * total
    for t, w in pairs:
        x -= w
        if x < 0:
            return t
    return pairs[-1][0]
