"""The Gemini fake, seen through the official `google-genai` SDK (unchanged, base_url on 127.0.0.1) and raw HTTP.

Each test pins one behaviour of the real API: reply and stream shapes (SSE with alt=sse, a JSON array
without), roles and systemInstruction, function calls with object args, google.rpc.Status errors and the
SDK exception each maps to, RetryInfo on a 429, the context-window boundary, a blocked prompt, countTokens,
models, auth by header or ?key=, and the journal.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors, types

from gatedrill.fakes import Fake, FakeServer
from gatedrill.fakes.conversation import digest, openai_atoms

MODEL = "gemini-2.5-flash"
KEY = {"x-goog-api-key": "gk-test"}
WEATHER = types.FunctionDeclaration(
    name="get_weather", description="Current weather for a city.",
    parameters_json_schema={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})


@pytest.fixture(scope="module")
def srv() -> Iterator[FakeServer]:
    with FakeServer(provider="gemini") as server:
        yield server


@pytest.fixture()
def fresh(srv: FakeServer) -> FakeServer:
    srv.reset()
    srv.clear_faults()
    return srv


_ALIVE: list[genai.Client] = []  # a genai.Client closes its HTTP client when collected, even mid-call chain


def client(server: FakeServer, headers: dict[str, str] | None = None) -> genai.Client:
    """The SDK as users build it; no retry options, so it never retries (the SDK's default)."""
    c = genai.Client(api_key="gk-test", http_options=types.HttpOptions(base_url=server.url, headers=headers))
    _ALIVE.append(c)
    return c


def fault(spec: dict[str, Any]) -> dict[str, str]:
    return {"x-gatedrill-fault": json.dumps(spec)}


def raw(server: FakeServer, path: str, body: dict[str, Any], **kw: Any) -> httpx.Response:
    return httpx.post(server.url + path, json=body, headers=kw.pop("headers", KEY), timeout=10, **kw)


def sse_frames(text: str) -> list[dict[str, Any]]:
    frames = [block for block in text.split("\r\n\r\n") if block]
    assert all(f.startswith("data: ") and "\n" not in f for f in frames), frames
    return [json.loads(f[6:]) for f in frames]


HELLO = {"contents": [{"role": "user", "parts": [{"text": "Hello there"}]}]}


# -- replies -------------------------------------------------------------------------------------------------


def test_reply_parses_into_the_sdk_response_with_usage_and_finish_reason(fresh: FakeServer) -> None:
    r = client(fresh).models.generate_content(model=MODEL, contents="Hello there")
    assert isinstance(r, types.GenerateContentResponse)
    assert r.text and r.candidates and r.candidates[0].finish_reason == types.FinishReason.STOP
    assert r.candidates[0].content and r.candidates[0].content.role == "model"
    u = r.usage_metadata
    assert u is not None and u.prompt_token_count and u.candidates_token_count
    assert u.total_token_count == u.prompt_token_count + u.candidates_token_count
    assert r.model_version == MODEL and r.response_id


def test_sse_stream_reassembles_to_the_non_streamed_text(fresh: FakeServer) -> None:
    c = client(fresh)
    full = c.models.generate_content(model=MODEL, contents="Hello there").text
    chunks = list(c.models.generate_content_stream(model=MODEL, contents="Hello there"))
    assert len(chunks) > 2
    assert "".join(ch.text or "" for ch in chunks) == full
    last = chunks[-1]
    assert last.candidates and last.candidates[0].finish_reason == types.FinishReason.STOP
    assert last.usage_metadata and last.usage_metadata.candidates_token_count


def test_sse_frames_are_bare_data_lines_without_done_and_end_with_finish_and_usage(fresh: FakeServer) -> None:
    r = raw(fresh, f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse", HELLO)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert "event:" not in r.text and "[DONE]" not in r.text
    frames = sse_frames(r.text)
    assert all("finishReason" not in f["candidates"][0] for f in frames[:-1])
    assert frames[-1]["candidates"][0]["finishReason"] == "STOP"
    assert set(frames[-1]["usageMetadata"]) >= {"promptTokenCount", "candidatesTokenCount", "totalTokenCount"}


def test_stream_without_alt_sse_is_one_json_array_of_the_same_responses(fresh: FakeServer) -> None:
    sse = sse_frames(raw(fresh, f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse", HELLO).text)
    arr = raw(fresh, f"/v1beta/models/{MODEL}:streamGenerateContent", HELLO)
    assert arr.headers["content-type"].startswith("application/json")
    items = arr.json()
    assert isinstance(items, list)
    strip = [{k: v for k, v in f.items() if k != "responseId"} for f in sse]
    assert [{k: v for k, v in f.items() if k != "responseId"} for f in items] == strip
    # Google's framing, byte for byte where clients split on it: pretty-printed elements, `\n,\r\n` between them,
    # `\n]` at the end (public captures; Portkey splits on `\r\n` and cuts the last two bytes).
    body = arr.content
    assert body.startswith(b"[{\n  \"candidates\": [") and body.endswith(b"\n}\n]")
    assert body.count(b"\n,\r\n{\n") == len(items) - 1


def test_system_instruction_and_model_turns_make_the_same_conversation_as_openai_messages() -> None:
    """The witness digest is dialect-free: the same history through Gemini and OpenAI fakes matches."""
    with FakeServer(provider="gemini", reply={"mode": "witness"}) as g:
        r = client(g).models.generate_content(
            model=MODEL, config=types.GenerateContentConfig(system_instruction="Be brief."),
            contents=[types.Content(role="user", parts=[types.Part(text="Hi")]),
                      types.Content(role="model", parts=[types.Part(text="Hello!")]),
                      types.Content(role="user", parts=[types.Part(text="How are you?")])])
    expected = digest(openai_atoms([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                                    {"role": "assistant", "content": "Hello!"},
                                    {"role": "user", "content": "How are you?"}]))
    assert r.text is not None and f"digest={expected}" in r.text and "turn=2" in r.text


def test_function_call_has_object_args_and_a_function_response_turn_gets_text(fresh: FakeServer) -> None:
    c = client(fresh)
    tools = [types.Tool(function_declarations=[WEATHER])]
    first = c.models.generate_content(model=MODEL, contents="Weather in Paris?",
                                      config=types.GenerateContentConfig(tools=tools))
    calls = first.function_calls
    assert calls and calls[0].name == "get_weather" and isinstance(calls[0].args, dict) and "city" in calls[0].args
    assert first.candidates and first.candidates[0].finish_reason == types.FinishReason.STOP
    history = [types.Content(role="user", parts=[types.Part(text="Weather in Paris?")]),
               types.Content(role="model", parts=[types.Part(function_call=calls[0])]),
               types.Content(role="user", parts=[types.Part(function_response=types.FunctionResponse(
                   name="get_weather", response={"content": "sunny, 21 C"}))])]
    second = c.models.generate_content(model=MODEL, contents=history, config=types.GenerateContentConfig(tools=tools))
    assert second.text and not second.function_calls
    atoms = [a for a in fresh.entries()[-1].body["contents"]]
    assert atoms[2]["parts"][0]["functionResponse"]["response"] == {"content": "sunny, 21 C"}


def test_streamed_function_call_arrives_whole_in_one_frame(fresh: FakeServer) -> None:
    tools = [types.Tool(function_declarations=[WEATHER])]
    chunks = list(client(fresh).models.generate_content_stream(
        model=MODEL, contents="Weather?", config=types.GenerateContentConfig(tools=tools)))
    calls = [fc for ch in chunks for fc in (ch.function_calls or [])]
    assert len(calls) == 1 and isinstance(calls[0].args, dict)


def test_tool_config_none_answers_with_text(fresh: FakeServer) -> None:
    cfg = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[WEATHER])],
        tool_config=types.ToolConfig(function_calling_config=types.FunctionCallingConfig(mode="NONE")))
    r = client(fresh).models.generate_content(model=MODEL, contents="Weather?", config=cfg)
    assert r.text and not r.function_calls


# -- errors --------------------------------------------------------------------------------------------------


def test_injected_429_is_resource_exhausted_with_retry_info_and_no_retry_after_header(fresh: FakeServer) -> None:
    with pytest.raises(errors.ClientError) as info:
        client(fresh, fault({"kind": "http_error", "status": 429, "retry_after": 7})).models.generate_content(
            model=MODEL, contents="x")
    e = info.value
    assert e.code == 429 and e.status == "RESOURCE_EXHAUSTED"
    details = e.details["error"]["details"]
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"} in details
    assert any(d["@type"].endswith("QuotaFailure") for d in details)
    assert e.response is not None and "retry-after" not in e.response.headers


def test_rate_limiter_429_says_when_to_return_in_retry_info() -> None:
    with FakeServer(provider="gemini", models=[{"id": MODEL, "rpm": 1}]) as s:
        c = client(s)
        c.models.generate_content(model=MODEL, contents="one")
        with pytest.raises(errors.ClientError) as info:
            c.models.generate_content(model=MODEL, contents="two")
    details = info.value.details["error"]["details"]
    delay = next(d["retryDelay"] for d in details if d["@type"].endswith("RetryInfo"))
    assert delay.endswith("s") and 1 <= int(delay[:-1]) <= 60


def test_server_errors_surface_as_server_error_with_the_rpc_status(fresh: FakeServer) -> None:
    with pytest.raises(errors.ServerError) as info:
        client(fresh, fault({"kind": "http_error", "status": 503})).models.generate_content(model=MODEL, contents="x")
    assert info.value.code == 503 and info.value.status == "UNAVAILABLE"
    assert info.value.message == "The model is overloaded. Please try again later."


def test_mid_stream_error_raises_after_the_text_already_received(fresh: FakeServer) -> None:
    got: list[str] = []
    c = client(fresh, fault({"kind": "stream_error", "after_chunks": 3, "status": 500}))
    with pytest.raises(errors.ServerError) as info:
        for ch in c.models.generate_content_stream(model=MODEL, contents="x"):
            got.append(ch.text or "")
    assert len(got) == 3 and info.value.status == "INTERNAL"


def test_context_window_boundary_is_exact_and_the_overflow_is_invalid_argument() -> None:
    with FakeServer(provider="gemini", models=[{"id": MODEL, "context_window": 40}]) as s:
        c = client(s)
        words = " ".join(["word"] * 30)
        n = c.models.count_tokens(model=MODEL, contents=words).total_tokens
        assert n is not None
        with FakeServer(provider="gemini", models=[{"id": MODEL, "context_window": n}]) as fits:
            assert client(fits).models.generate_content(model=MODEL, contents=words).text
        tight = FakeServer(provider="gemini", models=[{"id": MODEL, "context_window": n - 1}])
        with tight, pytest.raises(errors.ClientError) as info:
            client(tight).models.generate_content(model=MODEL, contents=words)
    assert info.value.code == 400 and info.value.status == "INVALID_ARGUMENT"
    assert info.value.message == (f"The input token count ({n}) exceeds the maximum number of tokens allowed "
                                  f"({n - 1}).")


def test_blocked_prompt_is_a_200_with_block_reason_and_no_candidates(fresh: FakeServer) -> None:
    c = client(fresh, fault({"kind": "content_filter", "stage": "prompt"}))
    r = c.models.generate_content(model=MODEL, contents="x")
    assert not r.candidates and r.prompt_feedback is not None
    assert r.prompt_feedback.block_reason == types.BlockedReason.SAFETY
    assert fresh.entries()[-1].status == 200


def test_filtered_completion_ends_with_finish_reason_safety(fresh: FakeServer) -> None:
    c = client(fresh, fault({"kind": "content_filter", "stage": "completion", "after_chunks": 2}))
    chunks = list(c.models.generate_content_stream(model=MODEL, contents="x"))
    assert chunks[-1].candidates and chunks[-1].candidates[0].finish_reason == types.FinishReason.SAFETY
    assert len([ch for ch in chunks if ch.text]) == 2


def test_unknown_model_is_not_found(fresh: FakeServer) -> None:
    with pytest.raises(errors.ClientError) as info:
        client(fresh).models.generate_content(model="gemini-0-nope", contents="x")
    assert info.value.code == 404 and info.value.status == "NOT_FOUND"
    assert info.value.message is not None and info.value.message.startswith("models/gemini-0-nope is not found")


def test_invalid_role_is_rejected_as_the_api_words_it(fresh: FakeServer) -> None:
    body = {"contents": [{"role": "system", "parts": [{"text": "x"}]}]}
    r = raw(fresh, f"/v1beta/models/{MODEL}:generateContent", body)
    assert r.status_code == 400
    assert r.json()["error"] == {"code": 400, "message": "Please use a valid role: user, model.",
                                 "status": "INVALID_ARGUMENT"}


# -- other endpoints, auth, journal --------------------------------------------------------------------------


def test_count_tokens_matches_the_prompt_tokens_of_a_reply(fresh: FakeServer) -> None:
    c = client(fresh)
    n = c.models.count_tokens(model=MODEL, contents="How many tokens is this?").total_tokens
    r = c.models.generate_content(model=MODEL, contents="How many tokens is this?")
    assert n and r.usage_metadata and r.usage_metadata.prompt_token_count == n


def test_models_list_and_get(fresh: FakeServer) -> None:
    c = client(fresh)
    names = [m.name for m in c.models.list()]
    assert names == ["models/gemini-2.5-flash", "models/gemini-2.5-pro"]
    m = c.models.get(model=MODEL)
    assert m.input_token_limit == 1_048_576 and m.supported_actions and "generateContent" in m.supported_actions


def test_key_by_header_or_query_and_none_is_permission_denied(fresh: FakeServer) -> None:
    path = f"/v1beta/models/{MODEL}:generateContent"
    assert raw(fresh, path + "?key=gk-query", HELLO, headers={}).status_code == 200
    r = raw(fresh, path, HELLO, headers={})
    assert r.status_code == 403 and r.json()["error"]["status"] == "PERMISSION_DENIED"


def test_configured_api_keys_reject_other_keys_as_api_key_invalid() -> None:
    with FakeServer(provider="gemini", api_keys=["gk-good"]) as s:
        good = {"x-goog-api-key": "gk-good"}
        assert raw(s, f"/v1beta/models/{MODEL}:generateContent", HELLO, headers=good).is_success
        with pytest.raises(errors.ClientError) as info:
            client(s).models.generate_content(model=MODEL, contents="x")
    assert info.value.code == 400 and info.value.message == "API key not valid. Please pass a valid API key."
    assert info.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"


def test_journal_has_one_entry_per_request_with_model_endpoint_and_key_redacted(fresh: FakeServer) -> None:
    c = client(fresh)
    c.models.generate_content(model=MODEL, contents="a")
    list(c.models.generate_content_stream(model=MODEL, contents="b"))
    raw(fresh, f"/v1beta/models/{MODEL}:generateContent?key=gk-secret-query", HELLO, headers={})
    entries = fresh.entries()
    assert [(e.endpoint, e.model, e.stream, e.status) for e in entries] == [
        ("generate", MODEL, False, 200), ("stream", MODEL, True, 200), ("generate", MODEL, False, 200)]
    assert entries[0].headers["x-goog-api-key"] == "[redacted]"
    assert all("gk-secret-query" not in json.dumps(e.headers) + e.path for e in entries)
    assert entries[0].tokens_in and entries[0].tokens_out


def test_python_fake_handles_gemini_without_a_server() -> None:
    assert Fake(provider="gemini").config.models[0].id == MODEL


def test_interception_answers_the_sdk_at_its_default_host_without_a_server() -> None:
    from gatedrill.fakes import intercept

    with intercept("gemini") as ic:
        c = genai.Client(api_key="gk-test")  # no base_url: generativelanguage.googleapis.com, caught in-process
        _ALIVE.append(c)
        assert c.models.generate_content(model=MODEL, contents="hi").text
        assert ic.fakes["gemini"].entries()[0].endpoint == "generate"


def test_snake_case_field_names_are_accepted_as_the_apis_proto_json_does(fresh: FakeServer) -> None:
    """LiteLLM sends `generation_config.max_output_tokens` and `function_declarations`; the API takes both."""
    body = {"contents": [{"role": "user", "parts": [{"text": "Weather?"}]}],
            "generation_config": {"max_output_tokens": 3},
            "tools": [{"function_declarations": [{"name": "get_weather", "parameters": {
                "type": "object", "properties": {"city": {"type": "string"}}}}]}],
            "tool_config": {"function_calling_config": {"mode": "NONE"}}}
    r = raw(fresh, f"/v1beta/models/{MODEL}:generateContent", body)
    assert r.status_code == 200, r.text
    cand = r.json()["candidates"][0]
    assert cand["finishReason"] == "MAX_TOKENS" and "functionCall" not in cand["content"]["parts"][0]
    assert fresh.entries()[-1].body == body  # the journal keeps what was sent
