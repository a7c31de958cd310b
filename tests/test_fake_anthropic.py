"""The Anthropic fake, seen through the official `anthropic` SDK (sync and async) and raw HTTP on 127.0.0.1.

Each test pins one behaviour of the real API: reply and stream shapes, system prompts, tools, stop
reasons, the error envelope and the SDK exception each status maps to, retry-after, mid-stream errors,
the context-window boundary, count_tokens, models, auth and validation messages, and the journal.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import anthropic
import httpx2
import pytest
from anthropic.types import Message, TextBlock, ToolUseBlock

from gatedrill.fakes import FakeServer

MODEL = "claude-haiku-4-5"
VERSION = {"anthropic-version": "2023-06-01"}
HEADERS = {"x-api-key": "sk-ant-test-key", **VERSION}
USER = [{"role": "user", "content": "Tell me something."}]
WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture(scope="module")
def srv() -> Iterator[FakeServer]:
    with FakeServer(provider="anthropic") as server:
        yield server


@pytest.fixture()
def fresh(srv: FakeServer) -> FakeServer:
    srv.reset()
    return srv


def client(server: FakeServer, **kw: Any) -> anthropic.Anthropic:
    kw.setdefault("max_retries", 0)
    return anthropic.Anthropic(base_url=server.url, api_key="sk-ant-test-key", **kw)


def fault(spec: dict[str, Any]) -> dict[str, str]:
    return {"x-gatedrill-fault": json.dumps(spec)}


def sse_events(raw: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in raw.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        out.append((lines["event"], json.loads(lines["data"])))
    return out


# -- replies -------------------------------------------------------------------------------------------------


def test_reply_parses_into_sdk_message_with_anthropic_ids_and_usage(fresh: FakeServer) -> None:
    msg = client(fresh).messages.create(model=MODEL, max_tokens=100, messages=USER)
    assert isinstance(msg, Message)
    assert msg.id.startswith("msg_") and msg.type == "message" and msg.role == "assistant"
    assert msg.model == MODEL
    assert isinstance(msg.content[0], TextBlock) and msg.content[0].text
    assert msg.stop_reason == "end_turn" and msg.stop_sequence is None
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0
    assert msg.usage.cache_creation_input_tokens == 0 and msg.usage.cache_read_input_tokens == 0


def test_streamed_text_reassembles_to_the_non_streamed_text(fresh: FakeServer) -> None:
    c = client(fresh)
    full = c.messages.create(model=MODEL, max_tokens=100, messages=USER)
    with c.messages.stream(model=MODEL, max_tokens=100, messages=USER) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) > 1
    assert "".join(pieces) == full.content[0].text == final.content[0].text
    assert final.usage.output_tokens == full.usage.output_tokens
    assert final.usage.input_tokens == full.usage.input_tokens
    raw = c.messages.create(model=MODEL, max_tokens=100, messages=USER, stream=True)
    deltas = [ev.delta.text for ev in raw if ev.type == "content_block_delta"]
    assert "".join(deltas) == full.content[0].text


def test_stream_sends_typed_events_in_the_api_order_with_a_ping(fresh: FakeServer) -> None:
    body = {"model": MODEL, "max_tokens": 100, "messages": USER, "stream": True}
    r = httpx2.post(fresh.url + "/v1/messages", headers=HEADERS, json=body)
    assert r.headers["content-type"].startswith("text/event-stream")
    names = [name for name, _ in sse_events(r.text)]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert set(names[3:-3]) == {"content_block_delta"}
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    events = dict(sse_events(r.text))
    assert events["message_delta"]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert events["message_delta"]["usage"]["output_tokens"] > 0


def test_async_client_gets_the_same_reply_streamed_and_not(fresh: FakeServer) -> None:
    async def run() -> tuple[str, str]:
        c = anthropic.AsyncAnthropic(base_url=fresh.url, api_key="k", max_retries=0)
        full = await c.messages.create(model=MODEL, max_tokens=100, messages=USER)
        async with c.messages.stream(model=MODEL, max_tokens=100, messages=USER) as stream:
            text = "".join([t async for t in stream.text_stream])
        await c.close()
        assert isinstance(full.content[0], TextBlock)
        return full.content[0].text, text

    full, streamed = asyncio.run(run())
    assert full and full == streamed


def test_system_as_string_or_text_blocks_is_the_same_conversation() -> None:
    with FakeServer(provider="anthropic", reply={"mode": "witness"}) as server:
        c = client(server)

        def witness(**kw: Any) -> str:
            block = c.messages.create(model=MODEL, max_tokens=100, messages=USER, **kw).content[0]
            assert isinstance(block, TextBlock)
            return block.text

        as_string = witness(system="You are terse.")
        as_blocks = witness(system=[{"type": "text", "text": "You are terse."}])
        without = witness()
    assert as_string == as_blocks
    assert "atoms=2" in as_string and "atoms=1" in without
    assert as_string != without


def test_tool_use_reply_then_tool_result_turn_gets_text(fresh: FakeServer) -> None:
    c = client(fresh)
    asked = [{"role": "user", "content": "Weather in Paris?"}]
    first = c.messages.create(model=MODEL, max_tokens=200, tools=[WEATHER], messages=asked)
    assert first.stop_reason == "tool_use"
    use = first.content[0]
    assert isinstance(use, ToolUseBlock)
    assert use.id.startswith("toolu_") and use.name == "get_weather" and isinstance(use.input["city"], str)
    history = [*asked, {"role": "assistant", "content": [use.model_dump(include={"type", "id", "name", "input"})]},
               {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "21 C"}]}]
    second = c.messages.create(model=MODEL, max_tokens=200, tools=[WEATHER], messages=history)
    assert second.stop_reason == "end_turn" and isinstance(second.content[0], TextBlock)
    entry = fresh.entries()[0]
    assert entry.reply["choices"][0]["tool_calls"][0]["id"] == use.id  # the journal keeps the id the client saw


def test_streamed_tool_use_arrives_as_input_json_deltas(fresh: FakeServer) -> None:
    c = client(fresh)
    with c.messages.stream(model=MODEL, max_tokens=200, tools=[WEATHER], messages=USER) as stream:
        kinds = [ev.delta.type for ev in stream if ev.type == "content_block_delta"]
        final = stream.get_final_message()
    assert set(kinds) == {"input_json_delta"} and len(kinds) >= 2
    block = final.content[0]
    assert isinstance(block, ToolUseBlock) and isinstance(block.input["city"], str)
    assert final.stop_reason == "tool_use"


def test_tool_use_without_a_tool_result_in_the_next_message_is_rejected(fresh: FakeServer) -> None:
    history = [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_01A", "name": "get_weather",
                                           "input": {"city": "Oslo"}}]},
        {"role": "user", "content": "Well?"},
    ]
    with pytest.raises(anthropic.BadRequestError) as info:
        client(fresh).messages.create(model=MODEL, max_tokens=50, tools=[WEATHER], messages=history)
    assert info.value.body["error"]["message"] == (
        "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_01A. Each "
        "`tool_use` block must have a corresponding `tool_result` block in the next message.")


def test_stop_sequence_cuts_the_reply_and_is_reported(fresh: FakeServer) -> None:
    with FakeServer(provider="anthropic", reply={"mode": "script", "rules": [
            {"reply": "alpha beta STOP gamma delta"}]}) as server:
        c = client(server)
        msg = c.messages.create(model=MODEL, max_tokens=100, messages=USER, stop_sequences=["STOP", "delta"])
        with c.messages.stream(model=MODEL, max_tokens=100, messages=USER, stop_sequences=["STOP"]) as stream:
            streamed = stream.get_final_message()
    assert msg.stop_reason == "stop_sequence" and msg.stop_sequence == "STOP"
    assert isinstance(msg.content[0], TextBlock) and msg.content[0].text == "alpha beta "
    assert streamed.stop_reason == "stop_sequence" and streamed.stop_sequence == "STOP"


def test_max_tokens_cuts_the_reply_with_stop_reason_max_tokens() -> None:
    with FakeServer(provider="anthropic", reply={"output_tokens": {"dist": "fixed", "value": 40}}) as server:
        msg = client(server).messages.create(model=MODEL, max_tokens=5, messages=USER)
    assert msg.stop_reason == "max_tokens"
    assert msg.usage.output_tokens == 5


# -- errors --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "exc_type", "etype", "message"), [
    (429, anthropic.RateLimitError, "rate_limit_error",
     "This request would exceed your account's rate limit. Please try again later."),
    (500, anthropic.InternalServerError, "api_error", "Internal server error"),
    (529, anthropic.OverloadedError, "overloaded_error", "Overloaded"),
    (413, anthropic.RequestTooLargeError, "request_too_large", "Request exceeds the maximum size"),
    (403, anthropic.PermissionDeniedError, "permission_error",
     "Your API key does not have permission to use the specified resource."),
    (401, anthropic.AuthenticationError, "authentication_error", "invalid x-api-key"),
])
def test_injected_http_error_surfaces_as_the_sdk_exception_with_the_exact_envelope(
        fresh: FakeServer, status: int, exc_type: type[anthropic.APIStatusError], etype: str, message: str) -> None:
    with pytest.raises(exc_type) as info:
        client(fresh).messages.create(model=MODEL, max_tokens=50, messages=USER,
                                      extra_headers=fault({"kind": "http_error", "status": status}))
    err = info.value
    assert err.status_code == status
    request_id = err.response.headers["request-id"]
    assert request_id.startswith("req_")
    assert err.body == {"type": "error", "error": {"type": etype, "message": message}, "request_id": request_id}
    assert fresh.entries()[-1].fault == "http_error"


def test_529_with_retry_after_sends_seconds_and_milliseconds(fresh: FakeServer) -> None:
    with pytest.raises(anthropic.OverloadedError) as info:
        client(fresh).messages.create(model=MODEL, max_tokens=50, messages=USER,
                                      extra_headers=fault({"kind": "http_error", "status": 529, "retry_after": 2.5}))
    assert info.value.response.headers["retry-after"] == "3"
    assert info.value.response.headers["retry-after-ms"] == "2500"


def test_sdk_retry_waits_for_retry_after(fresh: FakeServer) -> None:
    fresh.set_faults([{"fault": {"kind": "http_error", "status": 429, "retry_after": 1.0},
                       "when": {"first_n": 1}}])
    try:
        msg = client(fresh, max_retries=1).messages.create(model=MODEL, max_tokens=50, messages=USER)
    finally:
        fresh.clear_faults()
    assert msg.stop_reason == "end_turn"
    first, second = fresh.entries()
    assert (first.status, second.status) == (429, 200)
    # Without the header the SDK would back off about 0.4-0.5 s; with it, a full second.
    assert second.arrival_mono - first.arrival_mono >= 0.95


def test_mid_stream_error_event_raises_while_iterating(fresh: FakeServer) -> None:
    c = client(fresh)
    headers = fault({"kind": "stream_error", "after_chunks": 2, "status": 529})
    got: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as info, c.messages.stream(
            model=MODEL, max_tokens=100, messages=USER, extra_headers=headers) as stream:
        got.extend(stream.text_stream)
    assert len(got) == 2
    assert info.value.body["type"] == "error"
    assert info.value.body["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    raw = httpx2.post(fresh.url + "/v1/messages", headers={**HEADERS, **headers},
                      json={"model": MODEL, "max_tokens": 100, "messages": USER, "stream": True})
    names = [name for name, _ in sse_events(raw.text)]
    assert raw.status_code == 200 and names[-1] == "error" and "message_stop" not in names


def test_mid_stream_api_error_with_create_stream_true(fresh: FakeServer) -> None:
    stream = client(fresh).messages.create(
        model=MODEL, max_tokens=100, messages=USER, stream=True,
        extra_headers=fault({"kind": "stream_error", "after_chunks": 0, "status": 500}))
    with pytest.raises(anthropic.APIStatusError) as info:
        for _ in stream:
            pass
    assert info.value.body["error"] == {"type": "api_error", "message": "Internal server error"}


def test_malformed_stream_bytes_break_parsing(fresh: FakeServer) -> None:
    stream = client(fresh).messages.create(model=MODEL, max_tokens=100, messages=USER, stream=True,
                                           extra_headers=fault({"kind": "malformed", "after_chunks": 1}))
    with pytest.raises(ValueError):  # json.JSONDecodeError
        for _ in stream:
            pass


def test_unknown_model_is_not_found(fresh: FakeServer) -> None:
    with pytest.raises(anthropic.NotFoundError) as info:
        client(fresh).messages.create(model="claude-nope", max_tokens=50, messages=USER)
    assert info.value.body["error"] == {"type": "not_found_error", "message": "model: claude-nope"}


# -- context window ------------------------------------------------------------------------------------------


def test_context_window_boundary_is_exact() -> None:
    window = 300
    with FakeServer(provider="anthropic", models=[{"id": "claude-small", "context_window": window}]) as server:
        c = client(server)
        prompt = c.messages.count_tokens(model="claude-small", messages=USER).input_tokens
        fits = c.messages.create(model="claude-small", max_tokens=window - prompt, messages=USER)
        assert fits.usage.input_tokens == prompt
        with pytest.raises(anthropic.BadRequestError) as over:
            c.messages.create(model="claude-small", max_tokens=window - prompt + 1, messages=USER)
        long = [{"role": "user", "content": "word " * 400}]
        long_prompt = c.messages.count_tokens(model="claude-small", messages=long).input_tokens
        with pytest.raises(anthropic.BadRequestError) as too_long:
            c.messages.create(model="claude-small", max_tokens=10, messages=long)
    assert over.value.body["error"] == {
        "type": "invalid_request_error",
        "message": f"input length and `max_tokens` exceed context limit: {prompt} + {window - prompt + 1} > "
                   f"{window}, decrease input length or `max_tokens` and try again"}
    assert long_prompt > window
    assert too_long.value.body["error"]["message"] == f"prompt is too long: {long_prompt} tokens > {window} maximum"


# -- other endpoints -----------------------------------------------------------------------------------------


def test_count_tokens_counts_system_tools_and_messages(fresh: FakeServer) -> None:
    c = client(fresh)
    base = c.messages.count_tokens(model=MODEL, messages=USER).input_tokens
    with_system = c.messages.count_tokens(model=MODEL, messages=USER, system="Be brief.").input_tokens
    with_tools = c.messages.count_tokens(model=MODEL, messages=USER, tools=[WEATHER]).input_tokens
    assert 0 < base < with_system and base < with_tools
    assert c.messages.create(model=MODEL, max_tokens=50, messages=USER).usage.input_tokens == base
    with pytest.raises(anthropic.NotFoundError):
        c.messages.count_tokens(model="claude-nope", messages=USER)


def test_models_list_and_retrieve(fresh: FakeServer) -> None:
    c = client(fresh)
    page = c.models.list()
    ids = [m.id for m in page.data]
    assert ids == [m.id for m in fresh.fake.config.models]
    assert page.first_id == ids[0] and page.last_id == ids[-1] and page.has_more is False
    one = c.models.retrieve(MODEL)
    assert one.type == "model" and one.display_name == "Claude Haiku 4.5"
    assert isinstance(one.created_at, datetime) and one.created_at.tzinfo is not None
    with pytest.raises(anthropic.NotFoundError) as info:
        c.models.retrieve("claude-nope")
    assert info.value.body["error"]["message"] == "model: claude-nope"


# -- auth and validation -------------------------------------------------------------------------------------


def post(server: FakeServer, body: Any, headers: dict[str, str] | None = None) -> httpx2.Response:
    return httpx2.post(server.url + "/v1/messages", headers=HEADERS if headers is None else headers, json=body)


def test_missing_key_is_401_and_missing_version_is_400(fresh: FakeServer) -> None:
    body = {"model": MODEL, "max_tokens": 10, "messages": USER}
    no_key = post(fresh, body, VERSION)
    assert no_key.status_code == 401
    assert no_key.json()["error"] == {"type": "authentication_error", "message": "x-api-key header is required"}
    assert no_key.json()["request_id"] == no_key.headers["request-id"]
    no_version = post(fresh, body, {"x-api-key": "k"})
    assert no_version.status_code == 400
    assert no_version.json()["error"] == {"type": "invalid_request_error",
                                          "message": "anthropic-version: header is required"}
    assert post(fresh, body, {"authorization": "Bearer k", **VERSION}).status_code == 200


def test_configured_api_keys_reject_other_keys() -> None:
    with FakeServer(provider="anthropic", api_keys=["sk-ant-good"]) as server:
        with pytest.raises(anthropic.AuthenticationError) as info:
            client(server).messages.create(model=MODEL, max_tokens=10, messages=USER)
        ok = anthropic.Anthropic(base_url=server.url, api_key="sk-ant-good", max_retries=0)
        assert ok.messages.create(model=MODEL, max_tokens=10, messages=USER).type == "message"
    assert info.value.body["error"] == {"type": "authentication_error", "message": "invalid x-api-key"}


@pytest.mark.parametrize(("body", "message"), [
    ({"model": MODEL, "messages": USER}, "max_tokens: Field required"),
    ({"model": MODEL, "max_tokens": "10", "messages": USER}, "max_tokens: Input should be a valid integer"),
    ({"model": MODEL, "max_tokens": 0, "messages": USER}, "max_tokens: Input should be greater than or equal to 1"),
    ({"model": MODEL, "max_tokens": 10}, "messages: Field required"),
    ({"max_tokens": 10, "messages": USER}, "model: Field required"),
    ({"model": MODEL, "max_tokens": 10, "messages": []}, "messages: at least one message is required"),
    ({"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": 5}]},
     "messages.0.content: Input should be a valid list"),
    ({"model": MODEL, "max_tokens": 10, "messages": [{"role": "tool", "content": "x"}]},
     "messages.0.role: Input should be 'user' or 'assistant'"),
    ({"model": MODEL, "max_tokens": 10, "messages": [{"role": "system", "content": "x"}, *USER]},
     'messages: Unexpected role "system". The Messages API accepts a top-level `system` parameter, not '
     '"system" as an input message role.'),
    ({"model": MODEL, "max_tokens": 10, "messages": [{"role": "assistant", "content": "x"}]},
     'messages: first message must use the "user" role'),
    ({"model": MODEL, "max_tokens": 10, "messages": USER, "frequency_penalty": 1},
     "frequency_penalty: Extra inputs are not permitted"),
    ({"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": ""}, *USER]},
     "messages.0: all messages must have non-empty content except for the optional final assistant message"),
    ({"model": MODEL, "max_tokens": 10, "messages": USER, "system": 5}, "system: Input should be a valid list"),
    ({"model": MODEL, "max_tokens": 10, "messages": USER, "temperature": 1.5},
     "temperature: Input should be less than or equal to 1"),
    # a block's field path names its tag, as the API's does (seen in the wild: "messages.1.content.0.tool_use.id:
    # Field required"); the 100,000-request fuzz found the fake leaving the tag out
    ({"model": MODEL, "max_tokens": 10, "messages": [*USER, {"role": "assistant", "content": [
        {"type": "tool_use", "name": "f", "input": {}}]}]}, "messages.1.content.0.tool_use.id: Field required"),
    ({"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": [{"type": "text"}]}]},
     "messages.0.content.0.text.text: Field required"),
])
def test_invalid_request_gets_the_api_validation_message(fresh: FakeServer, body: dict[str, Any],
                                                          message: str) -> None:
    r = post(fresh, body)
    assert r.status_code == 400
    assert r.json()["error"] == {"type": "invalid_request_error", "message": message}


def test_validation_errors_surface_as_bad_request_in_the_sdk(fresh: FakeServer) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        client(fresh).messages.create(model=MODEL, max_tokens=10, messages=[{"role": "assistant", "content": "x"}])
    assert info.value.body["error"]["type"] == "invalid_request_error"


# -- journal and rate limits ---------------------------------------------------------------------------------


def test_journal_has_one_entry_per_request_with_the_key_redacted(fresh: FakeServer) -> None:
    c = client(fresh)
    c.messages.create(model=MODEL, max_tokens=50, messages=USER, metadata={"user_id": "gd:corr-7:sess-1:3"})
    with c.messages.stream(model=MODEL, max_tokens=50, messages=USER) as stream:
        stream.until_done()
    with pytest.raises(anthropic.BadRequestError):
        c.messages.create(model=MODEL, max_tokens=10, messages=[{"role": "assistant", "content": "x"}])
    c.messages.count_tokens(model=MODEL, messages=USER)
    assert post(fresh, {"model": MODEL, "max_tokens": 10, "messages": USER}).status_code == 200  # x-api-key
    entries = fresh.entries()
    assert [(e.endpoint, e.status, e.stream) for e in entries] == [
        ("messages", 200, False), ("messages", 200, True), ("messages", 400, False), ("count_tokens", 200, False),
        ("messages", 200, False)]
    # This SDK sends the key as a Bearer token; raw clients (and gateways) often send x-api-key.
    assert all(e.headers["authorization"] == "[redacted]" for e in entries[:-1])
    assert entries[-1].headers["x-api-key"] == "[redacted]"
    assert all("sk-ant-test-key" not in json.dumps(e.to_dict(), default=str) for e in entries)
    first = entries[0]
    assert (first.model, first.correlation_id, first.session_id, first.turn) == (MODEL, "corr-7", "sess-1", 3)
    assert first.tokens_in > 0 and first.tokens_out > 0


def test_rate_limit_headers_report_real_remaining_and_429_says_when_to_return() -> None:
    with FakeServer(provider="anthropic", models=[{"id": MODEL, "rpm": 2}]) as server:
        c = client(server)
        raw = c.messages.with_raw_response.create(model=MODEL, max_tokens=10, messages=USER)
        assert raw.headers["anthropic-ratelimit-requests-limit"] == "2"
        assert raw.headers["anthropic-ratelimit-requests-remaining"] == "1"
        reset = datetime.fromisoformat(raw.headers["anthropic-ratelimit-requests-reset"].replace("Z", "+00:00"))
        assert reset.tzinfo is not None
        c.messages.create(model=MODEL, max_tokens=10, messages=USER)
        with pytest.raises(anthropic.RateLimitError) as info:
            c.messages.create(model=MODEL, max_tokens=10, messages=USER)
    headers = info.value.response.headers
    assert int(headers["retry-after"]) >= 1
    assert headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert info.value.body["error"]["message"].startswith(
        "This request would exceed the rate limit for your organization (")
    assert "of 2 requests per minute." in info.value.body["error"]["message"]
