"""The fakes validate themselves against the curated documents: every JSON body, every SSE event and every error
body a fake emits for generated requests conforms to contracts/openapi/{openai,anthropic}.yaml."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatedrill.contracts.strategies import anthropic_messages_requests, openai_chat_requests
from gatedrill.contracts.validate import StreamSummary, anthropic_error_type_matches, check_response
from gatedrill.fakes import FakeServer

SETTINGS = settings(max_examples=40, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
OPENAI_HEADERS = {"authorization": "Bearer sk-contract"}
ANTHROPIC_HEADERS = {"x-api-key": "sk-ant-contract", "anthropic-version": "2023-06-01"}


@pytest.fixture(scope="module")
def openai_fake() -> Iterator[FakeServer]:
    with FakeServer(provider="openai", seed=7) as srv:
        yield srv


@pytest.fixture(scope="module")
def anthropic_fake() -> Iterator[FakeServer]:
    with FakeServer(provider="anthropic", seed=7) as srv:
        yield srv


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c


def openai_chats() -> st.SearchStrategy[dict[str, Any]]:
    """contracts.strategies' OpenAI requests (tools, n, stop, sampling, streams with and without usage)."""
    return st.sampled_from(["gpt-4o-mini", "gpt-4o"]).flatmap(lambda m: openai_chat_requests(model=m, stream=None))


def anthropic_messages() -> st.SearchStrategy[dict[str, Any]]:
    return st.sampled_from(["claude-haiku-4-5", "claude-sonnet-4-5"]).flatmap(
        lambda m: anthropic_messages_requests(model=m, stream=None))


def _judge(doc: str, path: str, r: httpx.Response) -> Any:
    return check_response(doc, "post", path, r.status_code, r.headers.get("content-type"), r.content, dict(r.headers))


@SETTINGS
@given(body=openai_chats())
def test_openai_chat_replies_and_chunks_conform(openai_fake: FakeServer, client: httpx.Client,
                                                body: dict[str, Any]) -> None:
    r = client.post(openai_fake.url + "/v1/chat/completions", json=body, headers=OPENAI_HEADERS)
    assert r.status_code == 200, r.text
    out = _judge("openai", "/v1/chat/completions", r)
    if body.get("stream"):
        assert isinstance(out, StreamSummary) and out.done
        assert sorted(out.finish) == list(range(body.get("n", 1)))
        assert (out.usage is not None) == bool(body.get("stream_options"))
    else:
        assert len(out["choices"]) == body.get("n", 1)


@SETTINGS
@given(body=anthropic_messages())
def test_anthropic_messages_and_every_event_type_conform(anthropic_fake: FakeServer, client: httpx.Client,
                                                         body: dict[str, Any]) -> None:
    r = client.post(anthropic_fake.url + "/v1/messages", json=body, headers=ANTHROPIC_HEADERS)
    assert r.status_code == 200, r.text
    out = _judge("anthropic", "/v1/messages", r)
    if body.get("stream"):
        assert isinstance(out, StreamSummary) and out.done and out.error is None
    else:
        assert out["type"] == "message"


OPENAI_STATUSES = [400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504, 529]
ANTHROPIC_STATUSES = [400, 401, 402, 403, 404, 413, 429, 500, 504, 529]


@SETTINGS
@given(status=st.sampled_from(OPENAI_STATUSES), retry_after=st.none() | st.floats(0, 30), body=openai_chats())
def test_openai_fault_errors_conform(openai_fake: FakeServer, client: httpx.Client, status: int,
                                     retry_after: float | None, body: dict[str, Any]) -> None:
    fault = {"kind": "http_error", "status": status, "retry_after": retry_after}
    r = client.post(openai_fake.url + "/v1/chat/completions", json=body,
                    headers={**OPENAI_HEADERS, "x-gatedrill-fault": json.dumps(fault)})
    assert r.status_code == status
    _judge("openai", "/v1/chat/completions", r)
    if status == 429:
        assert r.headers["retry-after"].isdigit()


@SETTINGS
@given(status=st.sampled_from(ANTHROPIC_STATUSES), retry_after=st.none() | st.floats(0, 30),
       body=anthropic_messages())
def test_anthropic_fault_errors_conform_and_match_the_status_type_map(anthropic_fake: FakeServer,
                                                                      client: httpx.Client, status: int,
                                                                      retry_after: float | None,
                                                                      body: dict[str, Any]) -> None:
    fault = {"kind": "http_error", "status": status, "retry_after": retry_after}
    r = client.post(anthropic_fake.url + "/v1/messages", json=body,
                    headers={**ANTHROPIC_HEADERS, "x-gatedrill-fault": json.dumps(fault)})
    assert r.status_code == status
    anthropic_error_type_matches(status, _judge("anthropic", "/v1/messages", r))


