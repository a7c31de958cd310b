"""The suite's own checks, in Schemathesis' shape: plain functions of (ctx, response, case) that raise
AssertionError with a readable explanation. Schemathesis reports them next to its built-in checks.

- `openai_error_envelope`: every 4xx/5xx body is OpenAI's `{"error": {message, type, param, code}}`, whatever the
  upstream's dialect was (clients' SDKs parse only that).
- `sse_stream_conformance`: every chunk of a stream is a schema-valid `chat.completion.chunk`, each choice gets a
  finish_reason, `[DONE]` comes last, or an error line ends the stream and nothing follows it.
- `stream_reassembly` (needs the fakes' journals): a clean stream's chunks join to exactly the text the upstream
  produced for that request, found in the journal by correlation id.
- `one_upstream_call_per_request` (needs the journals): with no fault anywhere, a successful request reached
  exactly one upstream once (no duplicates, no hidden retries).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from ..validate import ContractViolation, StreamSummary, check_response, check_schema, media

if TYPE_CHECKING:
    from schemathesis import Case, CheckContext, Response

    from .target import SuiteTarget

CORRELATION_HEADER = "x-gatedrill-correlation-id"
ERROR_ENVELOPE = "#/components/schemas/ErrorEnvelope"
CheckFn = Any  # schemathesis.CheckFunction


def _content_type(response: Response) -> str | None:
    values = response.headers.get("content-type") or response.headers.get("Content-Type")
    return values[0] if values else None


def openai_error_envelope(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    if response.status_code < 400:
        return None
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise AssertionError(f"{response.status_code} body is not JSON, so OpenAI SDKs cannot read the error: "
                             f"{response.content[:200]!r}") from None
    try:
        check_schema("gateway", ERROR_ENVELOPE, body, f"{response.status_code} error body")
    except ContractViolation as exc:
        raise AssertionError(str(exc)) from None
    return True


def stream_summary(response: Response, case: Case) -> StreamSummary | None:
    """The validated summary of an SSE response, None for other responses; AssertionError on a violation."""
    if response.status_code != 200 or media(_content_type(response)) != "text/event-stream":
        return None
    try:
        out = check_response("gateway", case.method, case.operation.path, 200, _content_type(response),
                             response.content)
    except ContractViolation as exc:
        raise AssertionError(str(exc)) from None
    assert isinstance(out, StreamSummary)
    return out


def sse_stream_conformance(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    return None if stream_summary(response, case) is None else True


def stream_reassembly(target: SuiteTarget) -> CheckFn:
    """A check bound to the target's fakes: compares a clean stream's text with the journal's reply."""

    def stream_reassembly(ctx: CheckContext, response: Response, case: Case) -> bool | None:
        try:
            summary = stream_summary(response, case)
        except AssertionError:
            return None  # a broken stream is sse_stream_conformance's finding
        if summary is None or not summary.done or not target.fakes:
            return None
        cid = _correlation_id(response)
        if not cid:
            return None
        served = [e for e in target.journal(cid) if e.get("status") == 200 and e.get("reply")]
        if not served:
            raise AssertionError(f"the client got a clean stream, but no upstream journaled a 200 for "
                                 f"correlation id {cid}")
        choices = served[-1]["reply"]["choices"]
        for idx, choice in enumerate(choices):
            got, want = summary.text.get(idx, ""), choice.get("text") or ""
            if choice.get("tool_calls"):
                continue  # tool-call arguments travel in their own deltas; text is compared only for text replies
            if got != want:
                cut = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b),
                           min(len(got), len(want)))
                raise AssertionError(
                    f"choice {idx}: the stream reassembles to {len(got)} characters but upstream "
                    f"{served[-1]['fake']} produced {len(want)}; first difference at character {cut}: "
                    f"client {got[cut:cut + 40]!r} vs upstream {want[cut:cut + 40]!r}")
        return True

    return stream_reassembly


def _correlation_id(response: Response) -> str | None:
    raw = response.request.headers.get(CORRELATION_HEADER)
    return raw.decode() if isinstance(raw, bytes) else raw


def one_upstream_call_per_request(target: SuiteTarget) -> CheckFn:
    """A check bound to the target's fakes: a 200 with no fault injected was one upstream call."""

    def one_upstream_call_per_request(ctx: CheckContext, response: Response, case: Case) -> bool | None:
        cid = _correlation_id(response)
        if response.status_code != 200 or case.method.upper() != "POST" or not target.fakes or not cid:
            return None  # GETs (models) are the gateway's own to answer
        calls = target.journal(cid)
        if len(calls) != 1:
            seen = ", ".join(f"{e['fake']} {e.get('status')}" for e in calls) or "none"
            raise AssertionError(f"one client request, no faults: expected exactly one upstream call, the fakes "
                                 f"journaled {len(calls)} ({seen})")
        return True

    return one_upstream_call_per_request
