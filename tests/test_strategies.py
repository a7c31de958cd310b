"""The request strategies draw only what the providers accept (the fakes apply their validation), the
converter keeps every piece of the conversation, "near the window" agrees with how the fakes count, and
failing examples shrink to small ones."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from gatedrill.contracts import strategies as cs
from gatedrill.fakes import anthropic_atoms, openai_atoms
from gatedrill.fakes.interception import Interception, intercept

FEW = settings(max_examples=40, deadline=None, derandomize=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
OPENAI_URL = "https://api.openai.com/v1/chat/completions"
ANTHROPIC_URL = "https://api.anthropic.com/v1/messages"
ANTHROPIC_HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[Interception, httpx.Client]]:
    with intercept("openai", "anthropic") as ic, httpx.Client(timeout=10) as client:
        yield ic, client


def post(client: httpx.Client, dialect: str, body: dict[str, Any], host: str | None = None) -> httpx.Response:
    if dialect == "anthropic":
        url = ANTHROPIC_URL.replace("api.anthropic.com", host or "api.anthropic.com")
        return client.post(url, json=body, headers=ANTHROPIC_HEADERS)
    url = OPENAI_URL.replace("api.openai.com", host or "api.openai.com")
    return client.post(url, json=body, headers={"authorization": "Bearer k"})


def accepted(response: httpx.Response) -> bool:
    return response.status_code == 200


# -- the fakes accept what is drawn ------------------------------------------------------------------------


@FEW
@given(body=cs.openai_chat_requests(stream=None))
def test_openai_requests_are_accepted_by_the_openai_fake(fakes: Any, body: dict[str, Any]) -> None:
    r = post(fakes[1], "openai", body)
    assert accepted(r), r.text


@FEW
@given(body=cs.openai_chat_requests(empty=True, long=False))
def test_openai_requests_with_empty_messages_are_accepted_by_the_openai_fake(fakes: Any, body: dict[str, Any]) -> None:
    r = post(fakes[1], "openai", body)
    assert accepted(r), r.text


@FEW
@given(body=cs.anthropic_messages_requests(stream=None))
def test_anthropic_requests_are_accepted_by_the_anthropic_fake(fakes: Any, body: dict[str, Any]) -> None:
    r = post(fakes[1], "anthropic", body)
    assert accepted(r), r.text


@FEW
@given(conversation=cs.anthropic_conversations(long=False),
       params=cs.sampling_params("anthropic"))
def test_anthropic_conversations_with_anthropic_params_are_accepted(
        fakes: Any, conversation: dict[str, Any], params: dict[str, Any]) -> None:
    r = post(fakes[1], "anthropic", {"model": cs.ANTHROPIC_MODEL, **conversation, **params})
    assert accepted(r), r.text


@FEW
@given(body=cs.openai_chat_requests(model=cs.ANTHROPIC_MODEL, tools=True, portable=True, long=False))
def test_converted_requests_pass_the_anthropic_fake_and_keep_the_conversation(
        fakes: Any, body: dict[str, Any]) -> None:
    converted = cs.to_anthropic(body)
    r = post(fakes[1], "anthropic", converted)
    assert accepted(r), r.text
    assert anthropic_atoms(converted.get("system"), converted["messages"]) == openai_atoms(body["messages"])
    roles = [m["role"] for m in converted["messages"]]
    assert all(a != b for a, b in itertools.pairwise(roles)), roles


def test_converter_hoists_system_merges_turns_and_places_tool_results_first() -> None:
    body = {"model": "m", "max_tokens": 5, "stop": "END", "user": "u1", "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "a"}, {"role": "user", "content": [{"type": "text", "text": "b"}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "42"},
        {"role": "user", "content": "thanks"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "tool_choice": "required", "seed": 7}
    assert cs.to_anthropic(body) == {
        "model": "m", "system": "be brief", "max_tokens": 5, "stop_sequences": ["END"],
        "metadata": {"user_id": "u1"}, "tool_choice": {"type": "any"},
        "tools": [{"name": "f", "description": "", "input_schema": {"type": "object"}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "call_1", "name": "f", "input": {"x": 1}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "42"},
                                         {"type": "text", "text": "thanks"}]}]}


# -- near the context window -------------------------------------------------------------------------------

WINDOW = 600


@pytest.fixture(scope="module")
def small_window() -> Iterator[tuple[Interception, httpx.Client]]:
    models = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5"}
    configs = [{"name": f"small-{p}", "provider": p, "models": [{"id": m, "context_window": WINDOW}]}
               for p, m in models.items()]
    hosts = {f"small-{p}": f"{p}.small-window.test" for p in models}
    with intercept(*configs, hosts=hosts) as ic, httpx.Client(timeout=10) as client:
        yield ic, client


@FEW
@given(data=st.data(), dialect=st.sampled_from(["openai", "anthropic"]))
def test_requests_near_the_window_land_on_the_side_the_fake_agrees_with(
        small_window: Any, data: st.DataObject, dialect: str) -> None:
    body = data.draw(cs.requests_near_window(WINDOW, dialect, slack=5))  # type: ignore[arg-type]
    over = cs.window_overshoot(body, WINDOW, dialect)  # type: ignore[arg-type]
    assert -5 <= over <= 5
    r = post(small_window[1], dialect, body, host=f"{dialect}.small-window.test")
    assert r.status_code == (400 if over > 0 else 200), r.text
    if over > 0:
        assert "context" in r.text or "too long" in r.text


@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
def test_both_sides_of_the_window_are_drawn(dialect: str) -> None:
    near = cs.requests_near_window(WINDOW, dialect, slack=3)  # type: ignore[arg-type]
    quick = settings(database=None, derandomize=True, max_examples=200)
    over = find(near, lambda b: cs.window_overshoot(b, WINDOW, dialect) > 0, settings=quick)  # type: ignore[arg-type]
    under = find(near, lambda b: cs.window_overshoot(b, WINDOW, dialect) <= 0, settings=quick)  # type: ignore[arg-type]
    assert cs.window_overshoot(over, WINDOW, dialect) == 1  # type: ignore[arg-type]
    assert -3 <= cs.window_overshoot(under, WINDOW, dialect) <= 0  # type: ignore[arg-type]


# -- shrinking ---------------------------------------------------------------------------------------------


def test_a_conversation_with_a_tool_call_shrinks_to_the_smallest_one() -> None:
    body = find(cs.openai_chat_requests(tools=True), lambda b: any(m.get("tool_calls") for m in b["messages"]),
                settings=settings(database=None, max_examples=500, derandomize=True))
    messages = body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool"], messages
    (call,) = messages[1]["tool_calls"]
    assert call["function"]["arguments"] == "{}" and len(call["id"]) <= len("call_0")
    assert messages[0]["content"] == "0" and messages[2]["content"] == "0"
    assert set(body) == {"model", "messages", "tools"} and len(body["tools"]) == 1


def test_any_request_shrinks_to_one_short_user_message() -> None:
    body = find(cs.openai_chat_requests(), lambda b: True, settings=settings(database=None, derandomize=True))
    assert body == {"model": cs.OPENAI_MODEL, "messages": [{"role": "user", "content": "0"}]}