@SETTINGS
@given(after=st.integers(0, 6), status=st.sampled_from([500, 503, 529]), body=openai_chats())
def test_openai_mid_stream_errors_conform(openai_fake: FakeServer, client: httpx.Client, after: int, status: int,
                                          body: dict[str, Any]) -> None:
    fault = {"kind": "stream_error", "status": status, "after_chunks": after}
    r = client.post(openai_fake.url + "/v1/chat/completions", json={**body, "stream": True, "n": 1},
                    headers={**OPENAI_HEADERS, "x-gatedrill-fault": json.dumps(fault)})
    out = _judge("openai", "/v1/chat/completions", r)
    assert out.done or out.error is not None


@SETTINGS
@given(after=st.integers(0, 6), status=st.sampled_from([500, 529]), body=anthropic_messages())
def test_anthropic_error_events_conform(anthropic_fake: FakeServer, client: httpx.Client, after: int, status: int,
                                        body: dict[str, Any]) -> None:
    fault = {"kind": "stream_error", "status": status, "after_chunks": after}
    r = client.post(anthropic_fake.url + "/v1/messages", json={**body, "stream": True},
                    headers={**ANTHROPIC_HEADERS, "x-gatedrill-fault": json.dumps(fault)})
    out = _judge("anthropic", "/v1/messages", r)
    assert out.done or out.error is not None
    if out.error is not None:
        anthropic_error_type_matches(status, {"error": out.error})


def test_rate_limit_and_context_errors_conform(client: httpx.Client) -> None:
    """The 429 of a real rate limit (with its x-ratelimit headers) and the context-window 400 of each provider."""
    models = [{"id": "tiny", "context_window": 40, "rpm": 1}]
    with FakeServer(provider="openai", models=models) as o, FakeServer(provider="anthropic", models=models) as a:
        small = {"model": "tiny", "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]}
        big = {**small, "messages": [{"role": "user", "content": "word " * 200}]}
        for srv, path, doc, headers in ((o, "/v1/chat/completions", "openai", OPENAI_HEADERS),
                                        (a, "/v1/messages", "anthropic", ANTHROPIC_HEADERS)):
            over = client.post(srv.url + path, json=big, headers=headers)
            assert over.status_code == 400
            _judge(doc, path, over)
            client.post(srv.url + path, json=small, headers=headers)
            limited = client.post(srv.url + path, json=small, headers=headers)
            assert limited.status_code == 429
            _judge(doc, path, limited)


def test_models_and_embeddings_conform(openai_fake: FakeServer, anthropic_fake: FakeServer,
                                       client: httpx.Client) -> None:
    for srv, doc, headers in ((openai_fake, "openai", OPENAI_HEADERS), (anthropic_fake, "anthropic",
                                                                         ANTHROPIC_HEADERS)):
        r = client.get(srv.url + "/v1/models", headers=headers)
        check_response(doc, "get", "/v1/models", r.status_code, r.headers.get("content-type"), r.content)
    for fmt in ("float", "base64"):
        r = client.post(openai_fake.url + "/v1/embeddings", headers=OPENAI_HEADERS,
                        json={"model": "text-embedding-3-small", "input": ["a", "b"], "encoding_format": fmt})
        _judge("openai", "/v1/embeddings", r)
    r = client.post(anthropic_fake.url + "/v1/messages/count_tokens", headers=ANTHROPIC_HEADERS,
                    json={"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "hi"}]})
    _judge("anthropic", "/v1/messages/count_tokens", r)


def _anthropic_error_type(ctx: Any, response: Any, case: Any) -> bool | None:
    if response.status_code >= 400:
        anthropic_error_type_matches(response.status_code, json.loads(response.content))
    return None


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_every_response_to_schemathesis_requests_valid_or_not_is_documented(provider: str) -> None:
    """Schemathesis drives each fake from its own document, positive and negative: every status, content type,
    header and body the fake answers with is documented (errors included, in the provider's envelope)."""
    import schemathesis
    from schemathesis import GenerationMode
    from schemathesis.checks import CHECKS, load_all_checks

    from gatedrill.contracts.documents import document

    load_all_checks()
    checks = [CHECKS.get_one(name) for name in ("not_a_server_error", "status_code_conformance",
                                                "content_type_conformance", "response_schema_conformance",
                                                "response_headers_conformance")]
    if provider == "anthropic":
        checks.append(_anthropic_error_type)
    headers = OPENAI_HEADERS if provider == "openai" else ANTHROPIC_HEADERS
    schema = schemathesis.openapi.from_dict(document(provider),
                                            config=schemathesis.Config.from_dict({"max-stream-events": 100_000}))
    calls = 0
    with FakeServer(provider=provider) as srv:
        for result in schema.get_all_operations():
            op = result.ok()
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                if mode is GenerationMode.NEGATIVE and op.method.upper() == "GET":
                    continue  # nothing to negate

                @settings(max_examples=25, deadline=None, database=None, derandomize=True,
                          suppress_health_check=list(HealthCheck))
                @given(case=op.as_strategy(generation_mode=mode))
                def call(case: Any) -> None:
                    nonlocal calls
                    calls += 1
                    case.call_and_validate(base_url=srv.url, headers=headers, checks=checks, timeout=10)

                call()
    assert calls > 100
