"""The Azure OpenAI fake, seen through the official `openai` SDK's `AzureOpenAI` client (unchanged) and raw HTTP.

Each test pins one behaviour of the real service: the deployment path and api-version rules, the /openai/v1
path, api-key auth, DeploymentNotFound, content-filter annotations and errors, Azure's 429 headers, the
OpenAI-shaped context error, tools, and the journal.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from gatedrill.fakes import FakeServer

VERSION = "2024-10-21"
DEPLOYMENT = "gpt-4o-mini"
USER = [{"role": "user", "content": "Tell me something."}]
CHAT = f"/openai/deployments/{DEPLOYMENT}/chat/completions"
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


@pytest.fixture(scope="module")
def srv() -> Iterator[FakeServer]:
    with FakeServer(provider="azure") as server:
        yield server


@pytest.fixture()
def fresh(srv: FakeServer) -> FakeServer:
    srv.reset()
    srv.clear_faults()
    return srv


def client(server: FakeServer, **kw: Any) -> openai.AzureOpenAI:
    kw.setdefault("max_retries", 0)
    kw.setdefault("api_version", VERSION)
    return openai.AzureOpenAI(azure_endpoint=server.url, api_key="az-test-key", **kw)


def fault(spec: dict[str, Any]) -> dict[str, str]:
    return {"x-gatedrill-fault": json.dumps(spec)}


def raw(server: FakeServer, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(server.url + path, json=body, timeout=10,
                      headers={"api-key": "az-test-key"} if headers is None else headers)


# -- replies -------------------------------------------------------------------------------------------------


def test_reply_on_the_deployment_path_carries_content_filter_annotations(fresh: FakeServer) -> None:
    r = client(fresh).chat.completions.create(model=DEPLOYMENT, messages=USER)
    assert r.choices[0].message.content and r.choices[0].finish_reason == "stop"
    extra = r.model_extra or {}
    assert extra["prompt_filter_results"][0]["content_filter_results"]["violence"] == {"filtered": False,
                                                                                       "severity": "safe"}
    assert (r.choices[0].model_extra or {})["content_filter_results"]["hate"]["filtered"] is False
    e = fresh.entries()[-1]
    assert e.path == CHAT and e.model == DEPLOYMENT and e.endpoint == "chat"


def test_stream_starts_with_a_prompt_filter_chunk_without_choices(fresh: FakeServer) -> None:
    c = client(fresh)
    full = c.chat.completions.create(model=DEPLOYMENT, messages=USER)
    chunks = list(c.chat.completions.create(model=DEPLOYMENT, messages=USER, stream=True))
    assert chunks[0].choices == [] and "prompt_filter_results" in (chunks[0].model_extra or {})
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == full.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_the_deployment_names_the_model_whatever_the_body_says(fresh: FakeServer) -> None:
    r = raw(fresh, f"{CHAT}?api-version={VERSION}", {"model": "something-else", "messages": USER})
    assert r.status_code == 200 and r.json()["model"] == DEPLOYMENT


def test_v1_path_serves_the_plain_openai_client_without_api_version(fresh: FakeServer) -> None:
    c = openai.OpenAI(base_url=fresh.url + "/openai/v1", api_key="az-test-key", max_retries=0)
    r = c.chat.completions.create(model="gpt-4o", messages=USER)
    assert r.choices[0].message.content
    assert [m.id for m in c.models.list()] == ["gpt-4o-mini", "gpt-4o"]
    assert fresh.entries()[0].path == "/openai/v1/chat/completions"


def test_tool_call_round_trip(fresh: FakeServer) -> None:
    c = client(fresh)
    first = c.chat.completions.create(model=DEPLOYMENT, messages=USER, tools=[WEATHER])
    calls = first.choices[0].message.tool_calls
    assert calls and first.choices[0].finish_reason == "tool_calls"
    call = calls[0]
    assert call.type == "function" and json.loads(call.function.arguments).keys() == {"city"}
    history = [*USER, {"role": "assistant", "tool_calls": [call.model_dump()]},
               {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    second = c.chat.completions.create(model=DEPLOYMENT, messages=history, tools=[WEATHER])
    assert second.choices[0].message.content and second.choices[0].finish_reason == "stop"


# -- api-version, deployments, auth ----------------------------------------------------------------------------


def test_missing_or_unknown_api_version_is_resource_not_found(fresh: FakeServer) -> None:
    for query in ("", "?api-version=2031-01-01"):
        r = raw(fresh, CHAT + query, {"messages": USER})
        assert r.status_code == 404 and r.json() == {"error": {"code": "404", "message": "Resource not found"}}
    with pytest.raises(openai.NotFoundError):
        client(fresh, api_version="2031-01-01").chat.completions.create(model=DEPLOYMENT, messages=USER)


def test_retired_api_version_is_bad_request_api_version_not_supported(fresh: FakeServer) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client(fresh, api_version="2022-12-01").chat.completions.create(model=DEPLOYMENT, messages=USER)
    assert info.value.body == {"code": "BadRequest", "message": "API version not supported"}


def test_unknown_deployment_is_deployment_not_found(fresh: FakeServer) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client(fresh).chat.completions.create(model="gpt-9", messages=USER)
    assert info.value.code == "DeploymentNotFound"
    assert fresh.entries()[-1].status == 404


def test_api_key_header_is_required_and_checked() -> None:
    with FakeServer(provider="azure", api_keys=["az-good"]) as s:
        assert raw(s, f"{CHAT}?api-version={VERSION}", {"messages": USER}, {"api-key": "az-good"}).status_code == 200
        r = raw(s, f"{CHAT}?api-version={VERSION}", {"messages": USER}, {})
        assert r.status_code == 401 and r.json()["error"]["code"] == "401"
        with pytest.raises(openai.AuthenticationError):
            client(s).chat.completions.create(model=DEPLOYMENT, messages=USER)
        assert s.entries()[0].headers["api-key"] == "[redacted]"


# -- errors --------------------------------------------------------------------------------------------------


def _rate_limit_header_names(headers: httpx.Headers) -> set[str]:
    return {k for k in headers if k.startswith(("retry-after", "x-ratelimit-"))}


AZURE_429_HEADERS = {"retry-after", "retry-after-ms", "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
                     "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens"}


def test_rate_limiter_429_has_azure_headers_and_message() -> None:
    with FakeServer(provider="azure", models=[{"id": DEPLOYMENT, "rpm": 1, "tpm": 100_000}]) as s:
        c = client(s)
        c.chat.completions.create(model=DEPLOYMENT, messages=USER)
        with pytest.raises(openai.RateLimitError) as info:
            c.chat.completions.create(model=DEPLOYMENT, messages=USER)
    h = info.value.response.headers
    assert _rate_limit_header_names(h) == AZURE_429_HEADERS
    assert h["x-ratelimit-remaining-requests"] == "0"
    body = info.value.body
    assert isinstance(body, dict) and body["code"] == "429"
    assert f"Please retry after {h['retry-after']} seconds" in body["message"]


def test_injected_429_has_the_same_headers_as_the_limiters(fresh: FakeServer) -> None:
    with pytest.raises(openai.RateLimitError) as info:
        client(fresh).chat.completions.create(model=DEPLOYMENT, messages=USER,
                                              extra_headers=fault({"kind": "http_error", "status": 429,
                                                                   "retry_after": 3}))
    h = info.value.response.headers
    assert _rate_limit_header_names(h) == AZURE_429_HEADERS
    assert h["retry-after"] == "3" and h["retry-after-ms"] == "3000"


def test_filtered_prompt_is_400_content_filter_with_innererror(fresh: FakeServer) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client(fresh).chat.completions.create(model=DEPLOYMENT, messages=USER,
                                              extra_headers=fault({"kind": "content_filter"}))
    body = info.value.body
    assert isinstance(body, dict) and body["code"] == "content_filter" and body["param"] == "prompt"
    assert body["innererror"]["code"] == "ResponsibleAIPolicyViolation"
    assert body["innererror"]["content_filter_result"]["violence"]["filtered"] is True


def test_filtered_completion_ends_with_finish_reason_content_filter(fresh: FakeServer) -> None:
    chunks = list(client(fresh).chat.completions.create(
        model=DEPLOYMENT, messages=USER, stream=True,
        extra_headers=fault({"kind": "content_filter", "stage": "completion", "after_chunks": 2})))
    content = [ch.choices[0].delta.content for ch in chunks if ch.choices and ch.choices[0].delta.content]
    assert len(content) == 2 and chunks[-1].choices[0].finish_reason == "content_filter"


def test_context_overflow_is_openais_context_length_exceeded() -> None:
    s = FakeServer(provider="azure", models=[{"id": DEPLOYMENT, "context_window": 20}])
    with s, pytest.raises(openai.BadRequestError) as info:
        client(s).chat.completions.create(model=DEPLOYMENT, messages=[{"role": "user", "content": "w " * 40}])
    assert info.value.code == "context_length_exceeded"
    assert str(info.value.message).count("This model's maximum context length is 20 tokens.") == 1


def test_mid_stream_error_raises_in_the_sdk(fresh: FakeServer) -> None:
    stream = client(fresh).chat.completions.create(
        model=DEPLOYMENT, messages=USER, stream=True,
        extra_headers=fault({"kind": "stream_error", "after_chunks": 2, "status": 500}))
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass
