"""context_window: a prompt over a model's window never reaches that model when a fallback is declared, lands on a
model whose window fits, and is never silently truncated; without a fallback the client gets a clear 400.

Ground truth is the fakes' journals: each entry carries the prompt tokens the fake counted (`tokens_in`) and the
body, hence `max_tokens`; the window is the scenario's model spec for that upstream. Truncation shows as a serving
attempt whose conversation digest differs from the one the client sent (`sent_digest`), on a prompt that did not
fit the first target.
"""

from __future__ import annotations

from typing import Any

from ..check_params import ContextWindowParams
from ..record import WARM_UP, JournalEntry, RunRecord
from .registry import check
from .served import load_attempts, serving_attempt
from .verdict import Status, Verdict, capped, inconclusive

NAME = "context_window"



def _need(entry: JournalEntry) -> int:
    # the request body is the wire's own JSON: read at that boundary
    body: dict[str, Any] = entry.body if isinstance(entry.body, dict) else {}
    out = body.get("max_completion_tokens") or body.get("max_tokens") or body.get("max_output_tokens") or 0
    return (entry.tokens_in or 0) + (int(out) if isinstance(out, int) else 0)


def _window(record: RunRecord, upstream: str, model: str | None) -> int | None:
    cfg = record.scenario.upstreams.get(upstream)
    spec = cfg.model(model) if cfg is not None and model else None
    return None if spec is None else spec.context_window


@check(NAME)
def context_window(record: RunRecord, params: ContextWindowParams) -> Verdict:
    """Over-window prompts never reach a model they do not fit when a fallback exists; no silent truncation."""
    routing = record.scenario.gateway.routing
    fallbacks = routing.context_window_fallbacks
    allow_truncation = routing.allow_truncation if params.allow_truncation is None else params.allow_truncation
    primary = routing.targets[0]
    primary_window = _window(record, primary.upstream, primary.model)
    attempts = load_attempts(record)
    reached_over, wrong_landing, bad_status, truncated = [], [], [], []
    judged = 0
    for e in record.entries():
        if e.correlation_id in (None, WARM_UP) or e.status != 200:
            continue
        window = _window(record, e.upstream, e.model)
        if window is not None and _need(e) > window and e.upstream in fallbacks:
            reached_over.append({"correlation_id": e.correlation_id, "upstream": e.upstream, "need": _need(e),
                                 "window": window, "arrival_wall": e.arrival_wall})
    for c in record.load_clients():
        need = c.prompt_tokens + (c.max_tokens or 0)
        if primary_window is None or need <= primary_window:
            continue
        judged += 1
        cid = c.correlation_id
        status = c.status
        serving = serving_attempt(c, attempts.get(cid, []))
        if primary.upstream in fallbacks:
            if not 200 <= status < 300 or serving is None:
                wrong_landing.append({"correlation_id": cid, "need": need, "client_status": status,
                                      "error": c.error_class})
                continue
            window = _window(record, serving.upstream, serving.model)
            if window is not None and _need(serving) > window:
                wrong_landing.append({"correlation_id": cid, "need": need, "landed_on": serving.upstream,
                                      "window": window})
        elif status >= 500 or (status != 400 and not allow_truncation):
            bad_status.append({"correlation_id": cid, "need": need, "client_status": status,
                               "expected": "400 (context_length_exceeded) without a fallback"})
        if serving is not None and not allow_truncation:
            got = serving.reply.digest if serving.reply else None
            if c.sent_digest and got and got != c.sent_digest:
                truncated.append({"correlation_id": cid, "upstream": serving.upstream, "need": need,
                                  "tokens_in_received": serving.tokens_in, "sent_digest": c.sent_digest,
                                  "received_digest": got})
    figures: dict[str, Any] = {"over_window_requests": judged, "reached_a_model_too_small": len(reached_over),
               "landed_wrong": len(wrong_landing), "bad_status": len(bad_status), "truncated": len(truncated),
               "primary_window": primary_window}
    failures = reached_over + wrong_landing + bad_status + truncated
    if failures:
        parts = []
        if reached_over:
            parts.append(f"{len(reached_over)} over-window prompt(s) reached a model with a declared fallback")
        if wrong_landing:
            parts.append(f"{len(wrong_landing)} did not land on a model whose window fits")
        if bad_status:
            parts.append(f"{len(bad_status)} got no clear 400 without a fallback")
        if truncated:
            parts.append(f"{len(truncated)} were silently truncated")
        return Verdict(NAME, Status.FAIL, "; ".join(parts), figures=figures, thresholds={"violations": 0},
                       sample_size=judged, evidence=capped(failures))
    if judged == 0:
        v = inconclusive(NAME, f"no prompt exceeded the first target's window ({primary_window} tokens)")
        v.figures = figures
        return v
    return Verdict(NAME, Status.PASS, f"{judged} over-window prompts all handled: none reached a model too small, "
                   "none truncated", figures=figures, thresholds={"violations": 0}, sample_size=judged)
