"""A circuit breaker's transitions, read from one faulted upstream's attempts in one fault window.

A gateway's breaker is not visible, but its effect on the upstream's traffic is: while it is open nothing is sent; when
the cooldown ends one request (the probe) goes out, and only if it succeeds does traffic resume.

- Under a partial fault (some attempts succeed: 60% 429s, say) a correct breaker opens, closes after a good probe and
  opens again, so traffic never stops for the whole window. The attempts split into *bursts* separated by silences of
  at least `gap` (most of the declared cooldown): the first is the steady traffic until the breaker opened, every
  later one starts with a probe (`transitions`).
- Under a full fault every probe fails, so probes stand alone: an attempt is a probe when nothing reached the
  upstream for `gap` before it and for `iso` (half the cooldown) after it; the rest is steady traffic, and steady
  traffic up to the window's end means the breaker never held (`full_fault`). Reading a lone attempt this way, not
  as a burst, keeps a breaker that re-opens after the cooldown in sight even when the upstream's share is small.

Either way the first failing attempt at the fault's start is never a probe: a probe comes after a silence.
An upstream that gets too little traffic for a silence of `gap` to mean anything (`MIN_EXPECTED_IN_GAP`) is not
judged on re-admission.
"""

from __future__ import annotations

import math
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


def full_fault(attempts: list[JournalEntry], start: float, end: float, gap: float, iso: float,
               judge_readmission: bool) -> Transitions:
    """Steady traffic and lone probes of a window in which every attempt failed.

    With `judge_readmission`, steady traffic that resumes after a silence of `gap` is a re-admission after a failed
    (or absent) probe, and detection ends with the first steady run. Without it (too little traffic for a silence to
    mean anything) steady traffic up to the window's end is all that can be said: the breaker never held."""
    seq = sorted(e.arrival_wall for e in attempts)
    steady: list[float] = []
    probes: list[float] = []
    for i, t in enumerate(seq):
        before = seq[i - 1] if i > 0 else start  # the first: alone only if silent since the fault began
        after = seq[i + 1] if i + 1 < len(seq) else math.inf
        (probes if t - before >= gap and after - t >= iso else steady).append(t)
    runs: list[list[float]] = []
    for t in steady:
        if runs and t - runs[-1][-1] < gap:
            runs[-1].append(t)
        else:
            runs.append([t])
    last = steady[-1] if steady else start
    if judge_readmission and runs:
        first = runs[0]
        opened = None if len(runs) == 1 and end - first[-1] < 2 * iso else first[-1]
        if first[0] - start >= gap:  # silent from the start: the breaker was open already; this run came back
            opened, runs = start, [[], *runs]
        later = [Readmission(r[0], False, len(r) - 1, 0) for r in runs[1:]]
    else:
        opened = None if steady and end - last < 2 * iso else last
        later = []
    lone = [Readmission(t, False, 0, 0) for t in probes]
    return Transitions(opened_at=opened, steady_attempts=len(runs[0]) if runs else 0,
                       readmissions=sorted(lone + later, key=lambda r: r.probe_at))
