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
    reached_over: list[dict[str, Any]] = []
    wrong_landing: list[dict[str, Any]] = []
    bad_status: list[dict[str, Any]] = []
    truncated: list[dict[str, Any]] = []
    altered: list[dict[str, Any]] = []
    sends_system = bool(record.scenario.load.mix.system_prompt)
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
                shorter = bool(c.prompt_tokens) and (serving.tokens_in or 0) < c.prompt_tokens
                cut = shorter and not (sends_system and not has_system_prompt(serving.body))
                (truncated if cut else altered).append({
                    "correlation_id": cid, "upstream": serving.upstream, "need": need,
                    "tokens_in_received": serving.tokens_in, "tokens_sent": c.prompt_tokens,
                    "sent_digest": c.sent_digest, "received_digest": got})
    figures: dict[str, Any] = {"over_window_requests": judged, "reached_a_model_too_small": len(reached_over),
               "landed_wrong": len(wrong_landing), "bad_status": len(bad_status), "truncated": len(truncated),
               "altered": len(altered), "primary_window": primary_window}
    failures = reached_over + wrong_landing + bad_status + truncated + altered
    if failures:
        parts = []
        if reached_over:
            parts.append(f"{len(reached_over)} over-window prompt(s) reached a model with a declared fallback")
        if wrong_landing:
            parts.append(f"{len(wrong_landing)} did not land on a model whose window fits")
        if bad_status:
            parts.append(f"{len(bad_status)} got no clear 400 without a fallback")
        if truncated:
            parts.append(f"{len(truncated)} were silently truncated (fewer prompt tokens arrived than were sent)")
        if altered:
            parts.append(f"{len(altered)} arrived with an altered history (a dropped system prompt or a rewritten "
                         "message, not a cut to fit)")
        return Verdict(NAME, Status.FAIL, "; ".join(parts), figures=figures, thresholds={"violations": 0},
                       sample_size=judged, evidence=capped(failures))
    if judged == 0:
        v = inconclusive(NAME, f"no prompt exceeded the first target's window ({primary_window} tokens)")
        v.figures = figures
        return v
    return Verdict(NAME, Status.PASS, f"{judged} over-window prompts all handled: none reached a model too small, "
                   "none truncated", figures=figures, thresholds={"violations": 0}, sample_size=judged)


def has_system_prompt(body: Any) -> bool:
    """Does a request body as an upstream received it carry a system prompt (OpenAI's system/developer message,
    Anthropic's or Bedrock's `system`, Gemini's `systemInstruction`)?"""
    if not isinstance(body, dict):
        return False
    if body.get("system") or body.get("systemInstruction") or body.get("system_instruction"):
        return True
    return any(isinstance(m, dict) and m.get("role") in ("system", "developer") for m in body.get("messages") or [])
