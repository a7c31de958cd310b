"""streaming_integrity: does every client stream carry exactly what the upstream produced, and does every stream the
upstream broke reach the client as an error?

The serving attempt of a client request is its last journal entry with status 200 (across upstreams). The upstream
stream was *broken* when that entry's outcome is a reset, an early close, a hang or the provider's error event, or
when a stream-breaking fault (stream_error, error_only_stream, truncate, reset_mid_stream, close_mid_stream,
malformed) fired on it; otherwise it was *whole*. Every client stream with
a serving attempt is compared with it, complete or not, and each defect is counted on its own (stream_defects.py): a
stream with no finish_reason *and* a repeated chunk counts under both. A whole upstream stream must arrive with its
finish reason (in OpenAI's words), `[DONE]`, its text piece for piece and its tool calls; a broken one must reach the
client as an error, and whatever text got through must be a faithful prefix. A clean client stream with no 200
attempt behind it is a reply the upstreams never produced. Streams whose serving attempt ended with the client gone
(`client_closed`) are not judged; warm-up is excluded.
"""

from __future__ import annotations

from typing import Any

from gatedrill.fakes.faults import Fault

from ..check_params import StreamingIntegrityParams
from ..record import JournalEntry, RunRecord
from ..scenario import SetFaults
from .registry import check
from .served import load_attempts
from .stream_defects import DEFECTS, UNPRODUCED, stream_defects
from .verdict import Status, Verdict, capped, inconclusive

NAME = "streaming_integrity"
BREAKING_KINDS = frozenset({"stream_error", "error_only_stream", "truncate", "reset_mid_stream", "close_mid_stream",
                            "malformed"})
# error_event: a 200 stream the upstream ended with its provider's error event (fakes.fake.ERROR_EVENT)
BROKEN_OUTCOMES = frozenset({"reset", "closed_early", "hang_timeout", "error_event"})
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
    first = entry.reply.first if entry.reply is not None else None
    after, chunks = getattr(spec, "after_chunks", None), None if first is None else first.chunks
    # A fault set to strike after more chunks than the reply had never fired: the stream went out whole.
    return not (isinstance(after, int) and isinstance(chunks, int) and chunks <= after)


@check(NAME)
def streaming_integrity(record: RunRecord, params: StreamingIntegrityParams) -> Verdict:
    """Clean client streams equal the fake's stream exactly; upstream mid-stream failures reach clients as errors."""
    streams = [c for c in record.load_clients() if c.stream]
    if not streams:
        return inconclusive(NAME, "no streaming client requests in the record")
    attempts = load_attempts(record)
    rules = fault_rules(record)
    counts = {"whole_ok": 0, "broken_reported": 0, "unjudged": 0, "no_upstream_stream": 0} | dict.fromkeys(DEFECTS, 0)
    failed = 0
    evidence: list[dict[str, Any]] = []
    for c in sorted(streams, key=lambda c: (c.sent_s or 0.0, c.correlation_id)):
        cid = c.correlation_id
        served = [a for a in attempts.get(cid, []) if a.status == 200]
        if not served:
            if c.finished_cleanly and not c.error_class:
                counts[UNPRODUCED] += 1
                failed += 1
                evidence.append({"correlation_id": cid, "defects": [UNPRODUCED], "got_len": len(c.text or "")})
            else:
                counts["no_upstream_stream"] += 1
            continue
        entry = served[-1]
        if entry.outcome in UNJUDGED_OUTCOMES:
            counts["unjudged"] += 1
            continue
        expected = entry.reply.first if entry.reply is not None else None
        broken = upstream_broken(entry, rules)
        defects = stream_defects(c, expected, broken)
        if not defects:
            counts["broken_reported" if broken else "whole_ok"] += 1
            continue
        failed += 1
        for d in defects:
            counts[d] += 1
        want = None if expected is None else expected.text
        evidence.append({"correlation_id": cid, "defects": defects, "upstream": entry.upstream,
                         "upstream_outcome": entry.outcome, "fault": entry.fault,
                         "expected_len": None if want is None else len(want), "got_len": len(c.text or ""),
                         "first_difference": None if want is None else first_difference(want, c.text or ""),
                         "client_error_class": c.error_class, "finish_reason": c.finish_reason})

    judged = counts["whole_ok"] + counts["broken_reported"] + failed
    if judged < params.min_streams:
        return inconclusive(NAME, f"only {judged} client streams with an upstream stream (need {params.min_streams})",
                            sample_size=judged, **counts)
    figures = {**counts, "streams": len(streams), "judged": judged, "failures": failed,
               "failure_rate": round(failed / judged, 5)}
    thresholds = {"max_failures": 0, "min_streams": params.min_streams}
    if failed:
        parts = [f"{counts[d]} {d.replace('_', ' ')}" for d in DEFECTS if counts[d]]
        summary = f"{failed}/{judged} streams failed integrity: " + ", ".join(parts)
        return Verdict(NAME, Status.FAIL, summary, figures, thresholds, judged, capped(evidence))
    summary = (f"{counts['whole_ok']} whole streams reassembled exactly; {counts['broken_reported']} upstream "
               f"mid-stream failures reached clients as errors")
    return Verdict(NAME, Status.PASS, summary, figures, thresholds, judged, [])
