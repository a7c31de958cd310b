"""The adapter contract, one property per function: each takes a target and one unified request, sends it,
and raises `Violation` with a readable explanation when the adapter breaks the contract.

Ground truth is the fake: its journal holds the exact upstream request and the reply it gave (content,
finish reason, token counts), so a translation is judged against what really happened, not against a model.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import reject
from hypothesis import strategies as st

from gatedrill.fakes import Entry, anthropic_atoms, openai_atoms
from gatedrill.fakes.conversation import canonical_args
from gatedrill.fakes.journal import reply_dict

from .. import strategies as cs
from .outcome import Outcome
from .rules import request_problems
from .target import Target

# The fakes' neutral finish reasons, as a unified reply must name them.
UNIFIED_FINISH = {"stop": "stop", "stop_sequence": "stop", "length": "length", "tool_calls": "tool_calls"}
OVERLOADED_STATUS = {"anthropic": 529, "openai": 503}


class Violation(AssertionError):
    """The adapter broke the contract; the message says how. `problems` are its separate findings, so the kit can
    set a known one aside and look for the next."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


@dataclass(frozen=True)
class Property:
    name: str
    summary: str
    strategy: Callable[[Target], st.SearchStrategy[Any]]
    check: Callable[[Target, Any], None]
    max_examples: int = 25


# -- helpers ------------------------------------------------------------------------------------------------


_ABOVE_ONE = st.floats(1, 2, exclude_min=True, allow_nan=False)
_MAX_TOKENS = st.integers(1, 1024)
_STOP = st.text("ENDSTOP#", min_size=1, max_size=4)


@st.composite
def unified_requests(draw: st.DrawFn, model: str, stream: bool = False) -> dict[str, Any]:
    """What clients send a gateway: a portable request, sometimes with what only the OpenAI shape has (a
    temperature above 1, a system message mid-conversation, an empty user message, `stop` as a string,
    `parallel_tool_calls`).
    Each extra is drawn on or off, so counter-examples shrink to the extras that matter."""
    body = draw(cs.openai_chat_requests(model=model, tools=None, max_turns=3, portable=True, long=False,
                                        stream=stream))
    if draw(st.booleans()):
        body["temperature"] = draw(_ABOVE_ONE)
    if draw(st.booleans()):
        messages = body["messages"]
        last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
        if last_user > 0:
            messages.insert(last_user, {"role": "system", "content": draw(cs.texts(long=False))})
    if draw(st.booleans()):  # valid for OpenAI; Anthropic has no empty turns, so an adapter must drop it
        messages = body["messages"]
        last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
        messages.insert(last_user, {"role": "user", "content": ""})
    if draw(st.booleans()):
        body["stop"] = draw(_STOP)
    if body.get("tools") and draw(st.booleans()):
        body["parallel_tool_calls"] = False
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


def requests(stream: bool = False, wide: bool = False) -> Callable[[Target], st.SearchStrategy[dict[str, Any]]]:
    """Requests addressed to the target's model: `wide` ones (with OpenAI-only extras) for the properties about
    the upstream request; portable ones with `max_tokens` set for the reply and error properties, so one
    translation gap does not show up in every cell."""

    def strategy(target: Target) -> st.SearchStrategy[dict[str, Any]]:
        if wide:
            return unified_requests(target.request_model, stream)
        base = cs.openai_chat_requests(model=target.request_model, tools=None, max_turns=3, portable=True,
                                       long=False, stream=stream)
        extra: dict[str, Any] = {"stream_options": {"include_usage": True}} if stream else {}
        return st.builds(lambda b, n: {"max_tokens": n, **b, **extra}, base, _MAX_TOKENS)

    return strategy


def upstream_entry(target: Target, outcome: Outcome) -> Entry:
    entries = target.upstream_entries()
    if not entries:
        raise Violation(f"no request reached the {target.provider} upstream (the adapter answered "
                        f"{outcome.summary()})")
    return entries[-1]


