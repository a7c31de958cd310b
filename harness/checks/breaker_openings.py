"""When the declared breaker may be open because injected faults tripped it, faults the timeline never set included.

A scenario's standing faults (`upstreams.X.faults`, a 4% chance of a 529 mid-stream, say) open no timeline fault
window, yet a few of them close together trip a correct gateway's breaker just as a timed fault does, and with no
other upstream the gateway must then refuse by itself. The declared policy (`routing.cooldown`) says when it may:
after `failures` failed attempts within `window_s`, for `cooldown_s`. A failed attempt while it may still be open (a
probe that failed) opens it again. Only attempts the journal marks as injected count, so a breaker that opens with
no injected cause is still the gateway's own; an injected fault counts when it failed the attempt, or when its kind
breaks an answer the fake still calls complete (a truncated stream ends without its finish: a gateway that counts
only clean ends as successes counts it as a failure).
"""

from __future__ import annotations

from collections import defaultdict

from ..intent import CooldownPolicy
from ..record import JournalEntry, RunRecord
from .fault_windows import FaultWindow, producing_rules

# Fault kinds that leave the answer whole (late or filtered, not broken): a gateway has no failure to count.
WHOLE = frozenset({"delay", "slow_drip", "content_filter"})


def _kind(entry: JournalEntry, record: RunRecord, windows: list[FaultWindow]) -> str:
    """The kind of the fault the journal names for `entry` (a rule's name, or the kind of an unnamed one)."""
    rules = producing_rules(entry, record, windows)
    return rules[0].fault.kind if rules else entry.fault or ""


def breaker_openings(record: RunRecord, policy: CooldownPolicy, grace_s: float,
                     windows: list[FaultWindow]) -> list[FaultWindow]:
    """One zero-length window per moment the breaker may have opened (wall s); the caller adds the cooldown after.

    `windows` are the run's timeline fault windows (`fault_windows`), whose rules name faults as standing ones do.
    A probe goes out when the cooldown expires, so a failure up to `grace_s` after it is still one that re-opens.
    """
    if not policy.enabled:
        return []
    failed: dict[str, list[float]] = defaultdict(list)
    for upstream, entries in record.journals.items():
        for e in entries:
            e.upstream = upstream  # as `RunRecord.upstream_attempts` sets it: the journal's key names the fake
            if e.fault and (not e.ok or _kind(e, record, windows) not in WHOLE):
                failed[upstream].append(e.last_byte_wall or e.first_byte_wall or e.arrival_wall)
    out: list[FaultWindow] = []
    for upstream, times in failed.items():
        times.sort()
        open_until = float("-inf")
        for i, t in enumerate(times):
            tripped = i + 1 >= policy.failures and t - times[i + 1 - policy.failures] <= policy.window_s
            if tripped or t <= open_until + grace_s:
                n = min(i + 1, policy.failures)
                out.append(FaultWindow(upstream, t, t, note=f"{n} injected failures within {policy.window_s:g} s"))
                open_until = t + policy.cooldown_s
    return sorted(out, key=lambda w: w.start)
