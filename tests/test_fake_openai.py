"""The OpenAI fake as the official `openai` SDK sees it: replies parse into SDK types, errors surface as the
right exception classes, retries honour retry-after, stream faults surface as errors, rate limits and the
context window hold, and bad input gets OpenAI's own error envelope.

Every test talks HTTP to a real `FakeServer` on 127.0.0.1. SDK retries are off unless a test is about them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import re
import struct
import time
from collections.abc import Iterator
from typing import Any

import httpx
import httpx2
import jsonschema
import openai
import pydantic
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent

from gatedrill.fakes import FakeServer

MODEL = "gpt-4o-mini"
HI: Any = [{"role": "user", "content": "hi"}]
WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TIME_TOOL: Any = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {"tz": {"type": "string"}},
                                                     "required": ["tz"]}},
}
PERSON_SCHEMA: Any = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "kind": {"enum": ["a", "b"]},
    },
    "required": ["name", "age", "tags", "kind"],
    "additionalProperties": False,
}
ENVELOPE_KEYS = {"message", "type", "param", "code"}


@pytest.fixture
def srv() -> Iterator[FakeServer]:
    with FakeServer(provider="openai") as server:
        yield server


def client(srv: FakeServer, **kw: Any) -> openai.OpenAI:
    kw.setdefault("max_retries", 0)
    kw.setdefault("timeout", 10)
    return openai.OpenAI(base_url=srv.base_url, api_key="sk-test", **kw)


def aclient(srv: FakeServer, **kw: Any) -> openai.AsyncOpenAI:
    kw.setdefault("max_retries", 0)
    kw.setdefault("timeout", 10)
    return openai.AsyncOpenAI(base_url=srv.base_url, api_key="sk-test", **kw)


def fault(**spec: Any) -> dict[str, str]:
    """extra_headers that force one inline fault on a request."""
    return {"x-gatedrill-fault": json.dumps(spec)}


def joined(stream: Any) -> tuple[dict[int, str], dict[int, str | None]]:
    """Reassemble a chat stream: text and finish_reason per choice index."""
    text: dict[int, str] = {}
    finish: dict[int, str | None] = {}
    for chunk in stream:
        assert isinstance(chunk, ChatCompletionChunk)
        for ch in chunk.choices:
            text[ch.index] = text.get(ch.index, "") + (ch.delta.content or "")
            if ch.finish_reason is not None:
                finish[ch.index] = ch.finish_reason
    return text, finish


def message(e: openai.APIStatusError) -> str:
    """The `error.message` the fake sent, from an SDK exception."""
    body: Any = e.body
    return str(body["message"])


def raw_sse(srv: FakeServer, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> str:
    r = httpx.post(srv.url + path, json=body, headers={"authorization": "Bearer sk-test", **(headers or {})},
                   timeout=10)
    assert r.status_code == 200
    return r.text


# -- chat completions: shapes -----------------------------------------------------------------------------


def test_chat_json_parses_strictly_into_chat_completion_with_usage_from_the_tokenizer(srv: FakeServer) -> None:
    with client(srv) as c:
        raw = c.chat.completions.with_raw_response.create(model=MODEL, messages=HI)
    comp = raw.parse()
    ChatCompletion.model_validate(json.loads(raw.text))  # strict: every required field present and typed
    assert comp.object == "chat.completion" and comp.model == MODEL
    assert comp.id.startswith("chatcmpl-")
    choice = comp.choices[0]
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert isinstance(choice.message.content, str) and choice.message.content
    chat = srv.fake.dialect.parse_chat("chat", {"model": MODEL, "messages": HI})
    assert comp.usage is not None
    assert comp.usage.prompt_tokens == srv.fake.count_prompt(chat)
    assert comp.usage.completion_tokens == srv.fake.count(choice.message.content)
    assert comp.usage.total_tokens == comp.usage.prompt_tokens + comp.usage.completion_tokens
    assert raw.headers["x-request-id"].startswith("req_")
    assert raw.headers["openai-processing-ms"].isdigit()
    for h in ("x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-tokens"):
        assert h in raw.headers


def test_chat_stream_reassembles_to_the_non_streamed_text(srv: FakeServer) -> None:
    with client(srv) as c:
        full = c.chat.completions.create(model=MODEL, messages=HI)
        text, finish = joined(c.chat.completions.create(model=MODEL, messages=HI, stream=True))
    assert text == {0: full.choices[0].message.content}
    assert finish == {0: "stop"}


def test_chat_raw_stream_ends_with_done_after_the_finish_chunk(srv: FakeServer) -> None:
    events = raw_sse(srv, "/v1/chat/completions", {"model": MODEL, "messages": HI, "stream": True})
    lines = [ln for ln in events.split("\n\n") if ln]
    assert lines[-1] == "data: [DONE]"
    payloads = [json.loads(ln[len("data: "):]) for ln in lines[:-1]]
    for p in payloads:
        ChatCompletionChunk.model_validate(p)
    assert payloads[0]["choices"][0]["delta"]["role"] == "assistant"
    assert payloads[-1]["choices"][0]["finish_reason"] == "stop"
    assert all("usage" not in p for p in payloads)


def test_chat_stream_include_usage_adds_one_usage_chunk_with_no_choices(srv: FakeServer) -> None:
    with client(srv) as c:
        chunks = list(c.chat.completions.create(model=MODEL, messages=HI, stream=True,
                                                stream_options={"include_usage": True}))
    *body, last = chunks
    assert last.choices == [] and last.usage is not None
    assert all(ch.usage is None for ch in body)
    text = "".join(ch.choices[0].delta.content or "" for ch in body)
    assert last.usage.completion_tokens == srv.fake.count(text)
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens


def test_chat_n_3_returns_three_indexed_choices_streamed_and_not(srv: FakeServer) -> None:
    with client(srv) as c:
        full = c.chat.completions.create(model=MODEL, messages=HI, n=3)
        text, finish = joined(c.chat.completions.create(model=MODEL, messages=HI, n=3, stream=True))
    assert [ch.index for ch in full.choices] == [0, 1, 2]
    by_index = {ch.index: ch.message.content for ch in full.choices}
    assert len(set(by_index.values())) == 3
    assert text == by_index
    assert finish == {0: "stop", 1: "stop", 2: "stop"}


def test_chat_async_client_parses_json_and_stream(srv: FakeServer) -> None:
    async def run() -> tuple[str | None, str]:
        async with aclient(srv) as c:
            full = await c.chat.completions.create(model=MODEL, messages=HI)
            stream = await c.chat.completions.create(model=MODEL, messages=HI, stream=True)
            parts = [ch.choices[0].delta.content or "" async for ch in stream if ch.choices]
            return full.choices[0].message.content, "".join(parts)

    full, streamed = asyncio.run(run())
    assert full and streamed == full


# -- chat completions: parameters -------------------------------------------------------------------------


def test_chat_tools_yield_a_tool_call_whose_arguments_match_the_schema(srv: FakeServer) -> None:
    with client(srv) as c:
        comp = c.chat.completions.create(model=MODEL, messages=HI, tools=[WEATHER_TOOL], tool_choice="auto")
    choice = comp.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert call.type == "function" and call.function.name == "get_weather" and call.id.startswith("call_")
    jsonschema.validate(json.loads(call.function.arguments), WEATHER_TOOL["function"]["parameters"])


def test_chat_tool_result_turn_is_answered_with_text(srv: FakeServer) -> None:
    with client(srv) as c:
        first = c.chat.completions.create(model=MODEL, messages=HI, tools=[WEATHER_TOOL])
        call = (first.choices[0].message.tool_calls or [])[0]
        messages = [*HI, first.choices[0].message.model_dump(exclude_none=True),
                    {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
        second = c.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER_TOOL])
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content and not second.choices[0].message.tool_calls


def test_chat_tool_choice_names_the_tool_or_forbids_calls(srv: FakeServer) -> None:
    with client(srv) as c:
        named = c.chat.completions.create(model=MODEL, messages=HI, tools=[WEATHER_TOOL, TIME_TOOL],
                                          tool_choice={"type": "function", "function": {"name": "get_time"}})
        none = c.chat.completions.create(model=MODEL, messages=HI, tools=[WEATHER_TOOL], tool_choice="none")
    assert (named.choices[0].message.tool_calls or [])[0].function.name == "get_time"
    assert none.choices[0].finish_reason == "stop" and none.choices[0].message.content


def test_chat_streamed_tool_call_reassembles_to_the_arguments(srv: FakeServer) -> None:
    with client(srv) as c:
        chunks = list(c.chat.completions.create(model=MODEL, messages=HI, tools=[WEATHER_TOOL], stream=True))
    calls = [tc for ch in chunks for tc in (ch.choices[0].delta.tool_calls or [] if ch.choices else [])]
    assert calls[0].function is not None and calls[0].function.name == "get_weather"
    args = "".join((tc.function.arguments or "") if tc.function else "" for tc in calls)
    jsonschema.validate(json.loads(args), WEATHER_TOOL["function"]["parameters"])
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_chat_json_schema_response_format_yields_json_that_validates(srv: FakeServer) -> None:
    rf = {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON_SCHEMA, "strict": True}}
    with client(srv) as c:
        comp = c.chat.completions.create(model=MODEL, messages=HI, response_format=rf)
    jsonschema.validate(json.loads(comp.choices[0].message.content or ""), PERSON_SCHEMA)


def test_chat_parse_helper_fills_a_pydantic_model(srv: FakeServer) -> None:
    class Person(pydantic.BaseModel):
        name: str
        age: int

    with client(srv) as c:
        comp = c.chat.completions.parse(model=MODEL, messages=HI, response_format=Person)
    assert isinstance(comp.choices[0].message.parsed, Person)


@pytest.mark.parametrize("param", ["max_tokens", "max_completion_tokens"])
def test_chat_token_cap_ends_with_finish_reason_length(srv: FakeServer, param: str) -> None:
    with client(srv) as c:
        comp = c.chat.completions.create(model=MODEL, messages=HI, **{param: 3})
        text, finish = joined(c.chat.completions.create(model=MODEL, messages=HI, stream=True, **{param: 3}))
    assert comp.choices[0].finish_reason == "length"
    assert comp.usage is not None and comp.usage.completion_tokens == 3
    assert finish == {0: "length"} and text[0] == comp.choices[0].message.content


def test_chat_stop_sequence_cuts_the_text_before_it(srv: FakeServer) -> None:
    with client(srv) as c:
        full = c.chat.completions.create(model=MODEL, messages=HI).choices[0].message.content or ""
        stop = " " + full.split(" ")[2]
        cut = c.chat.completions.create(model=MODEL, messages=HI, stop=[stop]).choices[0]
    assert cut.message.content == full[: full.index(stop)]
    assert cut.finish_reason == "stop"


def test_chat_same_seed_same_text_other_seed_other_text(srv: FakeServer) -> None:
    with client(srv) as c:
        def text(seed: int) -> str | None:
            return c.chat.completions.create(model=MODEL, messages=HI, seed=seed).choices[0].message.content

        assert text(7) == text(7)
        assert text(7) != text(8)


# -- responses API ----------------------------------------------------------------------------------------


def test_responses_json_validates_and_matches_chat_text_for_the_same_conversation(srv: FakeServer) -> None:
    with client(srv) as c:
        raw = c.responses.with_raw_response.create(model=MODEL, input="hi", instructions="Be brief.")
        chat = c.chat.completions.create(model=MODEL, messages=[{"role": "system", "content": "Be brief."}, *HI])
    body = json.loads(raw.text)
    resp = Response.model_validate(body)
    assert isinstance(body["created_at"], int) and body["created_at"] == pytest.approx(time.time(), abs=60)
    assert resp.object == "response" and resp.status == "completed" and resp.id.startswith("resp_")
    assert resp.instructions == "Be brief." and resp.incomplete_details is None
    (msg,) = resp.output
    assert msg.type == "message" and msg.role == "assistant" and msg.id.startswith("msg_")
    assert msg.content[0].type == "output_text" and msg.content[0].annotations == []
    assert resp.output_text == chat.choices[0].message.content
    assert resp.usage is not None and chat.usage is not None
    assert resp.usage.input_tokens == chat.usage.prompt_tokens
    assert resp.usage.output_tokens == chat.usage.completion_tokens
    assert resp.usage.total_tokens == resp.usage.input_tokens + resp.usage.output_tokens
    assert resp.usage.input_tokens_details.cached_tokens == 0
    assert resp.usage.output_tokens_details.reasoning_tokens == 0
    assert raw.headers["x-request-id"].startswith("req_")


def test_responses_raw_stream_is_typed_events_in_sequence(srv: FakeServer) -> None:
    text = raw_sse(srv, "/v1/responses", {"model": MODEL, "input": "hi", "stream": True})
    adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(ResponseStreamEvent)
    names, payloads = [], []
    for block in filter(None, text.split("\n\n")):
        event_line, data_line = block.split("\n")
        assert event_line.startswith("event: ") and data_line.startswith("data: ")
        payload = json.loads(data_line[len("data: "):])
        assert payload["type"] == event_line[len("event: "):]
        adapter.validate_python(payload)
        names.append(payload["type"])
        payloads.append(payload)
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    deltas = names.count("response.output_text.delta")
    assert deltas >= 1
    assert names == ["response.created", "response.in_progress", "response.output_item.added",
                     "response.content_part.added", *["response.output_text.delta"] * deltas,
                     "response.output_text.done", "response.content_part.done", "response.output_item.done",
                     "response.completed"]
    assert "[DONE]" not in text
    streamed = "".join(p["delta"] for p in payloads if p["type"] == "response.output_text.delta")
    final = payloads[-1]["response"]
    assert payloads[0]["response"]["status"] == "in_progress" and payloads[0]["response"]["output"] == []
    assert final["status"] == "completed" and final["id"] == payloads[0]["response"]["id"]
    assert final["usage"]["output_tokens"] == srv.fake.count(streamed)
    assert final["output"][0]["content"][0]["text"] == streamed == payloads[-4]["text"]


def test_responses_stream_true_and_stream_helper_reassemble_to_the_json_text(srv: FakeServer) -> None:
    with client(srv) as c:
        full = c.responses.create(model=MODEL, input="hi")
        events = list(c.responses.create(model=MODEL, input="hi", stream=True))
        with c.responses.stream(model=MODEL, input="hi") as stream:
            deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
            final = stream.get_final_response()
    streamed = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert streamed == full.output_text == "".join(deltas) == final.output_text
    assert events[-1].type == "response.completed"
    assert final.usage is not None and full.usage is not None
    assert final.usage.output_tokens == full.usage.output_tokens


def test_responses_async_client_json_and_stream(srv: FakeServer) -> None:
    async def run() -> tuple[str, str]:
        async with aclient(srv) as c:
            full = await c.responses.create(model=MODEL, input=[{"role": "user", "content": "hi"}])
            stream = await c.responses.create(model=MODEL, input="hi", stream=True)
            parts = [e.delta async for e in stream if e.type == "response.output_text.delta"]
            return full.output_text, "".join(parts)

    full, streamed = asyncio.run(run())
    assert full and streamed == full


def test_responses_input_parts_and_roles_give_the_same_reply_as_the_string_form(srv: FakeServer) -> None:
    items = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}]
    with client(srv) as c:
        assert c.responses.create(model=MODEL, input=items).output_text == \
            c.responses.create(model=MODEL, input="hi").output_text


def test_responses_max_output_tokens_makes_the_response_incomplete(srv: FakeServer) -> None:
    srv.fake.patch({"reply": {"output_tokens": 40}})
    with client(srv) as c:
        resp = c.responses.create(model=MODEL, input="hi", max_output_tokens=16)
        events = list(c.responses.create(model=MODEL, input="hi", max_output_tokens=16, stream=True))
    assert resp.status == "incomplete"
    assert resp.incomplete_details is not None and resp.incomplete_details.reason == "max_output_tokens"
    assert resp.usage is not None and resp.usage.output_tokens == 16
    assert resp.max_output_tokens == 16
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.incomplete_details is not None


def test_responses_max_output_tokens_below_16_is_rejected(srv: FakeServer) -> None:
    with client(srv) as c, pytest.raises(openai.BadRequestError) as err:
        c.responses.create(model=MODEL, input="hi", max_output_tokens=15)
    assert err.value.param == "max_output_tokens" and err.value.code == "integer_below_min_value"


def test_responses_function_call_then_output_round_trip(srv: FakeServer) -> None:
    tools = [{"type": "function", "name": "get_weather", "parameters": WEATHER_TOOL["function"]["parameters"]}]
    with client(srv) as c:
        first = c.responses.create(model=MODEL, input="weather?", tools=tools)
        (call,) = first.output
        assert [(t.type, getattr(t, "name", None)) for t in first.tools] == [("function", "get_weather")]
        assert call.type == "function_call" and call.name == "get_weather" and call.call_id.startswith("call_")
        jsonschema.validate(json.loads(call.arguments), tools[0]["parameters"])
        second = c.responses.create(model=MODEL, tools=tools, input=[
            {"role": "user", "content": "weather?"},
            {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
        ])
        with c.responses.stream(model=MODEL, input="weather?", tools=tools) as stream:
            kinds = [e.type for e in stream]
            streamed = stream.get_final_response()
    assert second.output[0].type == "message" and second.output_text
    assert "response.function_call_arguments.delta" in kinds and "response.function_call_arguments.done" in kinds
    assert streamed.output[0].type == "function_call" and streamed.output[0].name == "get_weather"


def test_responses_json_schema_text_format_parses_into_a_pydantic_model(srv: FakeServer) -> None:
    class Person(pydantic.BaseModel):
        name: str
        age: int

    with client(srv) as c:
        resp = c.responses.parse(model=MODEL, input="hi", text_format=Person)
        raw = c.responses.create(model=MODEL, input="hi", text={
            "format": {"type": "json_schema", "name": "person", "schema": PERSON_SCHEMA, "strict": True}})
    assert isinstance(resp.output_parsed, Person)
    jsonschema.validate(json.loads(raw.output_text), PERSON_SCHEMA)


@pytest.mark.parametrize(("extra", "param", "code"), [
    ({"messages": HI}, "messages", "unknown_parameter"),
    ({"max_tokens": 20}, "max_tokens", "unknown_parameter"),
    ({"previous_response_id": "resp_x"}, "previous_response_id", "previous_response_not_found"),
    ({"tools": [WEATHER_TOOL]}, "tools[0].function", "unknown_parameter"),
    ({"input": [{"role": "robot", "content": "hi"}]}, "input[0].role", "invalid_value"),
    ({"input": [{"role": "user", "content": [{"type": "output_text", "text": "x"}]}]},
     "input[0].content[0].type", "invalid_value"),
])
def test_responses_rejects_what_the_api_rejects(srv: FakeServer, extra: dict[str, Any], param: str,
                                                 code: str) -> None:
    body = {"model": MODEL, "input": "hi", **extra}
    r = httpx.post(srv.url + "/v1/responses", json=body, headers={"authorization": "Bearer k"})
    assert r.status_code == 400
    err = r.json()["error"]
    assert set(err) == ENVELOPE_KEYS and err["type"] == "invalid_request_error"
    assert (err["param"], err["code"]) == (param, code)


def test_responses_marker_in_the_input_text_is_journaled_as_correlation(srv: FakeServer) -> None:
    with client(srv) as c:
        c.responses.create(model=MODEL, input="hello gd:abc123:sess1:2")
    (entry,) = srv.entries()
    assert (entry.correlation_id, entry.session_id, entry.turn) == ("abc123", "sess1", 2)
    assert entry.endpoint == "responses" and entry.status == 200


# -- models and embeddings --------------------------------------------------------------------------------


def test_models_list_and_retrieve(srv: FakeServer) -> None:
    with client(srv) as c:
        ids = [m.id for m in c.models.list()]
        one = c.models.retrieve(MODEL)
        with pytest.raises(openai.NotFoundError) as err:
            c.models.retrieve("nope")
    assert ids == [m.id for m in srv.fake.config.models]
    assert one.id == MODEL and one.object == "model"
    assert err.value.code == "model_not_found"


def test_embeddings_are_deterministic_unit_vectors_in_float_and_base64(srv: FakeServer) -> None:
    emb_model = "text-embedding-3-small"
    with client(srv) as c:
        a = c.embeddings.create(model=emb_model, input=["alpha", "beta"], encoding_format="float")
        again = c.embeddings.create(model=emb_model, input="alpha", encoding_format="float")
        sdk_default = c.embeddings.create(model=emb_model, input="alpha")  # the SDK asks for base64 and decodes
        small = c.embeddings.create(model=emb_model, input="alpha", dimensions=64, encoding_format="float")
        raw = c.embeddings.with_raw_response.create(model=emb_model, input="alpha", encoding_format="base64")
    va, vb = a.data[0].embedding, a.data[1].embedding
    assert [d.index for d in a.data] == [0, 1] and len(va) == 1536
    assert va == again.data[0].embedding and va != vb
    assert math.isclose(sum(x * x for x in va), 1.0, rel_tol=1e-9)
    assert sdk_default.data[0].embedding == pytest.approx(va, abs=1e-6)
    assert len(small.data[0].embedding) == 64
    assert math.isclose(sum(x * x for x in small.data[0].embedding), 1.0, rel_tol=1e-9)
    b64 = json.loads(raw.text)["data"][0]["embedding"]
    assert list(struct.unpack("<1536f", base64.b64decode(b64))) == pytest.approx(va, abs=1e-6)
    assert a.usage.prompt_tokens == 2 and a.usage.total_tokens == 2


# -- injected HTTP errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "exc"), [
    (400, openai.BadRequestError),
    (401, openai.AuthenticationError),
    (403, openai.PermissionDeniedError),
    (404, openai.NotFoundError),
    (409, openai.ConflictError),
    (422, openai.UnprocessableEntityError),
    (429, openai.RateLimitError),
    (500, openai.InternalServerError),
    (502, openai.InternalServerError),
    (503, openai.InternalServerError),
    (504, openai.InternalServerError),
])
def test_forced_http_error_surfaces_as_the_sdk_exception(srv: FakeServer, status: int,
                                                         exc: type[openai.APIStatusError]) -> None:
    with client(srv) as c:
        for call in (lambda h: c.chat.completions.create(model=MODEL, messages=HI, extra_headers=h),
                     lambda h: c.responses.create(model=MODEL, input="hi", extra_headers=h)):
            with pytest.raises(exc) as err:
                call(fault(kind="http_error", status=status))
            e = err.value
            assert type(e) is exc and e.status_code == status
            assert isinstance(e.body, dict) and set(e.body) == ENVELOPE_KEYS and message(e)
            assert e.request_id is not None and e.request_id.startswith("req_")
    assert [x.status for x in srv.entries()] == [status, status]
    assert all(x.fault == "http_error" for x in srv.entries())


def test_rate_limit_fault_has_code_type_and_retry_headers(srv: FakeServer) -> None:
    with client(srv) as c, pytest.raises(openai.RateLimitError) as err:
        c.chat.completions.create(model=MODEL, messages=HI,
                                  extra_headers=fault(kind="http_error", status=429, retry_after=2.5))
    e = err.value
    assert e.code == "rate_limit_exceeded" and e.type == "requests"
    assert e.response.headers["retry-after"] == "3" and e.response.headers["retry-after-ms"] == "2500"
    assert "Please try again in 2.5s." in message(e)


def test_insufficient_quota_is_a_rate_limit_error_the_sdk_does_not_retry(srv: FakeServer) -> None:
    srv.fake.set_faults([{"name": "quota", "when": {"header_only": True},
                          "fault": {"kind": "http_error", "status": 429, "error_type": "insufficient_quota"}}])
    with client(srv, max_retries=2) as c:
        assert c.chat.completions.create(model=MODEL, messages=HI).choices  # rule fires only by header
        with pytest.raises(openai.RateLimitError) as err:
            c.chat.completions.create(model=MODEL, messages=HI, extra_headers={"x-gatedrill-fault": "quota"})
    assert err.value.code == "insufficient_quota" and err.value.type == "insufficient_quota"
    assert err.value.response.headers["x-should-retry"] == "false"
    assert [e.fault for e in srv.entries()] == [None, "quota"]  # one attempt, though 2 retries were allowed


def test_scheduled_fault_first_n_then_recovers(srv: FakeServer) -> None:
    srv.fake.set_faults([{"fault": {"kind": "http_error", "status": 503}, "when": {"first_n": 1}}])
    with client(srv) as c:
        with pytest.raises(openai.InternalServerError):
            c.chat.completions.create(model=MODEL, messages=HI)
        assert c.chat.completions.create(model=MODEL, messages=HI).choices
    assert [e.status for e in srv.entries()] == [503, 200]


def test_sdk_retry_waits_for_retry_after(srv: FakeServer) -> None:
    srv.fake.set_faults([{"fault": {"kind": "http_error", "status": 429, "retry_after": 1.2},
                          "when": {"first_n": 1}}])
    with client(srv, max_retries=1) as c:
        assert c.chat.completions.create(model=MODEL, messages=HI).choices
    first, retry = srv.entries()
    assert (first.status, retry.status) == (429, 200)
    assert 1.2 <= retry.arrival_mono - first.arrival_mono < 3.0


# -- context window ---------------------------------------------------------------------------------------


def test_context_window_accepts_exactly_the_window_and_rejects_one_more() -> None:
    with FakeServer(provider="openai", models=[{"id": "small", "context_window": 300}]) as srv:
        body = {"model": "small", "messages": [{"role": "user", "content": "hello there, how are you?"}]}
        prompt = srv.fake.count_prompt(srv.fake.dialect.parse_chat("chat", body))
        room = 300 - prompt
        with client(srv) as c:
            ok = c.chat.completions.create(model="small", messages=body["messages"], max_tokens=room)
            with pytest.raises(openai.BadRequestError) as err:
                c.chat.completions.create(model="small", messages=body["messages"], max_tokens=room + 1)
    assert ok.choices[0].message.content
    e = err.value
    assert e.code == "context_length_exceeded" and e.param == "messages" and e.type == "invalid_request_error"
    assert message(e).startswith(
        f"This model's maximum context length is 300 tokens. However, your messages resulted in {prompt} tokens.")


def test_context_window_without_max_tokens_counts_the_prompt_alone() -> None:
    with (FakeServer(provider="openai", models=[{"id": "tiny", "context_window": 20}]) as srv, client(srv) as c,
          pytest.raises(openai.BadRequestError) as err):
        c.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "word " * 30}])
    assert err.value.code == "context_length_exceeded"
    assert message(err.value).endswith("Please reduce the length of the messages.")


def test_responses_context_window_boundary_with_max_output_tokens() -> None:
    with FakeServer(provider="openai", models=[{"id": "small", "context_window": 300}]) as srv:
        body = {"model": "small", "input": "hello there, how are you?"}
        room = 300 - srv.fake.count_prompt(srv.fake.dialect.parse_chat("responses", body))
        with client(srv) as c:
            assert c.responses.create(model="small", input=body["input"], max_output_tokens=room).output
            with pytest.raises(openai.BadRequestError) as err:
                c.responses.create(model="small", input=body["input"], max_output_tokens=room + 1)
    assert err.value.code == "context_length_exceeded"


# -- stream faults ----------------------------------------------------------------------------------------


def test_stream_error_mid_stream_raises_while_iterating(srv: FakeServer) -> None:
    with client(srv) as c:
        got: list[Any] = []
        stream = c.chat.completions.create(model=MODEL, messages=HI, stream=True,
                                           extra_headers=fault(kind="stream_error", after_chunks=2, status=500))
        with pytest.raises(openai.APIError) as err:
            for chunk in stream:
                got.append(chunk)
        assert len(got) == 3  # the role chunk and two content chunks arrived first
        assert "error" in str(err.value.message).lower()
        events = c.responses.create(model=MODEL, input="hi", stream=True,
                                    extra_headers=fault(kind="stream_error", after_chunks=2, status=500))
        kinds: list[str] = []
        try:  # the SDK raises on a chat-style error payload and yields a typed `error` event otherwise
            kinds.extend(e.type for e in events)
        except openai.APIError:
            kinds.append("error")
    assert kinds[-1] == "error" and "response.completed" not in kinds


def test_truncated_chat_stream_ends_silently_in_the_sdk_but_lacks_done(srv: FakeServer) -> None:
    with client(srv) as c:
        text, finish = joined(c.chat.completions.create(model=MODEL, messages=HI, stream=True,
                                                        extra_headers=fault(kind="truncate", after_chunks=2)))
    assert finish == {} and text[0]  # the SDK ends without error: no finish_reason is the only sign
    raw = raw_sse(srv, "/v1/chat/completions", {"model": MODEL, "messages": HI, "stream": True},
                  fault(kind="truncate", after_chunks=2))
    assert "[DONE]" not in raw and '"finish_reason":"stop"' not in raw
    assert raw.count("data: ") == 3


def test_truncated_responses_stream_has_no_final_response(srv: FakeServer) -> None:
    with client(srv) as c, c.responses.stream(model=MODEL, input="hi",
                                              extra_headers=fault(kind="truncate", after_chunks=2)) as stream:
        kinds = [e.type for e in stream]
        with pytest.raises(RuntimeError, match=r"response\.completed"):
            stream.get_final_response()
    assert kinds.count("response.output_text.delta") == 2 and "response.completed" not in kinds


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_reset_mid_stream_raises_a_connection_error(srv: FakeServer, api: str) -> None:
    headers = fault(kind="reset_mid_stream", after_chunks=2)
    with client(srv) as c:
        if api == "chat":
            stream: Any = c.chat.completions.create(model=MODEL, messages=HI, stream=True, extra_headers=headers)
        else:
            stream = c.responses.create(model=MODEL, input="hi", stream=True, extra_headers=headers)
        # openai 3.x wraps a read error during iteration in APIConnectionError; 2.x lets httpx's error through.
        with pytest.raises((openai.APIConnectionError, httpx.TransportError, httpx2.TransportError)):
            list(stream)
    assert srv.entries()[0].outcome == "reset"


def test_malformed_stream_bytes_fail_while_iterating(srv: FakeServer) -> None:
    with client(srv) as c, pytest.raises(ValueError):
        list(c.chat.completions.create(model=MODEL, messages=HI, stream=True,
                                       extra_headers=fault(kind="malformed", after_chunks=1)))


# -- transport faults -------------------------------------------------------------------------------------


def test_hang_ends_in_a_client_timeout(srv: FakeServer) -> None:
    started = time.monotonic()
    with client(srv, timeout=0.5) as c, pytest.raises(openai.APITimeoutError):
        c.chat.completions.create(model=MODEL, messages=HI, extra_headers=fault(kind="hang", max_seconds=5))
    assert time.monotonic() - started < 2.0
    (entry,) = srv.entries()
    assert entry.fault == "hang" and entry.status == 0


def test_reset_before_the_response_is_a_connection_error(srv: FakeServer) -> None:
    with client(srv) as c, pytest.raises(openai.APIConnectionError) as err:
        c.chat.completions.create(model=MODEL, messages=HI, extra_headers=fault(kind="reset"))
    assert not isinstance(err.value, openai.APITimeoutError)
    assert srv.entries()[0].outcome == "reset"


# -- rate limits ------------------------------------------------------------------------------------------

RPM_MESSAGE = re.compile(
    r"Rate limit reached for limited in organization org-\S+ on requests per min \(RPM\): Limit 3, Used \d+, "
    r"Requested 1\. Please try again in [\d.]+m?s\. Visit https://platform\.openai\.com/account/rate-limits "
    r"to learn more\.")


def test_rpm_limit_counts_down_then_refuses_with_retry_after() -> None:
    with FakeServer(provider="openai", models=[{"id": "limited", "rpm": 3}]) as srv, client(srv) as c:
        remaining = []
        for _ in range(3):
            raw = c.chat.completions.with_raw_response.create(model="limited", messages=HI)
            remaining.append(raw.headers["x-ratelimit-remaining-requests"])
        with pytest.raises(openai.RateLimitError) as err:
            c.chat.completions.create(model="limited", messages=HI)
    assert remaining == ["2", "1", "0"]
    e = err.value
    assert e.code == "rate_limit_exceeded" and e.type == "requests"
    assert RPM_MESSAGE.fullmatch(message(e))
    retry_ms = int(e.response.headers["retry-after-ms"])
    assert 15_000 < retry_ms <= 20_000  # one request comes back 60/3 s after the first was spent
    assert 0 <= int(e.response.headers["retry-after"]) - retry_ms / 1000 < 1
    assert e.response.headers["x-ratelimit-limit-requests"] == "3"


def test_rate_limited_model_sends_each_ratelimit_header_once() -> None:
    with FakeServer(provider="openai", models=[{"id": "limited", "rpm": 3, "tpm": 10_000}]) as srv, client(srv) as c:
        raw = c.chat.completions.with_raw_response.create(model="limited", messages=HI)
    assert raw.headers.get_list("x-ratelimit-remaining-requests") == ["2"]
    assert raw.headers.get_list("x-ratelimit-limit-tokens") == ["10000"]
    assert raw.headers.get_list("x-ratelimit-remaining-tokens") == [str(10_000 - raw.parse().usage.prompt_tokens)]


def test_rpm_refusal_message_reports_the_requests_used() -> None:
    with FakeServer(provider="openai", models=[{"id": "limited", "rpm": 3}]) as srv, client(srv) as c:
        for _ in range(3):
            c.chat.completions.create(model="limited", messages=HI)
        with pytest.raises(openai.RateLimitError) as err:
            c.chat.completions.create(model="limited", messages=HI)
    assert "Limit 3, Used 3, Requested 1." in message(err.value)


def test_tpm_charges_prompt_plus_max_tokens() -> None:
    with FakeServer(provider="openai", models=[{"id": "limited", "tpm": 200}]) as srv, client(srv) as c:
        prompt = srv.fake.count_prompt(srv.fake.dialect.parse_chat("chat", {"model": "limited", "messages": HI}))
        raw = c.chat.completions.with_raw_response.create(model="limited", messages=HI, max_tokens=100)
        left = int(raw.headers["x-ratelimit-remaining-tokens"])
        with pytest.raises(openai.RateLimitError) as err:
            # 50 tokens over what is left: the bucket refills 200/60 per second, so this holds for 15 s
            c.chat.completions.create(model="limited", messages=HI, max_tokens=left - prompt + 50)
    assert left == 200 - prompt - 100
    e = err.value
    assert e.type == "tokens" and e.code == "rate_limit_exceeded"
    used = re.search(r"on tokens per min \(TPM\): Limit 200, Used (\d+),", message(e))
    assert used is not None and int(used.group(1)) == prompt + 100
    assert f"Requested {left + 50}." in message(e)
    assert float(e.response.headers["retry-after-ms"]) > 0


# -- bad input (raw HTTP) ---------------------------------------------------------------------------------


def _post(srv: FakeServer, content: bytes, content_type: str = "application/json",
          path: str = "/v1/chat/completions") -> httpx.Response:
    return httpx.post(srv.url + path, content=content, timeout=10,
                      headers={"authorization": "Bearer sk-test", "content-type": content_type})


@pytest.mark.parametrize(("content", "content_type", "status", "param", "code"), [
    (b'{"model": "gpt-4o-mini", "messages": [', "application/json", 400, None, None),
    (b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}', "text/plain", 400, None, None),
    (b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"max_tokens":"10"}',
     "application/json", 400, "max_tokens", "invalid_type"),
    (b'{"model":"gpt-4o-mini"}', "application/json", 400, "messages", "missing_required_parameter"),
    (b'{"model":"gpt-9","messages":[{"role":"user","content":"hi"}]}', "application/json", 404, None,
     "model_not_found"),
    (b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"\xff\xfe"}]}', "application/json", 400,
     None, None),
    (b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"' + b"x" * 5000 + b'"}]}',
     "application/json", 413, None, "request_too_large"),
], ids=["malformed-json", "wrong-content-type", "wrong-type", "missing-messages", "unknown-model",
        "invalid-utf8", "too-large"])
def test_bad_input_gets_the_openai_envelope_and_one_journal_entry(content: bytes, content_type: str, status: int,
                                                                  param: str | None, code: str | None) -> None:
    with FakeServer(provider="openai", max_body_bytes=4096) as srv:
        r = _post(srv, content, content_type)
        assert r.status_code == status
        assert r.headers["content-type"].startswith("application/json")
        err = r.json()["error"]
        assert set(err) == ENVELOPE_KEYS and err["type"] == "invalid_request_error" and err["message"]
        assert (err["param"], err["code"]) == (param, code)
        assert r.headers["x-request-id"].startswith("req_")
        assert len(srv.journal) == 1 and srv.entries()[0].status == status
        alive = httpx.get(srv.url + "/v1/models", headers={"authorization": "Bearer sk-test"}, timeout=10)
        assert alive.status_code == 200 and len(srv.journal) == 2


def test_missing_api_key_is_an_authentication_error(srv: FakeServer) -> None:
    r = httpx.post(srv.url + "/v1/chat/completions", json={"model": MODEL, "messages": HI}, timeout=10)
    assert r.status_code == 401
    assert r.json()["error"]["message"].startswith("You didn't provide an API key.")


def test_responses_accepts_what_the_fuzz_found_the_document_allows(srv: FakeServer) -> None:
    """From the 100,000-request fuzz (2026-12-03): `computer_use` is a hosted tool_choice type in OpenAI's document,
    and an item reference may leave out its type; the fake refused both as malformed. An unknown reference is still
    not found (the fake stores no items)."""
    with httpx.Client(base_url=srv.url, headers={"authorization": "Bearer sk-x"}) as c:
        ok = c.post("/v1/responses", json={"model": "gpt-4o-mini", "input": "hi",
                                           "tool_choice": {"type": "computer_use"}})
        assert ok.status_code == 200, ok.text
        for ref in ({"id": "msg_unknown"}, {"id": "msg_unknown", "type": None}):
            r = c.post("/v1/responses", json={"model": "gpt-4o-mini", "input": [
                {"role": "user", "content": "hi"}, ref]})
            assert r.status_code == 400, r.text
            assert r.json()["error"]["message"] == "Item with id 'msg_unknown' not found."
        bad = c.post("/v1/responses", json={"model": "gpt-4o-mini", "input": [{"content": "no role"}]})
        assert bad.status_code == 400 and "input[0].role" in bad.text


def test_requests_the_fuzz_found_valid_by_the_document_are_served(srv: FakeServer) -> None:
    """From the 100,000-request fuzz (2026-12-03): only the assistant's message schema defines `tool_calls` (on
    another role it is an unlisted property, which the fake does not police, and never a call), and a Responses
    `function_call_output` may leave out its `call_id` (optional and nullable in the document). The fake refused
    both; an assistant's malformed call and a `function_call` without `call_id` are still refused."""
    with httpx.Client(base_url=srv.url, headers={"authorization": "Bearer sk-x"}, timeout=10) as c:
        garbage = [{"type": "function", "function": {}}]
        for calls in (garbage, "not a list"):
            ok = c.post("/v1/chat/completions", json={"model": MODEL, "messages": [
                {"role": "user", "content": "hi", "tool_calls": calls}]})
            assert ok.status_code == 200, ok.text
        bad = c.post("/v1/chat/completions", json={"model": MODEL, "messages": [
            {"role": "user", "content": "hi"}, {"role": "assistant", "content": None, "tool_calls": garbage}]})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "messages[1].tool_calls[0].function.name"
        for output in ({"type": "function_call_output", "output": "42"},
                       {"type": "function_call_output", "output": "42", "call_id": None}):
            ok = c.post("/v1/responses", json={"model": "gpt-4o-mini", "input": [
                {"role": "user", "content": "hi"}, output]})
            assert ok.status_code == 200, ok.text
        bad = c.post("/v1/responses", json={"model": "gpt-4o-mini", "input": [
            {"type": "function_call", "name": "f", "arguments": "{}"}]})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "input[0].call_id"


def test_a_responses_item_type_that_is_not_a_string_is_a_400_not_a_500(srv: FakeServer) -> None:
    """From the third 100,000-request fuzz (2026-12-03, seed 4): an input item whose `type` was a list made the fake
    answer 500 (an unhashable tag looked up in a set)."""
    with httpx.Client(base_url=srv.url, headers={"authorization": "Bearer sk-x"}, timeout=10) as c:
        for tag in ([[], {}], {"a": 1}, -2.5e16):
            r = c.post("/v1/responses", json={"model": "gpt-4o-mini", "input": [{"type": tag}]})
            assert r.status_code == 400, r.text
            assert r.json()["error"]["param"] == "input[0].type"
