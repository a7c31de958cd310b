"""The reference gateway's deliberate bugs (mutants), as small hooks on its normal path.

Each hook is the identity for the correct gateway. A mutant changes exactly one, the way a real gateway
gets it wrong, so that each bug is caught by the checks that judge that property and by no other:

- `ignore_weights`: every target with a weight gets an equal share (a shuffle that forgot the weights);
- `drop_history_on_switch`: when a session moves to another upstream, only the system prompt and the last
  user turn are sent (a per-upstream conversation cache that starts empty);
- `truncate_over_window`: a prompt that does not fit is cut (oldest turns first) instead of falling back;
- `lose_stream_tail`: the last content chunk and the finish chunk are dropped, and the stream still ends
  with `[DONE]`, as if complete;
- `duplicate_requests`: every upstream attempt is sent twice; the copy's answer is thrown away;
- `stay_failed_over`: once the circuit breaker opens, it never half-opens: the upstream is never probed and
  traffic never returns after it recovers;
- `stringify_tool_args`: tool-call arguments go to Gemini and Bedrock upstreams as `{"arguments": "<JSON
  string>"}` instead of the object they encode (a translation that forgot to parse them);
- `slow_path`: every request waits `SLOW_PATH_S` before it is relayed (a release that put a blocking call on the
  hot path): overhead grows, nothing else changes;
- `ignore_failures_after_reload`: for `RELOAD_GRACE_S` after a weight change the circuit breakers count no failure
  (a reload that rebuilds the router's health state and treats failures in a warm-up window as cold-start noise, as
  slow-start and warm-up settings do), so a side that fails right after a migration step keeps its traffic: the
  rollback comes late;
- `restart_streams_on_reload`: a weight change re-dispatches every stream open at that moment under the new weights
  and relays the new upstream's reply from its start after what the client already got (a reload that replays
  in-flight requests on the new route instead of draining them, like a retry after bytes were sent): the client
  gets a spliced, corrupted stream, and the gateway makes an upstream call it never reports.

Bugs real gateways shipped, each modelled on a public report:

- `retry_after_dropped`: an upstream 429 reaches the client without `retry-after` (LiteLLM #21553: only
  `llm_provider-retry-after` is returned, so OpenAI SDKs never wait as told);
- `cooling_429_without_retry_after`: the gateway's own answer while every upstream cools down carries no
  `retry-after` (LiteLLM #27823, RouterRateLimitError);
- `no_attempt_timeout`: an attempt is never timed out, so an upstream that accepts and stays silent holds every
  request (LiteLLM #38358: request_timeout never fires on a silent upstream; Bifrost hung 130 s on one);
- `empty_tool_turn`: an assistant turn that holds only tool calls goes to Anthropic as empty content, its
  `tool_use` blocks and the request's `tools` dropped, so Anthropic answers 400 (the "all messages must have
  non-empty content" family: LiteLLM PR #2549, LlamaIndex PR #17278);
- `stream_break_as_clean_end`: a stream the upstream broke ends with `finish_reason: "stop"` and `[DONE]`, as if
  complete (LiteLLM #40260; Portkey 1.15.2 ends Anthropic stream errors the same way);
- `readmit_without_probe`: when a cooldown ends the upstream gets its full share back at once, with no half-open
  probe (LiteLLM 1.106.2's router, measured by gatedrill's gateway matrix);
- `duplicate_stream_chunk`: the third content chunk of every stream goes out twice (adaline/gateway PR #26, "fix
  chunk duplication in proxy stream");
- `drop_streamed_tool_args`: streamed tool-call argument fragments after a call's opening chunk are dropped, so the
  client assembles a call with empty arguments (LiteLLM #20711 and #27144);
- `stop_for_tool_calls`: a Gemini stream that called a tool ends with `finish_reason: "stop"` instead of
  `"tool_calls"` (LiteLLM #12249 and #12862, for Vertex AI/Gemini streams);
- `cooldown_on_first_failure`: the breaker opens on an upstream's first failure, whatever threshold is configured
  (deltallm PR #104: a default `allowed_fails=0` marked a deployment unhealthy on its first failure; the review of
  LiteLLM PR #33258: a failure counted twice cooled a deployment with `allowed_fails=1` after one), so one transient
  error takes an upstream out;
- `never_cooldown`: the circuit breaker never opens (LiteLLM PR #34836: an end-to-end test found 25 consecutive
  500s left a deployment fully in rotation; LiteLLM #27362: connection errors never entered cooldown);
- `rate_limit_to_500`: an upstream 429 reaches the client as a 500, without retry-after (Portkey 1.15.2's npm
  build: gatedrill's finding portkey-npm-429-becomes-500);
- `retry_storm`: retries go out at once, ignoring retry-after and backoff, and three times as many (LiteLLM #7669:
  router retries neither respect retry_after nor back off; Helicone #5672);
- `commit_on_first_byte`: a stream is committed to on its first upstream event (a role chunk, message_start),
  so a stream that breaks before any content reaches the client as an error instead of failing over (LiteLLM
  #40404);
- `drop_system_prompt`: system messages are not hoisted into Anthropic's `system` and are lost
  (vercel-labs/ai-python PR #267, "Fix anthropic adapter dropping system messages");
- `fallback_ignored`: the declared fallbacks are never tried (LiteLLM #8632: Gemini answered 500s and the
  configured fallbacks never fired).
"""

