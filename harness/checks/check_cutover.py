"""cutover: does a weight flip (a blue/green cutover, or any `set_weights`) cost the clients nothing?

Every `set_weights` the timeline applied is a flip; its gap runs from `before_s` seconds before it was sent to
`after_s` seconds after it was applied (by intended send time), so a gateway that takes seconds to apply one is
judged over all of them. Requests sent in fault windows are left out of both sides: their errors are the fault's.
Four properties are judged:
- **errors:** the gaps' client error rate against the rest of the same run, by a one-sided Fisher's exact test; a
  significant increase (p < `alpha`) larger than `max_error_increase` fails. Requests lost to the keep-alive race of
  a graceful reload (`keepalive_race.py`: sent on a kept-alive connection the gateway closed, never forwarded) are
  counted apart and shown; more than `max_keepalive_closed` of the gaps' requests fails;
- **latency:** time to first content of streams, and to the whole reply of the rest, from the intended send time:
  the gaps' successful requests against the rest's, each series by the one-sided Mann-Whitney test of
  `arm_statistics.rank_test` (at alpha / 2) with its rank-biserial effect size; significant and larger than
  `max_latency_effect` fails;
- **streams in flight at a flip:** each client stream sent before a flip and ended after it must have completed
  exactly as its serving upstream stream, or failed cleanly (an error the client saw, and only a faithful prefix
  before it); any other defect (`stream_defects.py`) is a corrupted stream and fails;
- **sessions across a flip:** the first turn a session sends after a flip, when an earlier one was sent before it,
  must reach its upstream with the client's exact history (the witness digest, as `context_continuity` reads it).
Too few requests in the gaps or the rest, streams in flight, or crossing sessions (when the run has streams or
multi-turn sessions) make it Inconclusive rather than a guess; a Fail found with too little data elsewhere stands.
"""

from __future__ import annotations

import statistics
from typing import Any

from ..check_params import CutoverParams
from ..record import ClientRecord, JournalEntry, RunRecord
from .check_context_continuity import got_digest, received_atoms
from .check_streaming_integrity import fault_rules, upstream_broken
from .fault_windows import fault_windows
from .keepalive_race import lost_to_keepalive_close
from .registry import check
from .served import load_attempts
from .stream_defects import ERROR_AT_CLIENT, UNPRODUCED, stream_defects
from .verdict import Status, Verdict, capped, inconclusive
from .weight_periods import weight_changes

NAME = "cutover"


def first_content_ms(c: ClientRecord) -> float:
    """Intended send to first content (a stream) or to the whole reply: what the client waited for."""
    end = c.ttft_mono if c.stream and c.ttft_mono is not None else c.end_mono
    return (end - c.intended_mono) * 1000


def failed(c: ClientRecord) -> bool:
    return not (200 <= c.status < 300) or c.error_class is not None


def stream_at_flip(c: ClientRecord, attempts: list[JournalEntry], rules: dict[tuple[str, str], Any]
                   ) -> tuple[str, list[str]]:
    """('completed' | 'failed_cleanly' | 'corrupted', defects) for a client stream in flight at a flip."""
    served = [a for a in attempts if a.status == 200]
    clean = c.finished_cleanly and not c.error_class
    if not served:
        return ("corrupted", [UNPRODUCED]) if clean else ("failed_cleanly", [])
    entry = served[-1]
    expected = entry.reply.first if entry.reply is not None else None
    defects = [d for d in stream_defects(c, expected, upstream_broken(entry, rules)) if d != ERROR_AT_CLIENT]
    if defects:
        return "corrupted", defects
    return ("completed" if clean else "failed_cleanly"), []


