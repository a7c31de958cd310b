"""accounting: the journals and client records reconcile: one final answer per request, no orphaned, lost or
duplicated upstream calls beyond what retries explain.

Failures (evidence):
- `unanswered`: a started request with no client record, or a record with neither a status nor an error;
- `double_answer`: two client records for one correlation id;
- `orphan`: a journal entry whose correlation id has no client record (or that carries none at all);
- `lost`: a 2xx answer whose gateway names an upstream that never saw the request;
- `duplicate`: more upstream attempts than the gateway's `x-gatedrill-attempts` says it made, or (when it
  says nothing) a second successful attempt, or an attempt sent while another for the same request was still
  running (this last only when the gateway does not say its count). A retry after a failure is explained;
  a second call after a success, or in parallel, is not.
A 2xx answer with no upstream attempt and no upstream claimed is reported (`unsourced`) but not failed: a
caching gateway may answer by itself. A distributed-load worker that died mid-run leaves the requests it had in
flight without a client record: their outcome is unknown (the generator's loss, not the gateway's), so they are
counted apart (`in_flight_at_worker_death`), neither unanswered nor orphaned.
"""

from __future__ import annotations

import itertools
from typing import Any

from ..check_params import AccountingParams
from ..load import session_owner
from ..record import WARM_UP, ClientRecord, JournalEntry, RunRecord
from .registry import check
from .verdict import Status, Verdict, capped, inconclusive

NAME = "accounting"



def _start(a: JournalEntry) -> float:
    return a.start_time


def unexplained_attempts(client: ClientRecord, attempts: list[JournalEntry]) -> tuple[int, str] | None:
    """(extra attempts, why) when a request's upstream calls are more than its retries explain."""
    claimed = client.attempts
    if claimed is None and client.headers.get("x-gatedrill-attempts"):
        claimed = int(client.headers["x-gatedrill-attempts"])
    if claimed is not None and len(attempts) > claimed:
        return len(attempts) - claimed, f"{len(attempts)} upstream attempts, gateway says {claimed}"
    successes = sum(1 for a in attempts if a.ok)
    if successes > 1:
        return successes - 1, f"{successes} successful upstream attempts for one request"
    if claimed is not None:  # the gateway's count explains the rest (a timed-out attempt may overlap its retry)
        return None
    ordered = sorted(attempts, key=_start)
    overlaps = 0
    for prev, nxt in itertools.pairwise(ordered):
        end = prev.last_byte_mono
        if end is not None and _start(nxt) < end:
            overlaps += 1
    if overlaps:
        return overlaps, f"{overlaps} attempt(s) sent while an earlier one was still running"
    return None


@check(NAME)
def accounting(record: RunRecord, params: AccountingParams) -> Verdict:
    """Every client request got exactly one final answer; upstream calls reconcile with the client records."""
    clients = record.load_clients()
    if not clients:
        return inconclusive(NAME, "no client records")
    by_cid: dict[str, list[ClientRecord]] = {}
    for c in clients:
        by_cid.setdefault(c.correlation_id, []).append(c)
    attempts: dict[str, list[JournalEntry]] = {}
    uncorrelated: list[dict[str, Any]] = []
    for e in sorted(record.entries(), key=lambda e: e.upstream):
        cid = e.correlation_id
        if cid == WARM_UP:
            continue
        if not cid:
            uncorrelated.append({"upstream": e.upstream, "seq": e.seq, "path": e.path,
                                 "arrival_wall": e.arrival_wall})
            continue
        attempts.setdefault(cid, []).append(e)

    problems: dict[str, list[dict[str, Any]]] = {k: [] for k in
                                                 ("unanswered", "double_answer", "orphan", "lost", "duplicate")}
    unsourced: list[str] = []
    load = record.load_summary
    dead = {w.index for w in load.workers if w.state == "died"}
    cut_off = sum(w.in_flight_at_death for w in load.workers if w.state == "died")
    started = load.started_arrivals
    missing_records = max(0, started - len(clients) - cut_off) if started is not None else 0
    if missing_records:
        problems["unanswered"].append({"requests_without_record": missing_records, "started": started,
                                       "records": len(clients)})
    for cid, recs in by_cid.items():
        if len(recs) > 1:
            problems["double_answer"].append({"request": cid, "records": len(recs),
                                              "statuses": [r.status for r in recs]})
        c = recs[0]
        if not c.status and not c.error_class:
            problems["unanswered"].append({"request": cid, "session": c.session_id, "sent_wall": c.sent_s})
        mine = attempts.get(cid, [])
        if 200 <= c.status < 300:
            claimed = c.upstream
            if claimed and not any(a.upstream == claimed for a in mine):
                problems["lost"].append({"request": cid, "claimed_upstream": claimed,
                                         "attempts": [(a.upstream, a.status) for a in mine]})
            elif not claimed and not mine:
                unsourced.append(cid)
        extra = unexplained_attempts(c, mine)
        if extra:
            problems["duplicate"].append({
                "request": cid, "extra_attempts": extra[0], "why": extra[1],
                "attempts": [{"upstream": a.upstream, "seq": a.seq, "status": a.status,
                              "arrival_wall": a.arrival_wall} for a in sorted(mine, key=_start)]})
    unknown: list[str] = []
    for cid in sorted(set(attempts) - set(by_cid)):
        a = attempts[cid]
        if dead and session_owner(a[0].session_id, load.load_workers or 0) in dead:
            unknown.append(cid)  # in flight when its worker died
            continue
        problems["orphan"].append({"request": cid, "attempts": len(a), "upstreams": sorted({x.upstream for x in a}),
                                   "arrival_wall": min(x.arrival_wall for x in a)})
    if not params.allow_uncorrelated:
        problems["orphan"].extend({"uncorrelated": True, **u} for u in uncorrelated)

    n_attempts = sum(len(a) for a in attempts.values())
    figures: dict[str, Any] = {
        "client_requests": len(clients), "upstream_attempts": n_attempts,
        "attempts_per_request": n_attempts / len(clients), "uncorrelated_entries": len(uncorrelated),
        "unsourced_2xx": len(unsourced), **{k: len(v) for k, v in problems.items()},
        "extra_attempts": sum(p["extra_attempts"] for p in problems["duplicate"]),
        "unanswered": len(problems["unanswered"]) + max(0, missing_records - 1) if missing_records else
        len(problems["unanswered"]),
    }
    if unsourced:
        figures["unsourced_examples"] = unsourced[:5]
    note = ""
    if dead:
        figures["in_flight_at_worker_death"] = {"reported": cut_off, "seen_upstream": len(unknown),
                                                "examples": unknown[:5]}
        note = (f"; {cut_off} requests in flight when load worker {', '.join(map(str, sorted(dead)))} died have "
                f"an unknown outcome and are not counted")
    thresholds = {k: 0 for k in problems}
    bad = {k: v for k, v in problems.items() if v}
    if bad:
        evidence = [{"kind": k, **item} for k, items in bad.items() for item in items]
        summary = ", ".join(f"{len(v)} {k.replace('_', ' ')}" for k, v in bad.items())
        return Verdict(NAME, Status.FAIL, f"{summary} (of {len(clients)} requests, {n_attempts} upstream attempts)"
                       + note, figures, thresholds, len(clients), capped(evidence))
    return Verdict(NAME, Status.PASS, f"{len(clients)} requests each answered once; {n_attempts} upstream attempts "
                                      f"all accounted for{note}", figures, thresholds, len(clients))