def skip_if_rejected_upstream(entry: Entry) -> None:
    """Reply and error properties judge only exchanges the upstream accepted: a request the adapter translated
    invalidly is `upstream_request_valid`'s finding, and is not counted again in every other cell."""
    if entry.status == 400 and entry.fault is None:
        reject()


def send(target: Target, request: dict[str, Any]) -> Outcome:
    try:
        return target.send(request)
    except Exception as exc:  # the adapter crashed: that is a finding, with this request as its example
        raise Violation(f"the adapter raised {type(exc).__name__}: {str(exc)[:300]}") from None


# -- what goes upstream ------------------------------------------------------------------------------------


def upstream_request_valid(target: Target, request: dict[str, Any]) -> None:
    """The request the fake receives keeps the provider's contract and semantic rules."""
    outcome = send(target, request)
    entry = upstream_entry(target, outcome)
    problems = request_problems(target.provider, entry.body)
    if not problems and entry.status == 400:
        problems = [f"the upstream answered 400: {entry.error}"]
    if problems:
        raise Violation("; ".join(problems), problems)


def _upstream_atoms(provider: str, body: dict[str, Any]) -> list[Any]:
    if provider == "anthropic":
        return anthropic_atoms(body.get("system"), body.get("messages") or [])
    return openai_atoms(body.get("messages") or [])


def lost_pieces(request: dict[str, Any], upstream: dict[str, Any], provider: str) -> list[str]:
    """What the user sent that the upstream request lacks: texts (per role), tool calls (id, name,
    arguments), tool results (id, content) and the sampling parameters both sides share."""
    got = _upstream_atoms(provider, upstream)
    texts: dict[str, list[str]] = {}
    calls, results = [], []
    for role, kind, payload in got:
        if kind == "text":
            texts.setdefault(role, []).append(payload)
        elif kind == "tool_call":
            calls.append((payload[0], payload[1], canonical_args(payload[2])))
        elif kind == "tool_result":
            results.append(payload)
    lost = []
    for role, kind, payload in openai_atoms(request["messages"]):
        # trailing whitespace may go: Anthropic rejects it at the end of a final assistant turn
        if kind == "text" and not any(payload.rstrip() in t for t in texts.get(role, ())):
            lost.append(f"{role} text {payload[:60]!r}")
        elif kind == "tool_call" and (payload[0], payload[1], canonical_args(payload[2])) not in calls:
            lost.append(f"tool call id={payload[0]!r} name={payload[1]!r} arguments={payload[2]!r} "
                        f"(upstream has {calls})")
        elif kind == "tool_result" and not any(r[0] == payload[0] and payload[1] in r[1] for r in results):
            lost.append(f"tool result for {payload[0]!r} (upstream has {[r[0] for r in results]})")
    lost.extend(_lost_params(request, upstream, provider))
    return lost


