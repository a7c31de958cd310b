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
caching gateway may answer by itself.
"""

from __future__ import annotations

import itertools
from typing import Any

from pydantic import Field

from ..record import RunRecord
from .registry import CheckParams, check
from .served import WARM_UP, Attempt, attempt_ok, capped, load_clients
from .verdict import Status, Verdict, inconclusive

NAME = "accounting"


class Params(CheckParams):
    allow_uncorrelated: bool = Field(
        default=False, description="tolerate journal entries with no correlation id (e.g. a gateway's health probes)")


def _start(a: Attempt) -> float:
    t = a.get("arrival_mono")
    if t is None:
        t = a.get("arrival_wall")
    return float(t or 0.0)


def _end(a: Attempt) -> float | None:
    end = a.get("last_byte_mono")
    return None if end is None else float(end)


def unexplained_attempts(client: dict[str, Any], attempts: list[Attempt]) -> tuple[int, str] | None:
    """(extra attempts, why) when a request's upstream calls are more than its retries explain."""
    claimed = client.get("attempts")
    if claimed is None and (client.get("headers") or {}).get("x-gatedrill-attempts"):
        claimed = int(client["headers"]["x-gatedrill-attempts"])
    if claimed is not None and len(attempts) > int(claimed):
        return len(attempts) - int(claimed), f"{len(attempts)} upstream attempts, gateway says {claimed}"
    successes = sum(1 for a in attempts if attempt_ok(a))
    if successes > 1:
        return successes - 1, f"{successes} successful upstream attempts for one request"
    if claimed is not None:  # the gateway's count explains the rest (a timed-out attempt may overlap its retry)
        return None
    ordered = sorted(attempts, key=_start)
    overlaps = 0
    for prev, nxt in itertools.pairwise(ordered):
        end = _end(prev)
        if end is not None and _start(nxt) < end:
            overlaps += 1
    if overlaps:
        return overlaps, f"{overlaps} attempt(s) sent while an earlier one was still running"
    return None


@check(NAME, Params)
def accounting(record: RunRecord, params: Params) -> Verdict:
    """Every client request got exactly one final answer; upstream calls reconcile with the client records."""
    clients = load_clients(record)
    if not clients:
        return inconclusive(NAME, "no client records")
    by_cid: dict[str, list[dict[str, Any]]] = {}
    for c in clients:
        by_cid.setdefault(c["correlation_id"], []).append(c)
    attempts: dict[str, list[Attempt]] = {}
    uncorrelated: list[dict[str, Any]] = []
    for upstream, entries in sorted(record.journals.items()):
        for e in entries:
            cid = e.get("correlation_id")
            if cid == WARM_UP:
                continue
            if not cid:
                uncorrelated.append({"upstream": upstream, "seq": e.get("seq"), "path": e.get("path"),
                                     "arrival_wall": e.get("arrival_wall")})
                continue
            attempts.setdefault(cid, []).append({**e, "upstream": upstream})

    problems: dict[str, list[dict[str, Any]]] = {k: [] for k in
                                                 ("unanswered", "double_answer", "orphan", "lost", "duplicate")}
    unsourced: list[str] = []
    started = record.load_summary.get("started_arrivals")
    missing_records = max(0, int(started) - len(clients)) if isinstance(started, int) else 0
    if missing_records:
        problems["unanswered"].append({"requests_without_record": missing_records, "started": started,
                                       "records": len(clients)})
    for cid, recs in by_cid.items():
        if len(recs) > 1:
            problems["double_answer"].append({"request": cid, "records": len(recs),
                                              "statuses": [r.get("status") for r in recs]})
        c = recs[0]
        if not c.get("status") and not c.get("error_class"):
            problems["unanswered"].append({"request": cid, "session": c.get("session_id"),
                                           "sent_wall": c.get("sent_s")})
        mine = attempts.get(cid, [])
        status = c.get("status") or 0
        if 200 <= status < 300:
            claimed = c.get("upstream")
            if claimed and not any(a["upstream"] == claimed for a in mine):
                problems["lost"].append({"request": cid, "claimed_upstream": claimed,
                                         "attempts": [(a["upstream"], a.get("status")) for a in mine]})
            elif not claimed and not mine:
                unsourced.append(cid)
        extra = unexplained_attempts(c, mine)
        if extra:
            problems["duplicate"].append({
                "request": cid, "extra_attempts": extra[0], "why": extra[1],
                "attempts": [{"upstream": a["upstream"], "seq": a.get("seq"), "status": a.get("status"),
                              "arrival_wall": a.get("arrival_wall")} for a in sorted(mine, key=_start)]})
    for cid in sorted(set(attempts) - set(by_cid)):
        a = attempts[cid]
        problems["orphan"].append({"request": cid, "attempts": len(a), "upstreams": sorted({x["upstream"] for x in a}),
                                   "arrival_wall": min(x.get("arrival_wall") or 0.0 for x in a)})
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
    thresholds = {k: 0 for k in problems}
    bad = {k: v for k, v in problems.items() if v}
    if bad:
        evidence = [{"kind": k, **item} for k, items in bad.items() for item in items]
        summary = ", ".join(f"{len(v)} {k.replace('_', ' ')}" for k, v in bad.items())
        return Verdict(NAME, Status.FAIL, f"{summary} (of {len(clients)} requests, {n_attempts} upstream attempts)",
                       figures, thresholds, len(clients), capped(evidence))
    return Verdict(NAME, Status.PASS, f"{len(clients)} requests each answered once; {n_attempts} upstream attempts "
                                      f"all accounted for", figures, thresholds, len(clients))