def _errors(gap: list[ClientRecord], rest: list[ClientRecord], params: CutoverParams) -> dict[str, Any]:
    from scipy.stats import fisher_exact

    g, r = sum(1 for c in gap if failed(c)), sum(1 for c in rest if failed(c))
    out: dict[str, Any] = {"gap_requests": len(gap), "gap_errors": g, "rest_requests": len(rest), "rest_errors": r}
    if min(len(gap), len(rest)) < params.min_requests:
        out["result"] = "inconclusive"
        return out
    rate_g, rate_r = g / len(gap), r / len(rest)
    p = float(fisher_exact([[g, len(gap) - g], [r, len(rest) - r]], alternative="greater").pvalue)
    out |= {"gap_error_rate": round(rate_g, 5), "rest_error_rate": round(rate_r, 5), "p_value": p}
    out["result"] = "fail" if p < params.alpha and rate_g - rate_r > params.max_error_increase else "pass"
    return out


def _latency(gap: list[ClientRecord], rest: list[ClientRecord], params: CutoverParams) -> dict[str, Any]:
    """Streams (time to first content) and whole replies compared apart: mixed, their two modes would make the
    medians jump with the mix. Each series judged at alpha / 2; a series short of `min_requests` on a side is not."""
    series = {name: _latency_series([first_content_ms(c) for c in gap if not failed(c) and c.stream is streams],
                                    [first_content_ms(c) for c in rest if not failed(c) and c.stream is streams],
                                    params)
              for name, streams in (("stream_ttft", True), ("reply", False))}
    results = {s["result"] for s in series.values() if s["result"] != "too few"}
    result = "fail" if "fail" in results else "pass" if "pass" in results else \
        "not judged" if "not judged" in results else "inconclusive"
    return {"result": result, **series}


def _latency_series(g: list[float], r: list[float], params: CutoverParams) -> dict[str, Any]:
    import numpy as np

    from .arm_statistics import rank_test

    out: dict[str, Any] = {"gap_ok": len(g), "rest_ok": len(r)}
    if min(len(g), len(r)) < params.min_requests:
        out["result"] = "too few"
        return out
    test = rank_test(g, r)
    out |= {"gap_p50_ms": round(float(np.percentile(g, 50)), 3), "gap_p99_ms": round(float(np.percentile(g, 99)), 3),
            "rest_p50_ms": round(float(np.percentile(r, 50)), 3),
            "rest_p99_ms": round(float(np.percentile(r, 99)), 3),
            "p_value": test["p_value"], "rank_biserial": round(test["rank_biserial"], 4)}
    limit = params.max_latency_effect
    out["result"] = "not judged" if limit is None else (
        "fail" if test["p_value"] < params.alpha / 2 and test["rank_biserial"] > limit else "pass")
    return out


def _sessions_across(record: RunRecord, clients: list[ClientRecord], attempts: dict[str, list[JournalEntry]],
                     flips: list[float]) -> tuple[int, list[dict[str, Any]]]:
    """(sessions judged, broken ones): per flip, the first turn a session sent after it, given one before it."""
    sessions: dict[str, list[ClientRecord]] = {}
    for c in clients:
        sessions.setdefault(c.session_id, []).append(c)
    judged, broken = 0, []
    for sid in sorted(sessions):
        turns = sorted(sessions[sid], key=lambda c: c.intended_s)
        for flip in flips:
            before = [c for c in turns if c.intended_s < flip]
            after = next((c for c in turns if c.intended_s >= flip), None)
            if not before or after is None or after.turn <= 1:
                continue
            served = [a for a in attempts.get(after.correlation_id, []) if a.status == 200]
            if not served:
                continue  # the turn failed: judged with the errors, it carries no history to compare
            judged += 1
            entry = served[-1]
            got = got_digest(entry, received_atoms(record, entry))
            if not after.sent_digest or got != after.sent_digest:
                broken.append({"session_id": sid, "turn": after.turn, "correlation_id": after.correlation_id,
                               "upstream": entry.upstream, "previous_upstream": before[-1].upstream,
                               "expected_digest": after.sent_digest, "got_digest": got})
    return judged, broken


