"""An injected 429 looks like the provider's own rate limiter's 429, for every dialect.

The fake's limiter answers a model over its limit the way each provider does; a 429 injected by a fault
rule must carry the same retry hints, so a gateway cannot tell a drill's 429 from a real one: OpenAI's
`retry-after(-ms)` and `x-ratelimit-{limit,remaining,reset}-*`, Anthropic's `retry-after` and
`anthropic-ratelimit-*`, Azure's `retry-after(-ms)` and `x-ratelimit-{limit,remaining}-*`, Gemini's
RetryInfo in the body (no headers), Bedrock's ThrottlingException (no headers).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from gatedrill.fakes import FakeServer

_SIGV4 = ("AWS4-HMAC-SHA256 Credential=AKIAGATEDRILLTEST01/20250101/us-east-1/bedrock/aws4_request, "
          "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64)
_MSGS = [{"role": "user", "content": "hi"}]
# provider -> (model, path, body, headers)
REQUESTS: dict[str, tuple[str, str, dict[str, Any], dict[str, str]]] = {
    "openai": ("gpt-4o-mini", "/v1/chat/completions", {"model": "gpt-4o-mini", "messages": _MSGS},
               {"authorization": "Bearer sk-test"}),
    "anthropic": ("claude-haiku-4-5", "/v1/messages",
                  {"model": "claude-haiku-4-5", "max_tokens": 50, "messages": _MSGS},
                  {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}),
    "azure": ("gpt-4o-mini", "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21",
              {"messages": _MSGS}, {"api-key": "az-test"}),
    "gemini": ("gemini-2.5-flash", "/v1beta/models/gemini-2.5-flash:generateContent",
               {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}, {"x-goog-api-key": "gk-test"}),
    "bedrock": ("anthropic.claude-3-5-haiku-20241022-v1:0",
                "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse",
                {"messages": [{"role": "user", "content": [{"text": "hi"}]}]},
                {"authorization": _SIGV4, "x-amz-date": "20250101T000000Z"}),
}
EXPECTED_HEADERS = {
    "openai": {"retry-after", "retry-after-ms", *(f"x-ratelimit-{w}-{k}" for w in ("limit", "remaining", "reset")
                                                  for k in ("requests", "tokens"))},
    "anthropic": {"retry-after", *(f"anthropic-ratelimit-{k}-{w}" for w in ("limit", "remaining", "reset")
                                   for k in ("requests", "tokens", "input-tokens", "output-tokens"))},
    "azure": {"retry-after", "retry-after-ms", *(f"x-ratelimit-{w}-{k}" for w in ("limit", "remaining")
                                                 for k in ("requests", "tokens"))},
    "gemini": set(),
    "bedrock": set(),
}


def _post(srv: FakeServer, provider: str, extra: dict[str, str] | None = None) -> httpx.Response:
    _, path, body, headers = REQUESTS[provider]
    return httpx.post(srv.url + path, json=body, headers={**headers, **(extra or {})}, timeout=10)


def _rate_headers(r: httpx.Response) -> set[str]:
    return {k for k in r.headers if k.startswith(("retry-after", "x-ratelimit-", "anthropic-ratelimit-"))}


def _shape(provider: str, r: httpx.Response) -> Any:
    """What else tells a client when to come back, beyond headers: the body's retry details or error type."""
    if provider == "gemini":
        err = r.json()["error"]
        return err["status"], sorted(d["@type"] for d in err["details"])
    if provider == "bedrock":
        return r.headers["x-amzn-errortype"].split(":")[0], sorted(r.json())
    return None


@pytest.mark.parametrize("provider", list(REQUESTS))
def test_injected_429_carries_what_the_limiters_429_carries(provider: str) -> None:
    model = REQUESTS[provider][0]
    with FakeServer(provider=provider, models=[{"id": model, "rpm": 1}]) as limited:
        assert _post(limited, provider).status_code == 200
        real = _post(limited, provider)
    with FakeServer(provider=provider) as srv:
        injected = _post(srv, provider, {"x-gatedrill-fault": json.dumps({"kind": "http_error", "status": 429})})
    assert real.status_code == injected.status_code == 429
    assert _rate_headers(real) == _rate_headers(injected) == EXPECTED_HEADERS[provider]
    assert _shape(provider, real) == _shape(provider, injected)


def test_injected_gemini_429_says_when_to_return_in_retry_info() -> None:
    with FakeServer(provider="gemini") as srv:
        r = _post(srv, "gemini", {"x-gatedrill-fault": json.dumps({"kind": "http_error", "status": 429,
                                                                    "retry_after": 12})})
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"} in r.json()["error"]["details"]


def test_injected_openai_429_reports_requests_used_up_with_the_reset_time() -> None:
    with FakeServer(provider="openai") as srv:
        r = _post(srv, "openai", {"x-gatedrill-fault": json.dumps({"kind": "http_error", "status": 429,
                                                                    "retry_after": 2})})
    assert r.headers["x-ratelimit-remaining-requests"] == "0" and r.headers["retry-after-ms"] == "2000"
    assert r.headers["x-ratelimit-limit-requests"] == "500"