def _lost_params(request: dict[str, Any], upstream: dict[str, Any], provider: str) -> list[str]:
    lost = []
    want_max = request.get("max_completion_tokens") or request.get("max_tokens")
    got_max = upstream.get("max_completion_tokens") or upstream.get("max_tokens")
    if want_max is not None and got_max != want_max:
        lost.append(f"max_tokens {want_max} arrived as {got_max}")
    for key in ("temperature", "top_p"):
        if key not in request:
            continue
        got_value = upstream.get(key)
        if provider == "anthropic" and request[key] > 1:  # beyond Anthropic's range: any value in it will do
            if not (isinstance(got_value, int | float) and 0 <= got_value <= 1):
                lost.append(f"{key} {request[key]} (above Anthropic's 1) arrived as {got_value}")
        elif not (isinstance(got_value, int | float) and math.isclose(got_value, request[key], abs_tol=1e-9)):
            lost.append(f"{key} {request[key]} arrived as {got_value}")
    stop = request.get("stop")
    want_stop = [stop] if isinstance(stop, str) else list(stop or [])
    got = upstream.get("stop_sequences", upstream.get("stop"))
    got_stop = [got] if isinstance(got, str) else list(got or [])
    if any(s not in got_stop for s in want_stop):
        lost.append(f"stop {want_stop} arrived as {got_stop}")
    want_tools = {t["function"]["name"] for t in request.get("tools") or ()}
    got_tools = {t.get("name") or (t.get("function") or {}).get("name") for t in upstream.get("tools") or ()}
    if want_tools - got_tools:
        lost.append(f"tools {sorted(want_tools - got_tools)} missing upstream")
    if request.get("parallel_tool_calls") is False and request.get("tool_choice") != "none":
        choice = upstream.get("tool_choice")
        kept = (choice.get("disable_parallel_tool_use") is True if isinstance(choice, dict) else False) if (
            provider == "anthropic") else upstream.get("parallel_tool_calls") is False
        if not kept:
            got = f"tool_choice {choice!r}" if provider == "anthropic" else repr(upstream.get("parallel_tool_calls"))
            lost.append(f"parallel_tool_calls=false dropped (upstream {got})")
    return lost


def _compare_upstream(target: Target, request: dict[str, Any],
                      differences: Callable[[dict[str, Any], dict[str, Any], str], list[str]], what: str) -> None:
    """Send `request`, compare it with what the upstream received; each difference is its own finding."""
    entry = upstream_entry(target, send(target, request))
    found = differences(request, entry.body or {}, target.provider)
    if found:
        raise Violation(f"{what} on the way upstream: " + "; ".join(found),
                        [f"{what} on the way upstream: {x}" for x in found])


def nothing_lost(target: Target, request: dict[str, Any]) -> None:
    """Every text, tool call, tool result and shared parameter the user sent reaches the upstream."""
    _compare_upstream(target, request, lost_pieces, "lost")


def invented_texts(request: dict[str, Any], upstream: dict[str, Any], provider: str) -> list[str]:
    """Upstream texts made of more than the user's own texts (and whitespace): what the adapter made up."""
    pieces = sorted({p for _, kind, p in openai_atoms(request["messages"]) if kind == "text" and p.strip()},
                    key=len, reverse=True)
    invented = []
    for role, kind, payload in _upstream_atoms(provider, upstream):
        if kind != "text":
            continue
        rest = payload
        for piece in pieces:
            rest = rest.replace(piece.rstrip(), "")
        if rest.strip():  # unquoted: each distinct made-up text is its own finding
            invented.append(f"{role} text: {rest.strip()[:80]}")
    return invented


def nothing_invented(target: Target, request: dict[str, Any]) -> None:
    """The upstream conversation holds only what the user sent: no placeholder or explanatory text added."""
    _compare_upstream(target, request, invented_texts, "invented")


# -- what comes back ---------------------------------------------------------------------------------------


def reply_problems(body: dict[str, Any] | None, entry: Entry) -> list[str]:
    """How a unified reply differs from what the fake answered (first choice): text, finish, tool calls, usage."""
    if not isinstance(body, dict) or not body.get("choices"):
        return [f"not a chat completion: {str(body)[:200]}"]
    expected = reply_dict(entry.reply)
    if not expected:
        return ["the fake journaled no reply"]
    want = expected["choices"][0]
    choice = body["choices"][0]
    message = choice.get("message") or {}
    problems = []
    if body.get("object") not in (None, "chat.completion"):
        problems.append(f"object is {body.get('object')!r}, not 'chat.completion'")
    if message.get("role") != "assistant":
        problems.append(f"message role is {message.get('role')!r}, not 'assistant'")
    if (message.get("content") or "") != want["text"]:
        problems.append(f"content {str(message.get('content'))[:80]!r} != upstream text {want['text'][:80]!r}")
    finish = UNIFIED_FINISH.get(want["finish"], want["finish"])
    if choice.get("finish_reason") != finish:
        problems.append(f"finish_reason {choice.get('finish_reason')!r}, upstream said {want['finish']!r} "
                        f"(expected {finish!r})")
    got_calls = [(c.get("id"), (c.get("function") or {}).get("name"),
                  canonical_args((c.get("function") or {}).get("arguments")))
                 for c in message.get("tool_calls") or ()]
    want_calls = [(c["id"], c["name"], canonical_args(c["arguments"])) for c in want["tool_calls"]]
    if got_calls != want_calls:
        problems.append(f"tool calls {got_calls} != upstream {want_calls}")
    usage = body.get("usage") or {}
    if (usage.get("prompt_tokens"), usage.get("completion_tokens")) != (entry.tokens_in, entry.tokens_out):
        problems.append(f"usage prompt/completion {usage.get('prompt_tokens')}/{usage.get('completion_tokens')} "
                        f"!= upstream {entry.tokens_in}/{entry.tokens_out}")
    return problems


