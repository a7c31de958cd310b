"""When the declared breaker may be open because injected faults tripped it, faults the timeline never set included.

A scenario's standing faults (`upstreams.X.faults`, a 4% chance of a 529 mid-stream, say) open no timeline fault
window, yet a few of them close together trip a correct gateway's breaker just as a timed fault does, and with no
other upstream the gateway must then refuse by itself. The declared policy (`routing.cooldown`) says when it may:
after `failures` failed attempts within `window_s`, for `cooldown_s`. A failed attempt while it may still be open (a
probe that failed) opens it again. Only attempts the journal marks as injected count, so a breaker that opens with
no injected cause is still the gateway's own.
"""

from __future__ import annotations

from collections import defaultdict

from ..intent import CooldownPolicy
from ..record import RunRecord
from .fault_windows import FaultWindow


def breaker_openings(record: RunRecord, policy: CooldownPolicy, grace_s: float) -> list[FaultWindow]:
    """One zero-length window per moment the breaker may have opened (wall s); the caller adds the cooldown after.

    A probe goes out when the cooldown expires, so a failure up to `grace_s` after it is still one that re-opens.
    """
    if not policy.enabled:
        return []
    failed: dict[str, list[float]] = defaultdict(list)
    for upstream, entries in record.journals.items():
        for e in entries:
            if e.fault and not e.ok:
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
