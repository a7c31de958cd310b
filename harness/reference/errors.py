"""Errors as the gateway's clients see them: always OpenAI's envelope `{"error": {message, type, param, code}}`.

Upstream errors of either dialect are read into one `UpstreamError`; the gateway then decides, from the
whole attempt history, which `ClientError` the client gets (429 stays 429, context errors become 400, server
and transport failures become 502/503/504).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

_ANTHROPIC_PROMPT_TOO_LONG = re.compile(r"prompt is too long: (\d+) tokens > (\d+) maximum")
_ANTHROPIC_WITH_COMPLETION = re.compile(r"input length and `max_tokens` exceed context limit: (\d+) \+ (\d+) > (\d+)")
DEFAULT_RETRY_AFTER_S = 1.0
_GEMINI_CONTEXT = re.compile(r"input token count \((\d+)\) exceeds the maximum number of tokens allowed \((\d+)\)")
_BEDROCK_TOO_LONG = "Input is too long for requested model"
_OPENAI_CONTEXT = re.compile(r"maximum context length is (\d+) tokens\. However, your messages resulted in (\d+)")


@dataclass(slots=True)
class ClientError(Exception):
    """An error reply to the gateway's client."""

    status: int
    message: str
    type: str
    code: str | None = None
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> bytes:
        return orjson.dumps({"error": {"message": self.message, "type": self.type, "param": self.param,
                                       "code": self.code}})

    def event(self) -> bytes:
        """The same error as an SSE event, for failures after a stream has started (no [DONE] follows)."""
        return b"data: " + self.body() + b"\n\n"


@dataclass(slots=True)
class UpstreamError:
    """What went wrong on one attempt, in neutral terms."""

    kind: str  # "http" | "reset" | "timeout" | "malformed"
    status: int  # the upstream's HTTP status; 0 for transport failures
    message: str
    type: str = "api_error"
    code: str | None = None
    param: str | None = None
    retry_after: float | None = None  # seconds, from retry-after-ms or retry-after
    should_retry: bool = True  # False when the upstream says x-should-retry: false
    context: tuple[int, int, int] | None = None  # (window, prompt, completion) when the prompt did not fit

    @property
    def is_context(self) -> bool:
        return self.context is not None


def context_message(window: int, prompt: int, completion: int) -> str:
    """OpenAI's context-length message, which clients (and LiteLLM) recognise by its text."""
    msg = f"This model's maximum context length is {window} tokens. However, your messages resulted in {prompt} tokens."
    if completion:
        return msg + (f" With {completion} tokens requested for the completion, the total is {prompt + completion} "
                      "tokens. Please reduce the length of the messages or completion.")
    return msg + " Please reduce the length of the messages."


def retry_after_s(headers: Any) -> float | None:
    """Seconds to wait from `retry-after-ms` (preferred, as the SDKs do) or `retry-after` (seconds)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    s = headers.get("retry-after")
    if s:
        try:
            return max(0.0, float(s))
        except ValueError:
            return None  # an HTTP date: rare from LLM APIs; treat as absent
    return None


def from_upstream(provider: str, status: int, headers: Any, body: bytes) -> UpstreamError:
    """Read an upstream HTTP error (OpenAI, Azure, Anthropic, google.rpc.Status or Bedrock's `{"message"}` with
    `x-amzn-ErrorType`, or anything else) into an `UpstreamError`."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    err = data.get("error") if isinstance(data, dict) else None
    openai_like = provider in ("openai", "azure")
    retry_after = retry_after_s(headers)
    if isinstance(err, dict):
        message = str(err.get("message") or "")
        etype = str(err.get("type") or err.get("status") or "api_error")
        code = err.get("code") if openai_like else None
        param = err.get("param") if openai_like else None
        if retry_after is None and provider == "gemini":
            retry_after = _retry_info(err.get("details"))
    elif isinstance(data, dict) and isinstance(data.get("message"), str):  # Bedrock
        message = data["message"]
        etype = (headers.get("x-amzn-errortype") or "api_error").split(":", 1)[0]
        code, param = None, None
    else:
        message = body[:200].decode("utf-8", "replace") or f"upstream answered {status}"
        etype, code, param = "api_error", None, None
    should_retry = (headers.get("x-should-retry") or "").lower() != "false"
    out = UpstreamError("http", status, message, etype, code if isinstance(code, str) else None,
                        param if isinstance(param, str) else None, retry_after, should_retry)
    if status in (400, 413):
        out.context = _context_numbers(message, code)
    return out


