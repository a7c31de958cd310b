"""streaming_integrity: does every clean client stream carry exactly what the upstream produced, and does every
stream the upstream broke reach the client as an error?

The serving attempt of a client request is its last journal entry with status 200 (across upstreams). The upstream
stream was *broken* when that entry's outcome is a reset, an early close or a hang, or when a stream-breaking fault
(stream_error, truncate, reset_mid_stream, malformed) fired on it; otherwise it was *whole*. Rules, per client
stream (warm-up excluded):

- whole upstream stream, clean client stream: the client's reassembled text equals the fake's text exactly;
- whole upstream stream, client stream not clean: the gateway broke a good stream (a lost tail, for instance);
- broken upstream stream, client stream clean: a failure passed off as a complete reply;
- a clean client stream with no 200 attempt behind it: a reply the upstreams never produced.

A client stream is clean when it `finished_cleanly` (a finish reason and the `[DONE]` terminator) and carries no
`error_class`. Streams whose serving attempt ended with the client gone (`client_closed`) are not judged.
"""

from __future__ import annotations

from typing import Any

from gatedrill.fakes.faults import Fault

from ..check_params import StreamingIntegrityParams
from ..record import ClientRecord, JournalEntry, RunRecord
from ..scenario import SetFaults
from .registry import check
from .served import load_attempts
from .verdict import Status, Verdict, capped, inconclusive

NAME = "streaming_integrity"
BREAKING_KINDS = frozenset({"stream_error", "truncate", "reset_mid_stream", "malformed"})
BROKEN_OUTCOMES = frozenset({"reset", "closed_early", "hang_timeout"})
UNJUDGED_OUTCOMES = frozenset({"client_closed", "open_at_shutdown"})



def fault_rules(record: RunRecord) -> dict[tuple[str, str], Fault]:
    """(upstream, fault name) -> the fault spec (kind, after_chunks, ...), from the scenario and the timeline."""
    out: dict[tuple[str, str], Fault] = {}
    for up, spec in record.scenario.upstreams.items():
        for rule in spec.faults:
            if rule.name:
                out[(up, rule.name)] = rule.fault
    for ev in record.timeline:
        if isinstance(ev.spec, SetFaults):
            for rule in ev.spec.faults:
                if rule.name:
                    out[(str(ev.upstream), rule.name)] = rule.fault
    return out


def first_difference(expected: str, got: str) -> int | None:
    """The first position where two texts differ (the shorter one's length if one is a prefix); None if equal."""
    if expected == got:
        return None
    for i, (a, b) in enumerate(zip(expected, got, strict=False)):
        if a != b:
            return i
    return min(len(expected), len(got))


def _reply_text(entry: JournalEntry) -> tuple[str | None, int | None]:
    first = entry.reply.first if entry.reply is not None else None
    return (None, None) if first is None else (first.text, first.chunks)


def upstream_broken(entry: JournalEntry, rules: dict[tuple[str, str], Fault]) -> bool:
    """Did the upstream break this stream mid-way (reset, early close, or a stream-breaking fault that fired)?"""
    if entry.outcome in BROKEN_OUTCOMES:
        return True
    fault = entry.fault
    if not fault:
        return False
    spec = rules.get((entry.upstream, fault))
    kind = spec.kind if spec is not None else fault  # a fault without a named rule is journalled by its kind
    if kind not in BREAKING_KINDS:
        return False
    after, (_, chunks) = getattr(spec, "after_chunks", None), _reply_text(entry)
    # A fault set to strike after more chunks than the reply had never fired: the stream went out whole.
    return not (isinstance(after, int) and isinstance(chunks, int) and chunks <= after)


def _clean(client: ClientRecord) -> bool:
    return client.finished_cleanly and not client.error_class


@check(NAME)
def streaming_integrity(record: RunRecord, params: StreamingIntegrityParams) -> Verdict:
    """Clean client streams equal the fake's stream exactly; upstream mid-stream failures reach clients as errors."""
    streams = [c for c in record.load_clients() if c.stream]
    if not streams:
        return inconclusive(NAME, "no streaming client requests in the record")
    attempts = load_attempts(record)
    rules = fault_rules(record)
    counts = {"whole_ok": 0, "whole_mangled": 0, "whole_broken_at_client": 0, "broken_reported": 0,
              "broken_passed_clean": 0, "clean_without_upstream": 0, "unjudged": 0, "no_upstream_stream": 0}
    evidence: list[dict[str, Any]] = []
    for c in sorted(streams, key=lambda c: (c.sent_s or 0.0, c.correlation_id)):
        cid = c.correlation_id
        served = [a for a in attempts.get(cid, []) if a.status == 200]
        if not served:
            if _clean(c):
                counts["clean_without_upstream"] += 1
                evidence.append({"correlation_id": cid, "what": "clean stream with no 200 upstream attempt",
                                 "got_len": len(c.text or "")})
            else:
                counts["no_upstream_stream"] += 1
            continue
        entry = served[-1]
        if entry.outcome in UNJUDGED_OUTCOMES:
            counts["unjudged"] += 1
            continue
        expected, _ = _reply_text(entry)
        got = c.text or ""
        row = {"correlation_id": cid, "upstream": entry.upstream, "upstream_outcome": entry.outcome,
               "fault": entry.fault, "expected_len": None if expected is None else len(expected),
               "got_len": len(got), "first_difference": None if expected is None else first_difference(expected,
                                                                                                      got),
               "client_error_class": c.error_class, "finish_reason": c.finish_reason}
        if upstream_broken(entry, rules):
            if _clean(c):
                counts["broken_passed_clean"] += 1
                evidence.append({**row, "what": "upstream broke mid-stream, client got a clean reply"})
            else:
                counts["broken_reported"] += 1
        elif not _clean(c):
            counts["whole_broken_at_client"] += 1
            evidence.append({**row, "what": "whole upstream stream reached the client broken"})
        elif expected is None or got != expected:
            counts["whole_mangled"] += 1
            evidence.append({**row, "what": "clean client stream differs from the upstream's"})
        else:
            counts["whole_ok"] += 1

    judged = sum(v for k, v in counts.items() if k not in ("unjudged", "no_upstream_stream"))
    if judged < params.min_streams:
        return inconclusive(NAME, f"only {judged} client streams with an upstream stream (need {params.min_streams})",
                            sample_size=judged, **counts)
    bad = counts["whole_mangled"] + counts["whole_broken_at_client"] + counts["broken_passed_clean"] + counts[
        "clean_without_upstream"]
    whole = counts["whole_ok"] + counts["whole_mangled"] + counts["whole_broken_at_client"]
    figures = {**counts, "streams": len(streams), "judged": judged, "failures": bad,
               "failure_rate": round(bad / judged, 5), "exact_rate_whole": round(counts["whole_ok"] / whole, 5)
               if whole else None}
    thresholds = {"max_failures": 0, "min_streams": params.min_streams}
    if bad:
        parts = [f"{counts[k]} {k.replace('_', ' ')}" for k in
                 ("whole_mangled", "whole_broken_at_client", "broken_passed_clean", "clean_without_upstream")
                 if counts[k]]
        summary = f"{bad}/{judged} streams failed integrity: " + ", ".join(parts)
        return Verdict(NAME, Status.FAIL, summary, figures, thresholds, judged, capped(evidence))
    summary = (f"{counts['whole_ok']} whole streams reassembled exactly; {counts['broken_reported']} upstream "
               f"mid-stream failures reached clients as errors")
    return Verdict(NAME, Status.PASS, summary, figures, thresholds, judged, [])
