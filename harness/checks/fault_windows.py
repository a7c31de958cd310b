"""Fault windows of a run (when each upstream was faulted, from the timeline's applied times) and what a faulted
upstream told its clients about waiting (`retry-after`), read back from the run record alone."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gatedrill.fakes.faults import FaultRule

from ..record import JournalEntry, RunRecord, TimelineEvent
from ..scenario import SetFaults

_TRY_AGAIN = re.compile(r"try again in ([0-9.]+)(ms|s)\b")


@dataclass(frozen=True)
class FaultWindow:
    """One upstream faulted from `start` to `end` (wall-clock epoch seconds) with the fault rules `faults`."""

    upstream: str
    start: float
    end: float
    faults: list[FaultRule] = field(default_factory=list)
    note: str = ""
    closed: bool = True  # False when the run ended with the fault still set

    def contains(self, t: float) -> bool:
        return self.start <= t < self.end

    def span(self, t0: float) -> list[float]:
        """[start, end] in seconds after load start, rounded for evidence."""
        return [round(self.start - t0, 3), round(self.end - t0, 3)]


def fault_windows(record: RunRecord, upstream: str | None = None) -> list[FaultWindow]:
    """Windows from each applied `set_faults` until the upstream's next applied set/clear (or the run's end).

    A `set_faults` with an empty fault list clears. Actions that failed to apply (`ok: false`) are skipped.
    """
    t0 = record.load_start()
    end_of_run = record.run_end()
    open_at: dict[str, tuple[float, list[FaultRule], str]] = {}
    out: list[FaultWindow] = []
    actions = [a for a in record.timeline if a.ok and a.action in ("set_faults", "clear_faults")]
    actions.sort(key=lambda a: a.applied_at(t0))
    for a in actions:
        name = _upstream_of(a)
        if not name:
            continue
        at = a.applied_at(t0)
        if name in open_at:
            start, faults, note = open_at.pop(name)
            out.append(FaultWindow(name, start, at, faults, note))
        faults = a.spec.faults if isinstance(a.spec, SetFaults) else []
        if a.action == "set_faults" and faults:
            open_at[name] = (at, faults, a.note or "")
    for name, (start, faults, note) in open_at.items():
        out.append(FaultWindow(name, start, max(end_of_run, start), faults, note, closed=False))
    out.sort(key=lambda w: w.start)
    return [w for w in out if upstream is None or w.upstream == upstream]


def _upstream_of(a: TimelineEvent) -> str | None:
    return a.upstream or getattr(a.spec, "upstream", None)


def producing_rules(entry: JournalEntry, record: RunRecord,
                    windows: list[FaultWindow] | None = None) -> list[FaultRule]:
    """The fault rules that may have produced `entry`, whose journal names the rule (or its kind, when unnamed): the
    timeline's rules active on its upstream at its arrival first, then the upstream's standing ones."""
    name = entry.fault
    if not name:
        return []
    upstream = entry.upstream or entry.fake
    rules: list[FaultRule] = []
    for w in windows if windows is not None else fault_windows(record, upstream):
        if w.upstream == upstream and w.contains(entry.arrival_wall):
            rules += w.faults
    cfg = record.scenario.upstreams.get(upstream)
    if cfg is not None:
        rules += list(cfg.faults)
    return [r for r in rules if name in (r.name, r.fault.kind)]


def advertised_retry_after(entry: JournalEntry, record: RunRecord,
                           windows: list[FaultWindow] | None = None) -> float | None:
    """The wait (seconds) the fake told the gateway to observe with this answer, or None if it gave none we know.

    Read from the error message the fake sent ("Please try again in 1.5s", OpenAI style), else from the fault rule
    that produced the answer (the timeline's rule active at arrival, or the upstream's static rules): its
    `retry_after`, or the providers' default of 1 s for a 429 without one.
    """
    status = entry.status
    if status not in (429, 503, 529):
        return None
    m = _TRY_AGAIN.search(entry.error or "")
    if m:
        value = float(m.group(1))
        return value / 1000.0 if m.group(2) == "ms" else value
    for rule in producing_rules(entry, record, windows):
        fault = rule.fault
        if getattr(fault, "status", None) == status:
            retry_after = getattr(fault, "retry_after", None)
            if retry_after is not None:
                return float(retry_after)
            return 1.0 if status == 429 else None
    return None
