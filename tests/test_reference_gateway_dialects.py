"""The reference gateway in front of the Azure OpenAI, Gemini and Bedrock fakes (real servers on 127.0.0.1, the
`openai` SDK and raw HTTP as clients, the fakes' journals as ground truth).

Each test pins one behaviour through each new dialect: replies and streams translated exactly, a tool-call
conversation that reaches the upstream unaltered (the continuity digest), upstream errors mapped and retry hints
honoured, a stream that breaks before content failed over, one that breaks after content surfaced as an error;
and the mutants this adds (commit_on_first_byte, stringify_tool_args, stay_failed_over) observable.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openai
import pytest

from gatedrill.fakes import FakeServer, digest, openai_atoms
from gatedrill.harness.reference import ReferenceGateway

MODELS = {"azure": "gpt-4o-mini", "gemini": "gemini-2.5-flash", "bedrock": "anthropic.claude-3-5-haiku-20241022-v1:0",
          "openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5"}
NEW = ["azure", "gemini", "bedrock"]
WEATHER: Any = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def fake(provider: str, name: str, **kw: Any) -> FakeServer:
    return FakeServer(provider=provider, name=name, **kw)


def gateway(fakes: list[FakeServer], primary: str, mutant: str | None = None, **intent: Any) -> ReferenceGateway:
    intent.setdefault("retry", {"attempts": 1})
    srv = {f.fake.config.name: f for f in fakes}
    config = {
        "intent": {"targets": [{"upstream": primary, "model": MODELS[srv[primary].fake.config.provider],
                                "weight": 1}], **intent},
        "upstreams": [{"name": f.fake.config.name, "provider": f.fake.config.provider, "base_url": f.url,
                       "context_windows": {m.id: m.context_window for m in f.fake.config.models}} for f in fakes],
        "mutant": mutant,
    }
    return ReferenceGateway(config)


def fallback_intent(secondary: str) -> dict[str, Any]:
    return {"fallbacks": [secondary], "cooldown": {"enabled": False}, "timeout_s": 1.0}


def post(gw: ReferenceGateway, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(gw.base_url + "/chat/completions", json=body, timeout=20)


def post_stream(gw: ReferenceGateway, body: dict[str, Any]) -> tuple[httpx.Response, str]:
    with httpx.stream("POST", gw.base_url + "/chat/completions", json={**body, "stream": True}, timeout=20) as r:
        return r, r.read().decode()


def chat(content: str = "Hello there.", **kw: Any) -> dict[str, Any]:
    return {"model": "drill", "messages": [{"role": "user", "content": content}], **kw}


def stream_text(raw: str) -> tuple[str, list[str], bool, bool]:
    """(content, finish reasons, saw [DONE], saw an error event) of a raw OpenAI chunk stream."""
    text, finishes, done, error = [], [], False, False
    for line in raw.split("\n"):
        if not line.startswith("data: "):
            continue
        data = line[6:]
        if data == "[DONE]":
            done = True
            continue
        obj = json.loads(data)
        error = error or "error" in obj
        for ch in obj.get("choices") or []:
            text.append(ch["delta"].get("content") or "")
            if ch.get("finish_reason"):
                finishes.append(ch["finish_reason"])
    return "".join(text), finishes, done, error


def served_text(srv: FakeServer) -> str:
    reply = srv.entries()[-1].reply
    assert reply is not None
    return str(reply["choices"][0]["text"])


@pytest.mark.parametrize("provider", NEW)
def test_reply_is_translated_exactly(provider: str) -> None:
    with fake(provider, "up") as up, gateway([up], "up") as gw:
        r = post(gw, chat(max_tokens=64))
        text = served_text(up)
    body = r.json()
    assert r.status_code == 200 and r.headers["x-gatedrill-upstream"] == "up"
    assert body["choices"][0]["message"]["content"] == text and body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["prompt_tokens"] > 0 and body["usage"]["completion_tokens"] > 0


@pytest.mark.parametrize("provider", NEW)
def test_stream_is_translated_exactly_and_ends_with_done(provider: str) -> None:
    with fake(provider, "up") as up, gateway([up], "up") as gw:
        r, raw = post_stream(gw, chat(stream_options={"include_usage": True}))
        text = served_text(up)
    got, finishes, done, error = stream_text(raw)
    assert r.status_code == 200 and got == text and finishes == ["stop"] and done and not error
    assert '"usage":{"prompt_tokens"' in raw.replace(" ", "")


@pytest.mark.parametrize("provider", NEW)
@pytest.mark.parametrize("stream", [False, True])
def test_tool_call_conversation_reaches_the_upstream_unaltered(provider: str, stream: bool) -> None:
    with fake(provider, "up") as up, gateway([up], "up") as gw:
        client = openai.OpenAI(base_url=gw.base_url, api_key="sk-test", max_retries=0)
        messages: list[Any] = [{"role": "system", "content": "Be brief."},
                               {"role": "user", "content": "Weather in Paris?"}]
        if stream:
            chunks = list(client.chat.completions.create(model="drill", messages=messages, tools=[WEATHER],
                                                         stream=True))
            deltas = [tc for ch in chunks if ch.choices for tc in (ch.choices[0].delta.tool_calls or [])]
            call = {"id": deltas[0].id, "type": "function", "function": {
                "name": deltas[0].function.name, "arguments": "".join(d.function.arguments or "" for d in deltas)}}
            assert chunks[-1].choices == [] or chunks[-1].choices[0].finish_reason == "tool_calls"
        else:
            first = client.chat.completions.create(model="drill", messages=messages, tools=[WEATHER])
            assert first.choices[0].finish_reason == "tool_calls"
            tc = first.choices[0].message.tool_calls[0]  # type: ignore[index]
            call = {"id": tc.id, "type": "function", "function": {"name": tc.function.name,  # type: ignore[union-attr]
                                                                 "arguments": tc.function.arguments}}  # type: ignore[union-attr]
        assert "city" in json.loads(call["function"]["arguments"])
        messages += [{"role": "assistant", "content": None, "tool_calls": [call]},
                     {"role": "tool", "tool_call_id": call["id"], "content": "sunny, 21 C"}]
        second = client.chat.completions.create(model="drill", messages=messages, tools=[WEATHER])
        received = up.entries()[-1].reply
    assert second.choices[0].message.content and received is not None
    assert received["digest"] == digest(openai_atoms(messages))


def test_stringify_tool_args_mutant_changes_what_gemini_receives() -> None:
    messages: list[Any] = [{"role": "user", "content": "Weather?"},
                           {"role": "assistant", "content": None, "tool_calls": [
                               {"id": "call_1", "type": "function",
                                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
                           {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]
    digests = []
    for mutant in (None, "stringify_tool_args"):
        with fake("gemini", "up") as up, gateway([up], "up", mutant=mutant) as gw:
            assert post(gw, {"model": "drill", "messages": messages, "tools": [WEATHER]}).status_code == 200
            reply = up.entries()[-1].reply
            assert reply is not None
            digests.append(reply["digest"])
    assert digests[0] == digest(openai_atoms(messages)) != digests[1]


# -- failures ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", NEW)
def test_upstream_429_reaches_the_client_as_429_with_retry_after(provider: str) -> None:
    f = {"fault": {"kind": "http_error", "status": 429, "retry_after": 5}}
    with fake(provider, "up", faults=[f]) as up, gateway([up], "up", cooldown={"enabled": False}) as gw:
        r = post(gw, chat())
    assert r.status_code == 429 and "retry-after" in r.headers
    if provider != "bedrock":  # Bedrock's ThrottlingException carries no hint to pass on
        assert r.headers["retry-after"] == "5"


@pytest.mark.parametrize("provider", NEW)
def test_context_overflow_goes_to_the_context_window_fallback(provider: str) -> None:
    small = [{"id": MODELS[provider], "context_window": 30}]
    with fake(provider, "small", models=small) as s, fake("openai", "big") as b, \
            ReferenceGateway({
                "intent": {"targets": [{"upstream": "small", "model": MODELS[provider], "weight": 1},
                                       {"upstream": "big", "model": "gpt-4o-mini", "weight": 0}],
                           "context_window_fallbacks": {"small": "big"}},
                "upstreams": [{"name": "small", "provider": provider, "base_url": s.url},
                              {"name": "big", "provider": "openai", "base_url": b.url}]}) as gw:
        r = post(gw, chat("word " * 60))
        small_statuses = [e.status for e in s.entries()]
    assert r.status_code == 200 and r.headers["x-gatedrill-upstream"] == "big"
    assert small_statuses == [400]  # the gateway learnt the window from the upstream's own error


@pytest.mark.parametrize("primary", ["openai", "anthropic", *NEW])
@pytest.mark.parametrize("fault", [{"kind": "stream_error", "after_chunks": 0, "status": 500},
                                   {"kind": "error_only_stream", "status": 503},
                                   {"kind": "close_mid_stream", "after_chunks": 0},
                                   {"kind": "stall", "seconds": 3, "after_chunks": 0}],
                         ids=["error-before-content", "error-only", "close-before-content", "stall-before-content"])
def test_a_stream_that_breaks_before_content_fails_over(primary: str, fault: dict[str, Any]) -> None:
    with fake(primary, "primary", faults=[{"fault": fault}]) as p, fake("gemini", "secondary") as s, \
            gateway([p, s], "primary", **fallback_intent("secondary")) as gw:
        r, raw = post_stream(gw, chat())
        text = served_text(s)
    got, finishes, done, error = stream_text(raw)
    assert r.headers["x-gatedrill-upstream"] == "secondary" and r.headers["x-gatedrill-fallback"] == "true"
    assert got == text and finishes == ["stop"] and done and not error


@pytest.mark.parametrize("primary", ["openai", "anthropic", "bedrock"])  # streams with an event before content
def test_commit_on_first_byte_mutant_sends_a_pre_content_break_to_the_client(primary: str) -> None:
    fault = {"fault": {"kind": "stream_error", "after_chunks": 0, "status": 500}}
    with fake(primary, "primary", faults=[fault]) as p, fake("gemini", "secondary") as s, \
            gateway([p, s], "primary", mutant="commit_on_first_byte", **fallback_intent("secondary")) as gw:
        r, raw = post_stream(gw, chat())
    _, finishes, done, error = stream_text(raw)
    assert r.headers["x-gatedrill-upstream"] == "primary" and error and not done and not finishes


@pytest.mark.parametrize("primary", ["openai", *NEW])
@pytest.mark.parametrize("fault", [{"kind": "stream_error", "after_chunks": 3, "status": 500},
                                   {"kind": "close_mid_stream", "after_chunks": 3},
                                   {"kind": "stall", "seconds": 3, "after_chunks": 3}],
                         ids=["error-after-content", "close-after-content", "stall-after-content"])
def test_a_stream_that_breaks_after_content_ends_in_an_error_never_a_clean_end(primary: str,
                                                                               fault: dict[str, Any]) -> None:
    with fake(primary, "primary", faults=[{"fault": fault}], reply={"output_tokens": {"dist": "fixed", "value": 12}}
              ) as p, fake("gemini", "secondary") as s, \
            gateway([p, s], "primary", **fallback_intent("secondary")) as gw:
        t0 = time.monotonic()
        r, raw = post_stream(gw, chat())
        took = time.monotonic() - t0
    got, finishes, done, error = stream_text(raw)
    assert r.status_code == 200 and error and not done and not finishes and len(got) > 0
    assert took < 2.5  # a stalled stream is timed out (1 s), not waited on


def test_stay_failed_over_mutant_never_probes_the_recovered_primary() -> None:
    cooldown = {"failures": 1, "window_s": 5, "cooldown_s": 0.3}
    for mutant, expected in ((None, "primary"), ("stay_failed_over", "secondary")):
        with fake("openai", "primary", faults=[{"fault": {"kind": "http_error", "status": 500},
                                                "when": {"first_n": 1}}]) as p, fake("bedrock", "secondary") as s, \
                gateway([p, s], "primary", mutant=mutant, fallbacks=["secondary"], cooldown=cooldown) as gw:
            assert post(gw, chat()).headers["x-gatedrill-upstream"] == "secondary"
            time.sleep(0.4)
            assert post(gw, chat()).headers["x-gatedrill-upstream"] == expected, mutant
