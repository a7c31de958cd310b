"""A circuit breaker's transitions, read from one faulted upstream's attempts in one fault window.

A gateway's breaker is not visible, but its effect on the upstream's traffic is: while it is open nothing is sent; when
the cooldown ends one request (the probe) goes out, and only if it succeeds does traffic resume. So the attempts split
into *bursts* separated by silences of at least `gap` (most of the declared cooldown). The first burst is the steady
traffic from the fault's start until the breaker opened; every later burst starts with a probe, sent after the
cooldown. That reading works for a partial fault too (60% 429s), where a correct breaker closes after each good probe
and opens again: traffic never stops for the whole window, yet every transition is there to judge. An upstream that
gets too little traffic for a silence of `gap` to mean anything (`expected_in_gap` under `MIN_EXPECTED_IN_GAP`) is
judged only on what does not depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..record import JournalEntry

# Attempts a closed breaker would send to the upstream within one gap, below which a silence may be chance.
MIN_EXPECTED_IN_GAP = 8.0


@dataclass
class Readmission:
    """A burst after an open period: its probe, and what came after it."""

    probe_at: float
    probe_ok: bool
    followers: int  # attempts after the probe in the same burst
    before_answer: int  # of those, how many arrived while the probe was still unanswered


@dataclass
class Transitions:
    opened_at: float | None  # the end of the first burst (None: traffic never paused for a gap)
    steady_attempts: int  # the first burst's attempts
    readmissions: list[Readmission] = field(default_factory=list)

    @property
    def probes(self) -> int:
        return len(self.readmissions)

    def violations(self) -> list[str]:
        """Re-admissions a half-open breaker would not make: traffic after a failed probe, or before its answer."""
        out = []
        for r in self.readmissions:
            if r.before_answer:
                out.append(f"{r.before_answer} attempts were sent before the probe was answered")
            elif not r.probe_ok and r.followers:
                out.append(f"{r.followers} attempts followed a failed probe")
        return out


def _answered_at(e: JournalEntry) -> float | None:
    return e.last_byte_wall if e.last_byte_wall is not None else e.first_byte_wall


def transitions(attempts: list[JournalEntry], start: float, end: float, gap: float) -> Transitions:
    """Bursts of `attempts` (one window's, any order) split by silences of at least `gap` seconds."""
    seq = sorted(attempts, key=lambda e: e.arrival_wall)
    bursts: list[list[JournalEntry]] = []
    for e in seq:
        if bursts and e.arrival_wall - bursts[-1][-1].arrival_wall < gap:
            bursts[-1].append(e)
        else:
            bursts.append([e])
    if not bursts:
        return Transitions(opened_at=start, steady_attempts=0)
    first = bursts[0]
    if first[0].arrival_wall - start >= gap:  # silent from the fault's start: it was already out, or no traffic
        bursts.insert(0, [])
        first = []
    last = first[-1].arrival_wall if first else start
    opened = None if len(bursts) == 1 and end - last < gap else last
    out = Transitions(opened_at=opened, steady_attempts=len(first))
    for burst in bursts[1:]:
        probe, rest = burst[0], burst[1:]
        answered = _answered_at(probe)
        early = sum(1 for e in rest if answered is not None and e.arrival_wall < answered)
        out.readmissions.append(Readmission(probe.arrival_wall, probe.ok, len(rest), early))
    return out
