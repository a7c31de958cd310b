"""Properties that hold for any valid chat request, checked over HTTP against a real fake."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from gatedrill.fakes import FakeServer
from gatedrill.fakes.tokenizer import count_approx

WINDOW = 400

text = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=80)


@st.composite
def chat_requests(draw: st.DrawFn) -> dict[str, Any]:
    turns = draw(st.integers(1, 4))
    messages: list[dict[str, Any]] = []
    if draw(st.booleans()):
        messages.append({"role": "system", "content": draw(text)})
    for i in range(turns):
        messages.append({"role": "user", "content": draw(text)})
        if i < turns - 1:
            messages.append({"role": "assistant", "content": draw(text)})
    body: dict[str, Any] = {"model": "small", "messages": messages}
    if draw(st.booleans()):
        body["max_tokens"] = draw(st.integers(1, 40))
    if draw(st.booleans()):
        body["stop"] = draw(st.lists(st.sampled_from([" the", ".", " and", "zz"]), min_size=1, max_size=2))
    if draw(st.booleans()):
        body["seed"] = draw(st.integers(0, 2**31))
    body["n"] = draw(st.sampled_from([1, 1, 2]))
    return body


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    cfg = {"provider": "openai", "models": [{"id": "small", "context_window": WINDOW}],
           "reply": {"output_tokens": {"dist": "uniform", "low": 1, "high": 30}}}
    with FakeServer(cfg) as srv, httpx.Client(base_url=srv.url, headers={"authorization": "Bearer k"}) as c:
        c.headers["x-test-fake-url"] = srv.url
        yield c


def sse_chunks(raw: bytes) -> list[dict[str, Any]]:
    events = [e for e in raw.split(b"\n\n") if e.strip()]
    assert events[-1] == b"data: [DONE]"
    return [orjson.loads(e[len(b"data: "):]) for e in events[:-1]]


def prompt_tokens(body: dict[str, Any]) -> int:
    """OpenAI's published recipe: 3 per message plus its content, 3 to prime the reply."""
    return 3 + sum(3 + count_approx(m["content"]) for m in body["messages"])


@given(chat_requests())
def test_reply_and_stream_validate_against_openai_types_and_agree(client: httpx.Client, body: dict) -> None:
    r = client.post("/v1/chat/completions", json=body)
    if prompt_tokens(body) + body.get("max_tokens", 0) > WINDOW:
        assert r.status_code == 400 and r.json()["error"]["code"] == "context_length_exceeded"
        return
    assert r.status_code == 200, r.text
    reply = ChatCompletion.model_validate(r.json())
    s = client.post("/v1/chat/completions", json={**body, "stream": True, "stream_options": {"include_usage": True}})
    assert s.status_code == 200 and s.headers["content-type"].startswith("text/event-stream")
    chunks = [ChatCompletionChunk.model_validate(c) for c in sse_chunks(s.content)]
    streamed: dict[int, str] = {}
    finish: dict[int, str | None] = {}
    for ch in chunks:
        for choice in ch.choices:
            streamed[choice.index] = streamed.get(choice.index, "") + (choice.delta.content or "")
            finish[choice.index] = choice.finish_reason or finish.get(choice.index)
    assert len(reply.choices) == body["n"]
    for choice in reply.choices:
        assert streamed[choice.index] == choice.message.content
        assert finish[choice.index] == choice.finish_reason
        if body.get("max_tokens") is not None:
            assert count_approx(choice.message.content or "") <= body["max_tokens"]
        for stop in body.get("stop", []):
            assert stop not in (choice.message.content or "")
    usage = chunks[-1].usage
    assert usage is not None and usage == reply.usage
    assert reply.usage is not None
    assert reply.usage.completion_tokens == sum(count_approx(c.message.content or "") for c in reply.choices)
    assert reply.usage.prompt_tokens == prompt_tokens(body)


@given(st.lists(text, min_size=1, max_size=3))
def test_context_window_boundary_is_exact(client: httpx.Client, contents: list[str]) -> None:
    body = {"model": "small", "messages": [{"role": "user", "content": c} for c in contents]}
    room = WINDOW - prompt_tokens(body)
    if room < 1:
        r = client.post("/v1/chat/completions", json={**body, "max_tokens": 1})
        assert r.status_code == 400
        return
    ok = client.post("/v1/chat/completions", json={**body, "max_tokens": room})
    assert ok.status_code == 200, ok.text
    over = client.post("/v1/chat/completions", json={**body, "max_tokens": room + 1})
    assert over.status_code == 400
    err = over.json()["error"]
    assert err["code"] == "context_length_exceeded" and err["param"] == "messages"
    assert err["message"].startswith(
        f"This model's maximum context length is {WINDOW} tokens. However, your messages resulted in "
        f"{prompt_tokens(body)} tokens.")


@given(chat_requests())
def test_same_request_same_seed_same_reply(client: httpx.Client, body: dict) -> None:
    a = client.post("/v1/chat/completions", json=body)
    b = client.post("/v1/chat/completions", json=body)
    if a.status_code != 200:
        assert b.status_code == a.status_code
        return
    assert [c["message"]["content"] for c in a.json()["choices"]] == [
        c["message"]["content"] for c in b.json()["choices"]]