@check(NAME)
def cutover(record: RunRecord, params: CutoverParams) -> Verdict:
    """A weight flip costs no client errors or latency, corrupts no stream in flight and breaks no session."""
    t0 = record.load_start()
    changes = weight_changes(record)
    flips = [ev.applied_at(t0) for ev in changes]
    spans = [(t0 + ev.sent_s if ev.sent_s is not None else f, f) for ev, f in zip(changes, flips, strict=True)]
    if not flips:
        return inconclusive(NAME, "no weight change was applied: there is no cutover to judge")
    clients = record.load_clients()
    if not clients:
        return inconclusive(NAME, "no client requests in the record")
    faults = fault_windows(record)
    attempts = load_attempts(record)

    def in_span(t: float, sent: float, applied: float) -> bool:
        return min(sent, applied) - params.before_s <= t < applied + params.after_s

    judged = [c for c in clients if not any(w.contains(c.intended_s) for w in faults)]
    gap = [c for c in judged if any(in_span(c.intended_s, *sp) for sp in spans)]
    rest = [c for c in judged if not any(in_span(c.intended_s, *sp) for sp in spans)]
    closed = [c for c in gap if failed(c) and lost_to_keepalive_close(c, attempts.get(c.correlation_id, []))]
    closed_ids = {c.correlation_id for c in closed}
    errors = _errors([c for c in gap if c.correlation_id not in closed_ids], rest, params)
    latency = _latency(gap, rest, params)

    rules = fault_rules(record)
    streams = {"completed": 0, "failed_cleanly": 0, "corrupted": 0}
    evidence: list[dict[str, Any]] = []
    crossing = [(c, f) for c in clients if c.stream for f in flips if (c.sent_s or c.intended_s) < f < c.end_s]
    for c, f in crossing:
        kind, defects = stream_at_flip(c, attempts.get(c.correlation_id, []), rules)
        streams[kind] += 1
        if kind == "corrupted":
            evidence.append({"what": "stream corrupted at a flip", "correlation_id": c.correlation_id,
                             "flip_at_s": round(f - t0, 3), "defects": defects, "client_upstream": c.upstream,
                             "attempts": [a.upstream for a in attempts.get(c.correlation_id, [])]})
    sessions_judged, broken = _sessions_across(record, clients, attempts, flips)
    evidence += [{"what": "session history broken across a flip", **b} for b in broken]

    per_flip = []
    for ev, f, sp in zip(changes, flips, spans, strict=True):
        mine = [c for c in gap if in_span(c.intended_s, *sp)]
        ttft = [first_content_ms(c) for c in mine if not failed(c) and c.stream]
        per_flip.append({"at_s": round(f - t0, 3), "weights": getattr(ev.spec, "weights", {}),
                         "sent_s": round(sp[0] - t0, 3), "requests": len(mine),
                         "errors": sum(1 for c in mine if failed(c)),
                         "keepalive_closed": sum(1 for c in mine if c.correlation_id in closed_ids),
                         "stream_ttft_p50_ms": round(statistics.median(ttft), 3) if ttft else None})
    figures: dict[str, Any] = {
        "flips": per_flip, "gap_requests": errors["gap_requests"], "gap_errors": errors["gap_errors"],
        "rest_requests": errors["rest_requests"], "rest_errors": errors["rest_errors"], "errors": errors,
        "keepalive_closed": len(closed), "keepalive_closed_share": round(len(closed) / len(gap), 5) if gap else 0.0,
        "latency": latency, "streams_in_flight": len(crossing), "streams_completed": streams["completed"],
        "streams_failed_cleanly": streams["failed_cleanly"], "streams_corrupted": streams["corrupted"],
        "sessions_across": sessions_judged, "sessions_broken": len(broken)}
    thresholds = {"alpha": params.alpha, "max_error_increase": params.max_error_increase,
                  "max_latency_effect": params.max_latency_effect, "gap_s": [params.before_s, params.after_s],
                  "max_keepalive_closed": params.max_keepalive_closed,
                  "min_requests": params.min_requests}

    problems: list[str] = []
    if gap and len(closed) / len(gap) > params.max_keepalive_closed:
        problems.append(f"{len(closed)}/{len(gap)} requests around the flips were sent on kept-alive connections "
                        f"the gateway closed at its reload and never forwarded (more than "
                        f"{params.max_keepalive_closed:.0%})")
        evidence.append({"what": "requests lost to the keep-alive race of the reload",
                         "correlation_ids": [c.correlation_id for c in closed[:5]],
                         "errors": sorted({c.error or "" for c in closed})[:3]})
    if errors["result"] == "fail":
        problems.append(f"client error rate {errors['gap_error_rate']:.2%} around the flips against "
                        f"{errors['rest_error_rate']:.2%} elsewhere (p={errors['p_value']:.2g})")
        evidence.insert(0, {"what": "errors around the flips", **{k: v for k, v in errors.items() if k != "result"}})
    for name, series in latency.items():
        if isinstance(series, dict) and series["result"] == "fail":
            problems.append(f"{name} slower around the flips: p50 {series['gap_p50_ms']:.1f} ms against "
                            f"{series['rest_p50_ms']:.1f} ms elsewhere, rank-biserial {series['rank_biserial']:.2f} "
                            f"> {params.max_latency_effect} (p={series['p_value']:.2g})")
            evidence.insert(0, {"what": f"{name} latency around the flips",
                                **{k: v for k, v in series.items() if k != "result"}})
    if streams["corrupted"]:
        problems.append(f"{streams['corrupted']}/{len(crossing)} streams in flight at a flip were corrupted")
    if broken:
        problems.append(f"{len(broken)}/{sessions_judged} sessions lost their history across a flip")
    n = len(judged)
    if problems:
        return Verdict(NAME, Status.FAIL, "; ".join(problems), figures, thresholds, n, capped(evidence))

    short: list[str] = []
    if errors["result"] == "inconclusive":
        short.append(f"{errors['gap_requests']} requests around the flips and {errors['rest_requests']} elsewhere "
                     f"({params.min_requests} needed on each side)")
    elif latency["result"] == "inconclusive":
        counts = ", ".join(f"{name} {s['gap_ok']} and {s['rest_ok']}" for name, s in latency.items()
                           if isinstance(s, dict))
        short.append(f"too few successful requests around the flips and elsewhere to compare latency ({counts}; "
                     f"{params.min_requests} needed on each side of a series)")
    if any(c.stream for c in clients) and len(crossing) < params.min_streams:
        short.append(f"{len(crossing)} streams in flight at a flip ({params.min_streams} needed)")
    if any(c.turn > 1 for c in clients) and sessions_judged < params.min_sessions:
        short.append(f"{sessions_judged} sessions with turns on both sides of a flip ({params.min_sessions} needed)")
    if short:
        v = inconclusive(NAME, "too little to judge the cutover: " + "; ".join(short), n, **figures)
        v.thresholds = thresholds
        return v
    lat = "".join(f"; {name} p50 {s['gap_p50_ms']:.1f} ms around them against {s['rest_p50_ms']:.1f} ms elsewhere"
                  for name, s in latency.items() if isinstance(s, dict) and s["result"] == "pass")
    summary = (f"{len(flips)} flips: {errors['gap_errors']}/{errors['gap_requests']} client errors around them "
               f"against {errors['rest_errors']}/{errors['rest_requests']} elsewhere{lat}; {len(crossing)} streams in "
               f"flight ({streams['completed']} completed, {streams['failed_cleanly']} failed cleanly); "
               f"{sessions_judged} sessions kept their history across a flip")
    if closed:
        one = len(closed) == 1
        summary += (f"; {len(closed)} more request{'' if one else 's'} around the flips {'was' if one else 'were'} "
                    f"sent on {'a kept-alive connection' if one else 'kept-alive connections'} the gateway closed at "
                    f"its reload, never forwarded (the keep-alive race; at most {params.max_keepalive_closed:.0%} "
                    "tolerated)")
    return Verdict(NAME, Status.PASS, summary, figures, thresholds, n)