from __future__ import annotations

from typing import Any

import orjson

from ..intent import CooldownPolicy, Target
from .errors import ClientError
from .streams import OutEvent
from .tokens import prompt_tokens

SLOW_PATH_S = 0.1
RELOAD_GRACE_S = 5.0  # `ignore_failures_after_reload`: how long after a weight change failures go uncounted


class Hooks:
    """The hooks, configured for one mutant (or none)."""

    def __init__(self, mutant: str | None) -> None:
        self.mutant = mutant

    def weights(self, targets: list[Target]) -> list[float]:
        if self.mutant == "ignore_weights":
            return [1.0 if t.weight > 0 else 0.0 for t in targets]
        return [t.weight for t in targets]

    def cooldown(self, policy: CooldownPolicy) -> CooldownPolicy:
        if self.mutant == "never_cooldown":
            return policy.model_copy(update={"enabled": False})
        if self.mutant == "cooldown_on_first_failure":
            return policy.model_copy(update={"failures": 1})
        if self.mutant == "stay_failed_over":  # a cooldown that outlasts any drill: no probe, no return
            return policy.model_copy(update={"cooldown_s": 1e9})
        return policy

    def history(self, messages: list[dict[str, Any]], switched: bool) -> list[dict[str, Any]]:
        if self.mutant != "drop_history_on_switch" or not switched:
            return messages
        last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=0)
        system = [m for m in messages[:last_user] if m.get("role") in ("system", "developer")]
        return system + messages[last_user:]

    @property
    def truncates(self) -> bool:
        return self.mutant == "truncate_over_window"

    def client_error(self, err: ClientError) -> ClientError:
        if self.mutant == "rate_limit_to_500" and err.status == 429:
            return ClientError(500, "Internal server error", "server_error", None)
        return err

    def retry_wait(self, wait: float | None) -> float | None:
        """Seconds before a retry on the same upstream; None means do not retry there."""
        return 0.0 if self.mutant == "retry_storm" else wait

    def attempts(self, attempts: int) -> int:
        return attempts * 3 if self.mutant == "retry_storm" else attempts

    @property
    def duplicates(self) -> bool:
        return self.mutant == "duplicate_requests"

    @property
    def commits_on_first_event(self) -> bool:
        return self.mutant == "commit_on_first_byte"

    def tool_args(self, messages: list[dict[str, Any]], provider: str) -> list[dict[str, Any]]:
        """Assistant tool calls as the upstream gets them; the mutant wraps each one's arguments string."""
        if self.mutant != "stringify_tool_args" or provider not in ("gemini", "bedrock"):
            return messages
        out = []
        for m in messages:
            if m.get("role") == "assistant" and m.get("tool_calls"):
                calls = [{**c, "function": {**(c.get("function") or {}), "arguments": orjson.dumps(
                    {"arguments": (c.get("function") or {}).get("arguments")}).decode()}} for c in m["tool_calls"]]
                m = {**m, "tool_calls": calls}
            out.append(m)
        return out

    @property
    def added_delay_s(self) -> float:
        return SLOW_PATH_S if self.mutant == "slow_path" else 0.0

    def stream_tail(self, provider: str) -> StreamTail:
        """What happens to a client stream's events on their way out, for a stream from a `provider` upstream."""
        if self.mutant == "lose_stream_tail":
            return LoseStreamTail()
        if self.mutant == "duplicate_stream_chunk":
            return DuplicateChunk()
        if self.mutant == "drop_streamed_tool_args":
            return DropToolArgFragments()
        if self.mutant == "stop_for_tool_calls" and provider == "gemini":
            return StopForToolCalls()
        return StreamTail()

    def relayed_error(self, err: ClientError) -> ClientError:
        """An upstream's error as the client gets it (after `client_error`)."""
        err = self.client_error(err)
        if self.mutant == "retry_after_dropped" and err.status == 429:
            return ClientError(err.status, err.message, err.type, err.code, err.param, {})
        return err

    def own_error(self, err: ClientError) -> ClientError:
        """The gateway's own refusal (nothing could be tried) as the client gets it."""
        err = self.client_error(err)
        if self.mutant == "cooling_429_without_retry_after":
            return ClientError(err.status, err.message, err.type, err.code, err.param, {})
        return err

    def timeout(self, timeout_s: float) -> float:
        """The per-attempt timeout; the mutant waits as long as any client would (a silent upstream holds it)."""
        return 3600.0 if self.mutant == "no_attempt_timeout" else timeout_s

    def for_provider(self, body: dict[str, Any], provider: str) -> dict[str, Any]:
        """The client body as prepared for an upstream of `provider` (before its dialect's translation)."""
        if provider != "anthropic" or self.mutant not in ("empty_tool_turn", "drop_system_prompt"):
            return body
        messages = body.get("messages") or []
        if self.mutant == "drop_system_prompt":
            return {**body, "messages": [m for m in messages if m.get("role") not in ("system", "developer")]}
        if not any(m.get("tool_calls") for m in messages):
            return body
        flat = [{"role": "assistant", "content": ""} if m.get("role") == "assistant" and m.get("tool_calls") else m
                for m in messages]
        return {k: v for k, v in body.items() if k not in ("tools", "tool_choice")} | {"messages": flat}

    def counts_failure(self, since_reweight_s: float) -> bool:
        """Does a failure count against the breaker, `since_reweight_s` after the last weight change?"""
        return not (self.mutant == "ignore_failures_after_reload" and since_reweight_s < RELOAD_GRACE_S)

    @property
    def restarts_streams(self) -> bool:
        """Does a weight change re-dispatch the streams open at that moment?"""
        return self.mutant == "restart_streams_on_reload"

    @property
    def half_open(self) -> bool:
        """Does a cooled upstream come back through one probe (else with its full share at once)?"""
        return self.mutant != "readmit_without_probe"

    @property
    def uses_fallbacks(self) -> bool:
        return self.mutant != "fallback_ignored"

    def broken_stream_end(self, err: ClientError, model: str) -> bytes:
        """How a stream the upstream broke ends for the client: an error event (no [DONE]); the mutant ends it
        clean."""
        if self.mutant != "stream_break_as_clean_end":
            return err.event()
        chunk = {"id": "chatcmpl-gatedrill-ref", "object": "chat.completion.chunk", "created": 0, "model": model,
                 "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]}
        return b"data: " + orjson.dumps(chunk) + b"\n\ndata: [DONE]\n\n"


class StreamTail:
    """Passes client stream events through unchanged."""

    def feed(self, ev: OutEvent) -> list[bytes]:
        return [ev.data]


class LoseStreamTail(StreamTail):
    """Holds each content chunk back by one; at the finish chunk drops it, the finish and any usage."""

    def __init__(self) -> None:
        self._held: OutEvent | None = None
        self._cut = False

    def feed(self, ev: OutEvent) -> list[bytes]:
        if ev.kind == "done":
            return [ev.data]
        if self._cut:
            return []
        if ev.kind == "finish":
            self._cut, self._held = True, None
            return []
        out = [self._held.data] if self._held is not None else []
        self._held = None
        if ev.kind == "content":
            self._held = ev
        else:
            out.append(ev.data)
        return out


class DuplicateChunk(StreamTail):
    """Sends the third content chunk twice (a re-sent buffer)."""

    def __init__(self) -> None:
        self._content = 0

    def feed(self, ev: OutEvent) -> list[bytes]:
        if ev.kind != "content":
            return [ev.data]
        self._content += 1
        return [ev.data, ev.data] if self._content == 3 else [ev.data]


def _chunk_json(data: bytes) -> dict[str, Any] | None:
    body = data.removeprefix(b"data: ").strip()
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


class DropToolArgFragments(StreamTail):
    """Drops tool-call deltas that carry no call id: the argument fragments after a call's opening chunk."""

    def feed(self, ev: OutEvent) -> list[bytes]:
        obj = _chunk_json(ev.data) if ev.kind == "content" else None
        if obj is None:
            return [ev.data]
        calls = [c for ch in obj.get("choices") or () for c in (ch.get("delta") or {}).get("tool_calls") or ()]
        return [] if calls and not any(c.get("id") for c in calls) else [ev.data]


class StopForToolCalls(StreamTail):
    """Rewrites the finish reason `tool_calls` to `stop` on the finish chunk."""

    def feed(self, ev: OutEvent) -> list[bytes]:
        obj = _chunk_json(ev.data) if ev.kind == "finish" else None
        if obj is None:
            return [ev.data]
        for ch in obj.get("choices") or ():
            if ch.get("finish_reason") == "tool_calls":
                ch["finish_reason"] = "stop"
        return [b"data: " + orjson.dumps(obj) + b"\n\n"]


def truncate_to_fit(body: dict[str, Any], budget: int, provider: str) -> list[dict[str, Any]]:
    """The messages cut to fit `budget` prompt tokens: oldest turns first, then the last message's text."""
    messages = list(body.get("messages") or [])
    system = [m for m in messages if m.get("role") in ("system", "developer")]
    rest = [m for m in messages if m.get("role") not in ("system", "developer")]

    def size(msgs: list[dict[str, Any]]) -> int:
        return prompt_tokens({**body, "messages": system + msgs}, provider)

    while len(rest) > 1 and (size(rest) > budget or rest[0].get("role") != "user"):
        rest.pop(0)
    if rest and size(rest) > budget and isinstance(rest[-1].get("content"), str):
        text = rest[-1]["content"]
        lo, hi = 0, len(text)
        while lo < hi:  # the longest tail of the text that fits
            mid = (lo + hi + 1) // 2
            if size([*rest[:-1], {**rest[-1], "content": text[-mid:]}]) <= budget:
                lo = mid
            else:
                hi = mid - 1
        rest[-1] = {**rest[-1], "content": text[len(text) - lo:] or "."}
    return system + rest
