"""When each `set_weights` took effect: the first request after a change point in the sequence of upstreams the
gateway picked, read from the fakes' journals (ground truth), not from what the gateway said.

The sequence is each load request's first upstream attempt, in arrival order (retries and fallbacks follow the
first pick, so they would blur the split). Each change is searched in its own window, from the previous
set_weights to the next one, and no earlier than the request that arrived first after it was sent.
"""

from __future__ import annotations

import math

from .change_point import ALPHA, split_change
from .record.journal import JournalEntry
from .record.phases import is_load
from .record.timeline import TimelineEvent


def first_picks(journals: dict[str, list[JournalEntry]]) -> list[tuple[float, str]]:
    """(arrival wall time, upstream) of each load request's first attempt, in arrival order."""
    first: dict[str, tuple[float, str]] = {}
    for name, entries in journals.items():
        for e in entries:
            cid = e.correlation_id
            if cid is None or not is_load(cid):
                continue
            if cid not in first or e.arrival_wall < first[cid][0]:
                first[cid] = (e.arrival_wall, name)
    return sorted(first.values())


def with_effective_times(events: list[TimelineEvent], journals: dict[str, list[JournalEntry]], t0_wall: float,
                         alpha: float = ALPHA) -> list[TimelineEvent]:
    """`events` with `effective_s`/`effective_wall`/`effective` filled in for every applied set_weights."""
    picks = first_picks(journals)
    changes = sorted((i for i, e in enumerate(events) if e.action == "set_weights" and e.ok),
                     key=lambda i: events[i].sent_s or events[i].planned_s)
    out = list(events)
    for n, i in enumerate(changes):
        ev = events[i]
        sent = t0_wall + (ev.sent_s if ev.sent_s is not None else ev.planned_s)
        start = -math.inf if n == 0 else t0_wall + (events[changes[n - 1]].sent_s or 0.0)
        end = math.inf if n + 1 == len(changes) else t0_wall + (events[changes[n + 1]].sent_s or math.inf)
        window = [(t, u) for t, u in picks if start <= t < end]
        earliest = sum(1 for t, _ in window if t < sent)
        cp, p = split_change([u for _, u in window], earliest, alpha)
        if cp is None:
            how = (f"no change in the split found among {len(window)} requests around it (p={p:.2g} >= {alpha:g}; "
                   "Hinkley's likelihood-ratio change point, Bonferroni bound)")
            out[i] = ev.model_copy(update={"effective": how})
            continue
        wall = window[cp.index][0]
        shares = ", ".join(f"{u} {cp.before[u]:.0%}->{cp.after[u]:.0%}" for u in cp.before)
        how = (f"change point at request {cp.index + 1} of {len(window)} in its window ({shares}); 2logLR="
               f"{cp.statistic:.1f}, p<={cp.p_value:.2g}")
        out[i] = ev.model_copy(update={"effective_s": wall - t0_wall, "effective_wall": wall, "effective": how})
    return out