def reply_translated(target: Target, request: dict[str, Any]) -> None:
    """A JSON reply comes back with the same content, tool calls, finish reason and usage."""
    outcome = send(target, request)
    entry = upstream_entry(target, outcome)
    skip_if_rejected_upstream(entry)
    if outcome.status != 200:
        raise Violation(f"the upstream answered {entry.status} but the adapter {outcome.summary()}")
    problems = reply_problems(outcome.body, entry)
    if problems:
        raise Violation("; ".join(problems), problems)


def stream_translated(target: Target, request: dict[str, Any]) -> None:
    """A stream comes back as chunks that add up to the same content, tool calls, finish reason and usage."""
    outcome = send(target, request)
    entry = upstream_entry(target, outcome)
    skip_if_rejected_upstream(entry)
    if outcome.status != 200 or outcome.chunks is None:
        raise Violation(f"the upstream streamed {entry.status} but the adapter {outcome.summary()}")
    bad = [c.get("object") for c in outcome.chunks if c.get("object") != "chat.completion.chunk"]
    problems = [f"{len(bad)} chunks are not chat.completion.chunk ({bad[:3]})"] if bad else []
    if outcome.done is False:
        problems.append("the stream does not end with data: [DONE]")
    finishes = [ch.get("finish_reason") for c in outcome.chunks for ch in c.get("choices") or ()
                if ch.get("finish_reason")]
    if len(finishes) != 1:
        problems.append(f"{len(finishes)} chunks carry a finish_reason (expected exactly one): {finishes}")
    problems += reply_problems(outcome.body, entry)
    if problems:
        raise Violation("stream: " + "; ".join(problems), [f"stream: {x}" for x in problems])


# -- errors ------------------------------------------------------------------------------------------------


def _with_fault(target: Target, request: dict[str, Any], fault: dict[str, Any]) -> tuple[Outcome, Entry]:
    target.fake.set_faults([{"fault": fault}])
    try:
        outcome = send(target, request)
        entry = upstream_entry(target, outcome)
    finally:
        target.fake.clear_faults()
    skip_if_rejected_upstream(entry)
    return outcome, entry


def envelope_problem(outcome: Outcome) -> str | None:
    """Over HTTP, a unified error is OpenAI's envelope: {"error": {"message": str, "type": str, ...}}."""
    body = outcome.error_body
    if body is None:
        return None  # an in-process adapter raised: its exception is the unified error
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict) or not isinstance(err.get("message"), str) or "type" not in err:
        return f"the error body is not OpenAI's error envelope: {str(body)[:200]}"
    return None


