"""Fidelity gaps the official OpenAI OpenAPI document found: null echoes, tool_choice types, listed parameters,
percent-encoded model ids, embedding models on chat, and max_tokens above a model's output limit."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from gatedrill.fakes import FakeServer

HI = [{"role": "user", "content": "hi"}]
FT = "ft:gpt-4o-mini:acme:custom:abc123"


@pytest.fixture(scope="module")
def openai() -> Iterator[httpx.Client]:
    models = [{"id": "gpt-4o-mini", "max_output_tokens": 16_384}, {"id": FT},
              {"id": "text-embedding-3-small", "context_window": 8191, "max_output_tokens": 1}]
    with FakeServer(provider="openai", models=models) as srv, \
            httpx.Client(base_url=srv.url, headers={"authorization": "Bearer sk-x"}, timeout=10) as c:
        yield c


@pytest.fixture(scope="module")
def anthropic() -> Iterator[httpx.Client]:
    with FakeServer(provider="anthropic") as srv, httpx.Client(
            base_url=srv.url, headers={"x-api-key": "sk-ant-x", "anthropic-version": "2023-06-01"}, timeout=10) as c:
        yield c


@pytest.mark.parametrize("key, default", [("parallel_tool_calls", True), ("store", True), ("background", False)])
def test_responses_echo_the_default_for_a_null_parameter(openai: httpx.Client, key: str, default: bool) -> None:
    r = openai.post("/v1/responses", json={"model": "gpt-4o-mini", "input": "hi", key: None})
    assert r.status_code == 200 and r.json()[key] is default


@pytest.mark.parametrize("choice", [{"type": ""}, {"type": "telepathy"}])
def test_responses_reject_an_unknown_tool_choice_type(openai: httpx.Client, choice: dict) -> None:
    r = openai.post("/v1/responses", json={"model": "gpt-4o-mini", "input": "hi", "tool_choice": choice})
    assert r.status_code == 400 and r.json()["error"]["param"] == "tool_choice.type"


@pytest.mark.parametrize("param, value", [("prompt_cache_retention", "24h"), ("prompt_cache_options", {}),
                                          ("moderation", {})])
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/responses"])
def test_parameters_the_spec_lists_are_accepted(openai: httpx.Client, path: str, param: str, value: object) -> None:
    body = {"model": "gpt-4o-mini", param: value, **({"messages": HI} if "chat" in path else {"input": "hi"})}
    r = openai.post(path, json=body)
    assert r.status_code == 200, r.text


def test_a_model_id_in_the_path_is_percent_decoded(openai: httpx.Client) -> None:
    r = openai.get("/v1/models/" + FT.replace(":", "%3A"))
    assert r.status_code == 200 and r.json()["id"] == FT


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/responses"])
def test_an_embedding_model_cannot_chat(openai: httpx.Client, path: str) -> None:
    body = {"model": "text-embedding-3-small", **({"messages": HI} if "chat" in path else {"input": "hi"})}
    r = openai.post(path, json=body)
    assert r.status_code == 404 and "not a chat model" in r.json()["error"]["message"]
    assert openai.post("/v1/embeddings", json={"model": "text-embedding-3-small", "input": "hi"}).status_code == 200


def test_openai_max_tokens_above_the_output_limit_is_a_400(openai: httpx.Client) -> None:
    r = openai.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": HI, "max_tokens": 100_000})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "invalid_value" and err["param"] == "max_tokens"
    assert err["message"].startswith("max_tokens is too large: 100000. This model supports at most 16384")
    ok = openai.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": HI, "max_tokens": 16_384})
    assert ok.status_code == 200


def test_anthropic_max_tokens_above_the_output_limit_is_a_400(anthropic: httpx.Client) -> None:
    r = anthropic.post("/v1/messages", json={"model": "claude-haiku-4-5", "messages": HI, "max_tokens": 100_000})
    assert r.status_code == 400
    assert r.json()["error"]["message"].startswith("max_tokens: 100000 > 64000")


def test_chat_accepts_custom_tools_and_custom_tool_calls(openai: httpx.Client) -> None:
    custom_tool = {"type": "custom", "custom": {"name": "sql", "description": "run SQL"}}
    history = [{"role": "user", "content": "count rows"},
               {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "custom",
                                                     "custom": {"name": "sql", "input": "select count(*) from t"}}]},
               {"role": "tool", "tool_call_id": "call_1", "content": "42"}]
    r = openai.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": history,
                                                  "tools": [custom_tool], "tool_choice": "auto"})
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"]
    bad = openai.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": HI,
                                                    "tools": [{"type": "custom", "custom": {}}]})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "tools[0].custom.name"


@pytest.mark.parametrize("tool", [{"type": "programmatic_tool_calling"}, {"type": "namespace"}])
def test_responses_accept_every_tool_type_the_spec_lists(openai: httpx.Client, tool: dict) -> None:
    r = openai.post("/v1/responses", json={"model": "gpt-4o-mini", "input": "hi", "tools": [tool]})
    assert r.status_code == 200, r.text


def test_an_empty_tool_name_gets_a_message_that_says_so(openai: httpx.Client) -> None:
    r = openai.post("/v1/responses", json={"model": "gpt-4o-mini", "input": "hi",
                                           "tools": [{"type": "function", "name": ""}]})
    assert r.status_code == 400 and "string too short" in r.json()["error"]["message"]


@pytest.mark.parametrize("item", ["tool_search_output", "additional_tools", "program", "program_output"])
def test_responses_accept_every_input_item_type_the_spec_lists(openai: httpx.Client, item: str) -> None:
    r = openai.post("/v1/responses", json={"model": "gpt-4o-mini",
                                           "input": [{"type": item}, {"role": "user", "content": "hi"}]})
    assert r.status_code == 200, r.text
