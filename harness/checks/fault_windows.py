"""Fault windows of a run (when each upstream was faulted, from the timeline's applied times) and what a faulted
upstream told its clients about waiting (`retry-after`), read back from the run record alone."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..record import RunRecord

WARM_UP = "warm-up"
_TRY_AGAIN = re.compile(r"try again in ([0-9.]+)(ms|s)\b")


@dataclass(frozen=True)
class FaultWindow:
    """One upstream faulted from `start` to `end` (wall-clock epoch seconds) with the fault rules `faults`."""

    upstream: str
    start: float
    end: float
    faults: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""
    closed: bool = True  # False when the run ended with the fault still set

    def contains(self, t: float) -> bool:
        return self.start <= t < self.end

    def span(self, t0: float) -> list[float]:
        """[start, end] in seconds after load start, rounded for evidence."""
        return [round(self.start - t0, 3), round(self.end - t0, 3)]


def load_start(record: RunRecord) -> float:
    t0 = record.meta.get("load_start_wall")
    if t0 is not None:
        return float(t0)
    sent = [c["sent_s"] for c in client_requests(record) if c.get("sent_s")]
    return min(sent) if sent else 0.0


def run_end(record: RunRecord) -> float:
    end = record.meta.get("end_wall")
    if end is not None:
        return float(end)
    ends = [c.get("end_s") or 0.0 for c in record.clients]
    return max(ends, default=load_start(record))


def client_requests(record: RunRecord) -> list[dict[str, Any]]:
    """Client records of the drill's own requests (warm-up excluded)."""
    return [c for c in record.clients if c.get("correlation_id") and c["correlation_id"] != WARM_UP]


def attempts(record: RunRecord, upstream: str) -> list[dict[str, Any]]:
    """The drill's requests (warm-up excluded) as the fake `upstream` journalled them, by arrival time."""
    out = [e for e in record.journals.get(upstream, []) if e.get("correlation_id") != WARM_UP]
    out.sort(key=lambda e: e["arrival_wall"])
    return out


def fault_windows(record: RunRecord, upstream: str | None = None) -> list[FaultWindow]:
    """Windows from each applied `set_faults` until the upstream's next applied set/clear (or the run's end).

    A `set_faults` with an empty fault list clears. Actions that failed to apply (`ok: false`) are skipped.
    """
    t0 = load_start(record)
    end_of_run = run_end(record)
    open_at: dict[str, tuple[float, list[dict[str, Any]], str]] = {}
    out: list[FaultWindow] = []
    actions = [a for a in record.timeline if a.get("ok", True) and a.get("action") in ("set_faults", "clear_faults")]
    actions.sort(key=lambda a: _applied_wall(a, t0))
    for a in actions:
        name = a.get("upstream") or (a.get("spec") or {}).get("upstream")
        if not name:
            continue
        at = _applied_wall(a, t0)
        if name in open_at:
            start, faults, note = open_at.pop(name)
            out.append(FaultWindow(name, start, at, faults, note))
        faults = (a.get("spec") or {}).get("faults") or []
        if a["action"] == "set_faults" and faults:
            open_at[name] = (at, faults, a.get("note") or "")
    for name, (start, faults, note) in open_at.items():
        out.append(FaultWindow(name, start, max(end_of_run, start), faults, note, closed=False))
    out.sort(key=lambda w: w.start)
    return [w for w in out if upstream is None or w.upstream == upstream]


def _applied_wall(action: dict[str, Any], t0: float) -> float:
    if action.get("applied_wall") is not None:
        return float(action["applied_wall"])
    rel = action.get("applied_s", action.get("planned_s", 0.0))
    return t0 + float(rel or 0.0)


def advertised_retry_after(entry: dict[str, Any], record: RunRecord,
                           windows: list[FaultWindow] | None = None) -> float | None:
    """The wait (seconds) the fake told the gateway to observe with this answer, or None if it gave none we know.

    Read from the error message the fake sent ("Please try again in 1.5s", OpenAI style), else from the fault rule
    that produced the answer (the timeline's rule active at arrival, or the upstream's static rules): its
    `retry_after`, or the providers' default of 1 s for a 429 without one.
    """
    status = entry.get("status")
    if status not in (429, 503, 529):
        return None
    m = _TRY_AGAIN.search(entry.get("error") or "")
    if m:
        value = float(m.group(1))
        return value / 1000.0 if m.group(2) == "ms" else value
    name = entry.get("fault")
    if not name:
        return None
    upstream = entry.get("upstream") or entry.get("fake") or ""
    rules: list[dict[str, Any]] = []
    for w in windows if windows is not None else fault_windows(record, upstream):
        if w.upstream == upstream and w.contains(entry["arrival_wall"]):
            rules += w.faults
    cfg = record.scenario.upstreams.get(upstream)
    if cfg is not None:
        rules += [r.model_dump(mode="json") for r in getattr(cfg, "faults", [])]
    for rule in rules:
        fault = rule.get("fault") or {}
        if name in (rule.get("name"), fault.get("kind")) and fault.get("status") == status:
            if fault.get("retry_after") is not None:
                return float(fault["retry_after"])
            return 1.0 if status == 429 else None
    return None