def rate_limit_maps_to_429(target: Target, drawn: tuple[dict[str, Any], int]) -> None:
    """An upstream 429 reaches the client as a 429 that still says how long to wait (retry-after)."""
    request, wait = drawn
    outcome, _ = _with_fault(target, request, {"kind": "http_error", "status": 429, "retry_after": wait})
    if outcome.status != 429:
        raise Violation(f"upstream 429 (retry-after {wait}s) became {outcome.summary()}")
    if outcome.retry_after is None or outcome.retry_after < wait - 0.5:
        raise Violation(f"upstream 429 said retry-after {wait}s; the client was told {outcome.retry_after}")
    _raise_if(envelope_problem(outcome))


def overloaded_is_retryable(target: Target, request: dict[str, Any]) -> None:
    """An upstream overload (Anthropic 529, OpenAI 503) reaches the client as an error it will retry."""
    status = OVERLOADED_STATUS[target.provider]
    outcome, _ = _with_fault(target, request, {"kind": "http_error", "status": status})
    if outcome.status == 200 or not outcome.retryable:
        raise Violation(f"upstream {status} became {outcome.summary()}, which clients do not retry")
    _raise_if(envelope_problem(outcome))


def context_error_maps_to_400(target: Target, request: dict[str, Any]) -> None:
    """An upstream context-window error (the provider's exact 400) reaches the client as a 400."""
    model = target.fake.config.model(target.upstream_model)
    assert model is not None
    err = target.fake.dialect.context_error(model, model.context_window + 1, 1)
    fault = {"kind": "http_error", "status": 400, "message": err.message, "error_type": err.error_type,
             "code": err.code}
    outcome, _ = _with_fault(target, request, fault)
    if outcome.status != 400:
        raise Violation(f"upstream context error ({err.message[:60]}...) became {outcome.summary()}")
    _raise_if(envelope_problem(outcome))


def _raise_if(problem: str | None) -> None:
    if problem:
        raise Violation(problem)


def stream_error_surfaces(target: Target, drawn: tuple[dict[str, Any], int]) -> None:
    """An upstream failure in the middle of a stream reaches the client as an error (an error status or
    exception, or an error chunk), never as a stream that ends like a complete one."""
    request, after = drawn
    outcome, _ = _with_fault(target, {**request, "stream": True},
                             {"kind": "stream_error", "status": OVERLOADED_STATUS[target.provider],
                              "after_chunks": after})
    if outcome.status != 200 or outcome.stream_error is not None:
        return
    finish = (outcome.body or {}).get("choices", [{}])[0].get("finish_reason")
    ending = f"finish_reason {finish!r}" if finish else "no finish_reason and no error"
    raise Violation(f"an upstream error after {after} chunks became a 200 stream with {ending}"
                    + ("" if outcome.done is None else f", [DONE] {'sent' if outcome.done else 'missing'}"))


def _with_wait(target: Target) -> st.SearchStrategy[tuple[dict[str, Any], int]]:
    return st.tuples(requests()(target), st.integers(1, 120))


PROPERTIES: tuple[Property, ...] = (
    Property("upstream_request_valid", "the upstream request keeps the provider's contract", requests(wide=True),
             upstream_request_valid),
    Property("nothing_lost", "every text, tool call, tool result and parameter reaches upstream",
             requests(wide=True), nothing_lost),
    Property("nothing_invented", "no text the user did not send is added upstream", requests(wide=True),
             nothing_invented),
    Property("reply_translated", "JSON replies keep content, tool calls, finish reason and usage", requests(),
             reply_translated),
    Property("stream_translated", "streams add up to the same content, finish reason and usage",
             requests(stream=True), stream_translated),
    Property("stream_error_surfaces", "a mid-stream upstream error reaches the client as an error",
             lambda t: st.tuples(requests()(t), st.integers(0, 3)), stream_error_surfaces, 5),
    Property("rate_limit_429", "429 stays 429 with retry-after", _with_wait, rate_limit_maps_to_429, 5),
    Property("overloaded_retryable", "529/503 overload becomes a retryable error", requests(),
             overloaded_is_retryable, 5),
    Property("context_error_400", "a context-window error becomes 400", requests(), context_error_maps_to_400, 5),
)
