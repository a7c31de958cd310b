"""The gateway's weights over a run: one period per `set_weights` the timeline applied, each with the normalised
share per upstream it asked for. canary_split judges each period's split, rollback reads the share in effect when a
fault clears, and cutover takes every applied change as a flip to judge around."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..record import RunRecord, TimelineEvent
from ..scenario import SetWeights


@dataclass
class Period:
    start_wall: float  # -inf for the first
    end_wall: float  # +inf for the last
    weights: dict[str, float]  # upstream -> normalised weight (> 0 only)
    served: list[tuple[float, str]] = field(default_factory=list)  # (sent wall time, upstream), in time order
    # when the journals showed this period's split (weight_effect), for the figures only: the period starts when the
    # gateway took the weights, since a boundary estimated from the requests judged would judge them by themselves
    effective_wall: float | None = None
    elsewhere: dict[str, int] = field(default_factory=dict)  # served by an upstream without weight


def target_weights(targets: list[Any], updates: dict[str, float] | None = None) -> dict[str, float]:
    """Per-upstream weight (sum over its targets), after a `set_weights` update the way the gateway applies it."""
    out: dict[str, float] = {}
    for t in targets:
        w = (updates or {}).get(t.upstream, t.weight)
        out[t.upstream] = out.get(t.upstream, 0.0) + w
    for name, w in (updates or {}).items():
        out.setdefault(name, w)
    return out


def normalised(weights: dict[str, float]) -> dict[str, float]:
    total = sum(w for w in weights.values() if w > 0)
    return {u: w / total for u, w in sorted(weights.items()) if w > 0} if total > 0 else {}


def weight_changes(record: RunRecord) -> list[TimelineEvent]:
    """The `set_weights` actions the timeline applied successfully, in the order they took effect."""
    t0 = record.load_start()
    return sorted((ev for ev in record.timeline if isinstance(ev.spec, SetWeights) and ev.ok),
                  key=lambda e: e.applied_at(t0))


def periods_of(record: RunRecord) -> list[Period]:
    """The weight periods: one, plus one per `set_weights` the timeline applied successfully."""
    targets = record.scenario.gateway.routing.targets
    updates: dict[str, float] = {}
    changes: list[tuple[float, dict[str, float], float | None]] = []
    t0 = record.load_start()
    for ev in weight_changes(record):
        assert isinstance(ev.spec, SetWeights)
        updates = {**updates, **ev.spec.weights}
        changes.append((ev.applied_at(t0), dict(updates), ev.effective_wall))
    periods = [Period(-math.inf, changes[0][0] if changes else math.inf, normalised(target_weights(targets)))]
    for i, (at, upd, effective) in enumerate(changes):
        end = changes[i + 1][0] if i + 1 < len(changes) else math.inf
        periods.append(Period(at, end, normalised(target_weights(targets, upd)), effective_wall=effective))
    return periods


def share_at(record: RunRecord, upstream: str, wall: float) -> float:
    """The normalised share of `upstream` the weights in effect at `wall` ask for."""
    period = next((p for p in periods_of(record) if p.start_wall <= wall < p.end_wall), None)
    return 0.0 if period is None else period.weights.get(upstream, 0.0)
