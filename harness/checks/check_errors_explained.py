"""errors_explained: every client failure has a cause the drill put there; the rest are the gateway's own defects.

A failed client request (an error status, a transport error, or a stream that did not finish cleanly) is explained
by, in this order:
- `injected`: one of its upstream attempts met an injected fault (the journal names the fault);
- `rate_limited`: an upstream's own configured limiter answered 429;
- `context_overflow`: an upstream said the prompt does not fit its window (the context_window check judges whether
  the gateway should have sent it elsewhere);
- `cooling`: the gateway answered by itself, asking no upstream, while an upstream was faulted or within its
  declared cooldown (plus `grace_s`) after the fault cleared, or after injected failures, standing faults' included,
  could have opened its declared breaker (`breaker_openings.py`);
- `run_ended`: the run stopped before the response completed;
- `keepalive_closed`: at a weight change's reload, the gateway closed the kept-alive connection the request was sent
  on, before any response and without forwarding it (`keepalive_race.py`: HTTP/1.1's keep-alive race, counted and
  shown, judged by `cutover`'s tolerance); the same loss away from a reload stays unexplained.
Everything else fails the check, grouped by cause: an upstream rejected what the gateway sent (a translation bug,
such as an assistant tool-call turn turned into empty content), every attempt succeeded yet the client got an error
or a stream without its finish, or the gateway failed a request without asking any upstream outside any fault.
Other checks count failures against budgets; this one asks why each happened, so a defect cannot hide in a drill
whose checks look elsewhere.
"""

from __future__ import annotations

import re
from typing import Any

from ..check_params import ErrorsExplainedParams
from ..record import ClientRecord, JournalEntry, RunRecord
from .breaker_openings import breaker_openings
from .fault_windows import FaultWindow, fault_windows
from .keepalive_race import CAUSE as KEEPALIVE_CLOSED
from .keepalive_race import at_a_reload, lost_to_keepalive_close, reload_windows
from .registry import check
from .served import load_attempts
from .verdict import Status, Verdict, capped, inconclusive

NAME = "errors_explained"
_CONTEXT = re.compile(r"context.length|maximum context|prompt is too long|too long for|exceeds the context", re.I)


def failed(client: ClientRecord) -> bool:
    return bool(client.error_class) or not 200 <= client.status < 300


def explain(client: ClientRecord, attempts: list[JournalEntry], windows: list[FaultWindow],
            after_s: float, reloads: list[tuple[float, float]] | None = None) -> tuple[str, str]:
    """(cause, detail): a cause from the module docstring's list, or `unexplained:...` with what was seen."""
    if client.error_class == "aborted":
        return "run_ended", "the run stopped before the response completed"
    if lost_to_keepalive_close(client, attempts) and at_a_reload(client, reloads or []):
        return KEEPALIVE_CLOSED, ("sent on a kept-alive connection the gateway closed at a reload, before any "
                                  "response and without forwarding it")
    injected = [a for a in attempts if a.fault]
    if injected:
        a = injected[0]
        return "injected", f"{a.fault} on {a.upstream or a.fake}"
    if any(a.status == 429 for a in attempts):
        return "rate_limited", "an upstream's own rate limiter answered 429"
    if any(a.status == 400 and _CONTEXT.search(a.error or "") for a in attempts):
        return "context_overflow", "an upstream said the prompt does not fit its window"
    sent = client.sent_s or client.intended_s
    if not attempts:
        if any(w.start <= sent < w.end + after_s for w in windows):
            return "cooling", "the gateway answered by itself while an upstream was faulted or cooling down"
        return "unexplained:no_attempt", "the gateway failed the request without asking any upstream"
    rejected = [a for a in attempts if not a.ok and a.status]
    if rejected:
        a = rejected[-1]
        return (f"unexplained:upstream_{a.status}",
                f"{a.upstream or a.fake} rejected what the gateway sent: {(a.error or '')[:160]}")
    if all(a.ok for a in attempts):
        got = client.error_class or f"http_{client.status}"
        return f"unexplained:{got}", f"every upstream attempt succeeded, yet the client got {got}"
    return "unexplained:upstream_broke", "an upstream attempt failed with no injected fault"


@check(NAME)
def errors_explained(record: RunRecord, params: ErrorsExplainedParams) -> Verdict:
    """Each client failure is explained by an injected fault or a declared intent; unexplained ones Fail."""
    clients = record.load_clients()
    if not clients:
        return inconclusive(NAME, "no client records")
    by_cid = load_attempts(record)
    cooldown = record.scenario.gateway.routing.cooldown
    timed = fault_windows(record)
    windows = timed + breaker_openings(record, cooldown, params.grace_s, timed)
    after_s = (cooldown.cooldown_s if cooldown.enabled else 0.0) + params.grace_s
    t0 = record.load_start()
    reloads = reload_windows(record, params.grace_s)
    causes: dict[str, int] = {}
    groups: dict[str, dict[str, Any]] = {}
    for c in clients:
        if not failed(c):
            continue
        cause, detail = explain(c, by_cid.get(c.correlation_id, []), windows, after_s, reloads)
        causes[cause] = causes.get(cause, 0) + 1
        if cause.startswith("unexplained:"):
            g = groups.setdefault(cause, {"cause": cause.split(":", 1)[1], "count": 0, "detail": detail,
                                          "client": c.error or c.error_class or c.status,
                                          "correlation_ids": [], "first_at_s": None})
            g["count"] += 1
            if len(g["correlation_ids"]) < 5:
                g["correlation_ids"].append(c.correlation_id)
            if g["first_at_s"] is None:
                g["first_at_s"] = round((c.sent_s or c.intended_s) - t0, 3)
    unexplained = sum(n for k, n in causes.items() if k.startswith("unexplained:"))
    failures = sum(causes.values())
    figures = {"failed": failures, "unexplained": unexplained,
               **{k.split(":", 1)[-1] if not k.startswith("unexplained:") else k: n for k, n in sorted(causes.items())}}
    thresholds = {"max_unexplained": params.max_unexplained, "grace_s": params.grace_s}
    evidence = capped(sorted(groups.values(), key=lambda g: -g["count"]))
    if unexplained > params.max_unexplained:
        top = ", ".join(f"{g['count']} {g['cause']}" for g in evidence[:3])
        return Verdict(NAME, Status.FAIL, f"{unexplained} of {len(clients)} client requests failed with no "
                       f"drill-made cause ({top})", figures, thresholds, len(clients), evidence)
    summary = (f"all {failures} client failures explained by the drill's faults and intents" if failures
               else "no client request failed")
    if causes.get(KEEPALIVE_CLOSED):
        summary += (f"; {causes[KEEPALIVE_CLOSED]} of them sent on kept-alive connections the gateway closed at a "
                    "reload (never forwarded; judged by cutover)")
    return Verdict(NAME, Status.PASS, summary, figures, thresholds, len(clients), evidence)