def _retry_info(details: Any) -> float | None:
    """Seconds from a google.rpc RetryInfo detail (`retryDelay: "7s"`), Gemini's only retry hint."""
    for d in details if isinstance(details, list) else ():
        delay = d.get("retryDelay") if isinstance(d, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return max(0.0, float(delay[:-1]))
            except ValueError:
                return None
    return None


def _context_numbers(message: str, code: Any) -> tuple[int, int, int] | None:
    m = _OPENAI_CONTEXT.search(message)
    if m:
        window, prompt = int(m.group(1)), int(m.group(2))
        total = re.search(r"the total is (\d+) tokens", message)
        return window, prompt, (int(total.group(1)) - prompt) if total else 0
    m = _ANTHROPIC_PROMPT_TOO_LONG.search(message)
    if m:
        return int(m.group(2)), int(m.group(1)), 0
    m = _ANTHROPIC_WITH_COMPLETION.search(message)
    if m:
        return int(m.group(3)), int(m.group(1)), int(m.group(2))
    m = _GEMINI_CONTEXT.search(message)
    if m:
        return int(m.group(2)), int(m.group(1)), 0
    if code == "context_length_exceeded" or _BEDROCK_TOO_LONG in message:
        return 0, 0, 0
    return None


def _retry_headers(seconds: float | None) -> dict[str, str]:
    if seconds is None:
        return {}
    return {"retry-after": str(max(1, math.ceil(seconds))), "retry-after-ms": str(max(1, round(seconds * 1000)))}


def client_error_for(err: UpstreamError, upstream: str) -> ClientError:
    """The client's error when `err` was the last word and no other upstream served the request."""
    if err.is_context:
        assert err.context is not None
        window, prompt, completion = err.context
        message = context_message(window, prompt, completion) if window else err.message
        return ClientError(400, message, "invalid_request_error", "context_length_exceeded", "messages")
    if err.kind == "timeout":
        return ClientError(504, f"upstream {upstream!r} timed out: {err.message}", "server_error", "upstream_timeout")
    if err.kind in ("reset", "malformed"):
        return ClientError(502, f"upstream {upstream!r} failed: {err.message}", "server_error", "upstream_error")
    status = err.status
    if status == 429:
        code = err.code or ("insufficient_quota" if err.type == "insufficient_quota" else "rate_limit_exceeded")
        etype = err.type if err.type != "rate_limit_error" else "requests"
        # an upstream that gives no hint (Bedrock's ThrottlingException): the client still learns when to return
        wait = err.retry_after if err.retry_after is not None else DEFAULT_RETRY_AFTER_S
        return ClientError(429, err.message, etype, code, err.param, _retry_headers(wait))
    if status < 500:
        return ClientError(status, err.message, err.type, err.code, err.param)
    if status in (503, 529):
        return ClientError(503, f"upstream {upstream!r} is overloaded ({status}): {err.message}", "server_error",
                           "upstream_overloaded", headers=_retry_headers(err.retry_after))
    if status == 504:
        return ClientError(504, f"upstream {upstream!r} timed out (504): {err.message}", "server_error",
                           "upstream_timeout")
    return ClientError(502, f"upstream {upstream!r} failed ({status}): {err.message}", "server_error",
                       "upstream_error")


def no_upstream_available(wait_s: float, rate_limited: bool) -> ClientError:
    """Every candidate is cooling down: 429 when rate limits put them there, else 503; both say when to return."""
    headers = _retry_headers(max(wait_s, 0.001))
    if rate_limited:
        return ClientError(429, f"All upstreams are rate limited; try again in {wait_s:.3f}s.", "requests",
                           "rate_limit_exceeded", headers=headers)
    return ClientError(503, f"No upstream is available (all cooling down); try again in {wait_s:.3f}s.",
                       "server_error", "no_upstream_available", headers=headers)


def bad_request(message: str, param: str | None = None, code: str | None = None) -> ClientError:
    return ClientError(400, message, "invalid_request_error", code, param)
