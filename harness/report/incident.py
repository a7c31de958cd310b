"""The incident a game day rehearsed, read from the run record and the verdicts: when the fault began, when people
declared it, started the rollback and called it resolved (the marks), and when the gateway itself reacted (the
rollback verdict's detection and recovery).

Time to detect is the first `incident_declared` mark after the first fault began; time to mitigate the first
`rollback_started` after it; time to resolve the first `resolved`. All in seconds after the fault's start. The
gateway's own time to detect is the rollback verdict's, in the fault window it judged (its start to the last steady
attempt), which need not be the first fault.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..checks.fault_windows import fault_windows
from .judged import JudgedRun

HUMAN, SCENARIO, GATEWAY = "by hand", "scenario", "gateway"


@dataclass(frozen=True)
class Moment:
    """One row of the incident's timeline: when (s after load start), who acted, what happened."""

    t: float
    who: str
    what: str
    ok: bool = True


@dataclass(frozen=True)
class Incident:
    start_s: float | None  # the first fault window's start (s after load start); None: nothing was faulted
    upstream: str | None
    marks: dict[str, float] = field(default_factory=dict)  # the first of each mark at or after the start
    gateway_detected_s: float | None = None  # the rollback verdict: last steady attempt to the faulted upstream
    gateway_recovered_s: float | None = None
    gateway_window_s: float | None = None  # the start of the fault window that detection belongs to
    moments: list[Moment] = field(default_factory=list)

    def _since_start(self, mark: str) -> float | None:
        at = self.marks.get(mark)
        return None if at is None or self.start_s is None else round(at - self.start_s, 3)

    @property
    def time_to_detect(self) -> float | None:
        return self._since_start("incident_declared")

    @property
    def time_to_mitigate(self) -> float | None:
        return self._since_start("rollback_started")

    @property
    def time_to_resolve(self) -> float | None:
        return self._since_start("resolved")

    @property
    def gateway_time_to_detect(self) -> float | None:
        """The gateway's detection in its own fault window (the rollback check's upstream, maybe not the first)."""
        if self.gateway_detected_s is None or self.gateway_window_s is None:
            return None
        return round(self.gateway_detected_s - self.gateway_window_s, 3)


def incident(run: JudgedRun) -> Incident | None:
    """The rehearsed incident, or None for a run with no action by hand and no mark (not a game day)."""
    record = run.record
    human = [e for e in record.timeline if e.source == "manual" or e.mark is not None]
    if not human:
        return None
    t0 = record.load_start()
    windows = fault_windows(record)
    start = windows[0].start - t0 if windows else None
    marks: dict[str, float] = {}
    for e in sorted(record.timeline, key=lambda e: e.applied_at(t0)):
        at = e.applied_at(t0) - t0
        if e.mark is not None and e.mark not in marks and (start is None or at >= start - 1e-6):
            marks[e.mark] = round(at, 3)
    moments = [Moment(round(e.applied_at(t0) - t0, 3), HUMAN if e.source == "manual" else SCENARIO, e.describe(), e.ok)
               for e in record.timeline]
    detected = recovered = window_start = None
    v = next((v for v in run.verdicts if v.check == "rollback"), None)
    if v is not None:
        for w in v.figures.get("windows") or []:
            span, det = w.get("span_s") or [None, None], w.get("detection_s")
            if span[0] is None:
                continue
            if det is None:
                moments.append(Moment(float(span[1]), GATEWAY, "kept steady traffic on the faulted upstream to the "
                                      "end of the fault (no rollback)", ok=False))
            else:
                at = round(float(span[0]) + float(det), 3)
                if detected is None:
                    detected, window_start = at, float(span[0])
                moments.append(Moment(at, GATEWAY, f"stopped steady traffic to the faulted upstream ({det:g} s after "
                                      "the fault began)"))
        rec = v.figures.get("recovery_s")
        windows_fig = v.figures.get("windows") or []
        last_end = (windows_fig[-1].get("span_s") or [None, None])[1] if windows_fig else None
        if rec is not None and last_end is not None:
            recovered = round(float(last_end) + float(rec), 3)
            moments.append(Moment(recovered, GATEWAY, f"traffic share back ({rec:g} s after the fault cleared)"))
    moments.sort(key=lambda m: m.t)
    return Incident(start, windows[0].upstream if windows else None, marks, detected, recovered, window_start,
                    moments)

