"""The reference gateway, driven end to end: real fakes on 127.0.0.1 behind it, the official `openai` SDK
(no SDK retries) and raw HTTP as clients, and the fakes' journals as the ground truth of what reached them.

Each test pins one behaviour of a correct gateway (split, stickiness, translation, retries, fallbacks,
cooldown, context windows, error mapping, stream integrity), and each mutant has one test showing its bug
is observable.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import aiohttp
import httpx
import openai
import orjson
import pytest

from gatedrill.fakes import FakeServer, digest, openai_atoms
from gatedrill.harness.reference import ReferenceGateway
from gatedrill.harness.reference.streams import DONE

OA = "gpt-4o-mini"
AN = "claude-haiku-4-5"
LONG_PROMPT = "The quick brown fox jumps over the lazy dog. " * 120  # about 1,200 tokens
WEATHER: Any = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


# -- helpers -------------------------------------------------------------------------------------------------


def fake(provider: str, name: str, **kw: Any) -> FakeServer:
    return FakeServer(provider=provider, name=name, **kw)


def endpoint(srv: FakeServer, windows: bool = True) -> dict[str, Any]:
    cfg = srv.fake.config
    out: dict[str, Any] = {"name": cfg.name, "provider": cfg.provider, "base_url": srv.url}
    if windows:
        out["context_windows"] = {m.id: m.context_window for m in cfg.models}
    return out


def gateway(fakes: list[FakeServer], targets: list[tuple[str, str, float]], mutant: str | None = None,
            windows: bool = True, **intent: Any) -> ReferenceGateway:
    intent.setdefault("retry", {"attempts": 1})
    config = {
        "intent": {"targets": [{"upstream": u, "model": m, "weight": w} for u, m, w in targets], **intent},
        "upstreams": [endpoint(f, windows) for f in fakes],
        "mutant": mutant,
    }
    return ReferenceGateway(config)


def sdk(gw: ReferenceGateway) -> Any:
    return openai.OpenAI(base_url=gw.base_url, api_key="sk-test", max_retries=0)


def chat(content: str = "Hello there.", **kw: Any) -> dict[str, Any]:
    return {"model": "drill", "messages": [{"role": "user", "content": content}], **kw}


def corr(cid: str, session: str | None = None, turn: int | None = None) -> dict[str, str]:
    h = {"x-gatedrill-correlation-id": cid}
    if session is not None:
        h["x-gatedrill-session-id"] = session
    if turn is not None:
        h["x-gatedrill-turn"] = str(turn)
    return h


def post(gw: ReferenceGateway, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(gw.base_url + "/chat/completions", json=body, headers=headers or {}, timeout=20)


def post_stream(gw: ReferenceGateway, body: dict[str, Any], headers: dict[str, str] | None = None
                ) -> tuple[httpx.Response, str]:
    with httpx.stream("POST", gw.base_url + "/chat/completions", json={**body, "stream": True},
                      headers=headers or {}, timeout=20) as r:
        return r, r.read().decode()


def sse_data(raw: str) -> list[str]:
    return [line[6:] for line in raw.split("\n") if line.startswith("data: ")]


def stream_text(raw: str) -> tuple[str, list[str | None]]:
    """Reassembled content and the finish reasons of a raw OpenAI chunk stream."""
    text, finishes = [], []
    for data in sse_data(raw):
        if data == "[DONE]":
            continue
        obj = json.loads(data)
        for ch in obj.get("choices") or []:
            text.append(ch["delta"].get("content") or "")
            finishes.append(ch.get("finish_reason"))
    return "".join(text), [f for f in finishes if f]


def burst(url: str, requests: list[tuple[dict[str, Any], dict[str, str]]], concurrency: int = 16
          ) -> list[tuple[int, dict[str, str], bytes]]:
    """Send many requests concurrently with aiohttp; (status, headers, body) each, in order."""

    async def run() -> list[tuple[int, dict[str, str], bytes]]:
        sem = asyncio.Semaphore(concurrency)
        async with aiohttp.ClientSession() as s:

            async def one(body: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
                async with sem, s.post(url + "/v1/chat/completions", json=body, headers=headers) as r:
                    return r.status, dict(r.headers), await r.read()

            return await asyncio.gather(*(one(b, h) for b, h in requests))

    return asyncio.run(run())


def by_correlation(*fakes: FakeServer) -> dict[str, list[str]]:
    """correlation id -> the fakes it reached, one item per journal entry."""
    out: dict[str, list[str]] = defaultdict(list)
    for f in fakes:
        for e in f.entries():
            out[e.correlation_id or ""].append(f.name)
    return out


def within_sigmas(count: int, n: int, p: float, sigmas: float = 5.0) -> bool:
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p))


@pytest.fixture()
def two_openai() -> Iterator[tuple[FakeServer, FakeServer]]:
    with fake("openai", "stable") as a, fake("openai", "canary") as b:
        yield a, b


# -- routing ------------------------------------------------------------------------------------------------


def test_weighted_split_matches_weights_and_the_served_by_header_matches_the_journal(two_openai: Any) -> None:
    stable, canary = two_openai
    n = 400
    with gateway([stable, canary], [("stable", OA, 80), ("canary", OA, 20)]) as gw:
        results = burst(gw.url, [(chat(f"split {i}"), corr(f"r{i}")) for i in range(n)])
    assert all(status == 200 for status, _, _ in results)
    landed = by_correlation(stable, canary)
    assert sum(len(v) for v in landed.values()) == n  # one upstream call per request, no duplicates
    assert within_sigmas(len(canary.entries()), n, 0.2)
    for i, (_, headers, _) in enumerate(results):
        assert landed[f"r{i}"] == [headers["x-gatedrill-upstream"]]
        assert headers["x-gatedrill-attempts"] == "1" and headers["x-gatedrill-fallback"] == "false"


def test_sticky_sessions_never_hop_whether_named_by_header_or_by_body_marker(two_openai: Any) -> None:
    stable, canary = two_openai
    requests = []
    for s in range(60):
        for turn in (1, 2, 3):
            if s % 2:
                requests.append((chat(f"s{s} t{turn}"), corr(f"s{s}-{turn}", f"sess{s}", turn)))
            else:  # the session only in the `user` marker, as when a client cannot set headers
                requests.append((chat(f"s{s} t{turn}", user=f"gd:s{s}-{turn}:sess{s}:{turn}"), {}))
    with gateway([stable, canary], [("stable", OA, 50), ("canary", OA, 50)], sticky="session") as gw:
        results = burst(gw.url, requests, concurrency=8)
    assert all(status == 200 for status, _, _ in results)
    sessions: dict[str, set[str]] = defaultdict(set)
    for f in (stable, canary):
        for e in f.entries():
            sessions[e.session_id or ""].add(f.name)
    assert len(sessions) == 60 and all(len(v) == 1 for v in sessions.values())
    per_upstream = Counter(next(iter(v)) for v in sessions.values())
    assert per_upstream["stable"] >= 10 and per_upstream["canary"] >= 10


def test_weights_change_at_runtime_through_the_control_api(two_openai: Any) -> None:
    stable, canary = two_openai
    with gateway([stable, canary], [("stable", OA, 1), ("canary", OA, 0)]) as gw:
        assert {post(gw, chat()).headers["x-gatedrill-upstream"] for _ in range(5)} == {"stable"}
        r = httpx.put(gw.url + "/_gatedrill/weights", json={"stable": 0, "canary": 1})
        assert r.status_code == 200
        assert {post(gw, chat()).headers["x-gatedrill-upstream"] for _ in range(5)} == {"canary"}
        assert httpx.put(gw.url + "/_gatedrill/weights", json={"nope": 1}).status_code == 422


# -- translation ---------------------------------------------------------------------------------------------

CONVERSATION: Any = [
    {"role": "system", "content": "You are terse."},
    {"role": "developer", "content": "Answer in English."},
    {"role": "user", "content": "What is the weather in Paris and Rome?"},
    {"role": "assistant", "content": "Let me check.", "tool_calls": [
        {"id": "call_p", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
        {"id": "call_r", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}},
    ]},
    {"role": "tool", "tool_call_id": "call_p", "content": "18C, cloudy"},
    {"role": "tool", "tool_call_id": "call_r", "content": "25C, sunny"},
    {"role": "user", "content": "Thanks."},
    {"role": "user", "content": [{"type": "text", "text": "And which is warmer?"}]},
]


def test_openai_request_reaches_anthropic_hoisted_alternating_with_tool_results_in_place() -> None:
    with fake("anthropic", "claude", reply={"mode": "witness"}) as an, \
            gateway([an], [("claude", AN, 1)]) as gw:
        r = sdk(gw).chat.completions.with_raw_response.create(
            model="drill", messages=CONVERSATION, tools=[WEATHER], tool_choice="none",
            user="gd:c1:sess1:2", extra_headers=corr("c1", "sess1", 2))
        reply = r.parse()
    (entry,) = an.entries()
    sent = entry.body
    assert sent["system"] == [{"type": "text", "text": "You are terse."},
                              {"type": "text", "text": "Answer in English."}]
    roles = [m["role"] for m in sent["messages"]]
    assert roles == ["user", "assistant", "user"]  # the two tool results and two user turns merged into one
    uses = [b["id"] for b in sent["messages"][1]["content"] if b["type"] == "tool_use"]
    results = [b for b in sent["messages"][2]["content"] if b["type"] == "tool_result"]
    assert uses == ["call_p", "call_r"] and [b["tool_use_id"] for b in results] == uses
    assert sent["messages"][2]["content"][:2] == results  # tool results first, then the user's text
    assert sent["messages"][1]["content"][1]["input"] == {"city": "Paris"}
    assert sent["tools"][0]["input_schema"] == WEATHER["function"]["parameters"]
    assert sent["tool_choice"] == {"type": "none"}
    assert sent["metadata"] == {"user_id": "gd:c1:sess1:2"} and sent["max_tokens"] > 0
    assert entry.headers["x-gatedrill-correlation-id"] == "c1" and entry.headers["x-gatedrill-turn"] == "2"
    # the fake's witness reply proves it saw exactly the conversation the client sent
    assert f"digest={digest(openai_atoms(CONVERSATION))}" in (reply.choices[0].message.content or "")
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and reply.usage.prompt_tokens == entry.tokens_in
    assert r.headers["x-gatedrill-upstream"] == "claude" and r.headers["x-gatedrill-model"] == AN


def test_anthropic_tool_use_comes_back_as_openai_tool_calls_json_and_streamed() -> None:
    messages = [{"role": "user", "content": "Weather in Oslo?"}]
    with fake("anthropic", "claude") as an, gateway([an], [("claude", AN, 1)]) as gw:
        client = sdk(gw)
        reply = client.chat.completions.create(model="drill", messages=messages, tools=[WEATHER])
        calls: dict[int, dict[str, str]] = defaultdict(lambda: {"id": "", "name": "", "arguments": ""})
        finish = None
        for chunk in client.chat.completions.create(model="drill", messages=messages, tools=[WEATHER],
                                                    stream=True):
            for ch in chunk.choices:
                finish = ch.finish_reason or finish
                for d in ch.delta.tool_calls or []:
                    calls[d.index]["id"] += d.id or ""
                    calls[d.index]["name"] += (d.function.name or "") if d.function else ""
                    calls[d.index]["arguments"] += (d.function.arguments or "") if d.function else ""
    json_entry, stream_entry = an.entries()
    (call,) = reply.choices[0].message.tool_calls or []
    expected = json_entry.reply["choices"][0]["tool_calls"][0]
    assert reply.choices[0].finish_reason == "tool_calls"
    assert call.id == expected["id"] and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == json.loads(expected["arguments"])
    streamed = stream_entry.reply["choices"][0]["tool_calls"][0]
    assert finish == "tool_calls"
    assert calls[0] == {"id": streamed["id"], "name": "get_weather", "arguments": streamed["arguments"]}


def test_anthropic_stream_becomes_an_openai_chunk_stream_with_usage_and_done() -> None:
    with fake("anthropic", "claude", latency={"ttft_ms": 5, "itl_ms": 1}) as an, \
            gateway([an], [("claude", AN, 1)]) as gw:
        stream = sdk(gw).chat.completions.create(model="drill", messages=[{"role": "user", "content": "Hi"}],
                                                 stream=True, stream_options={"include_usage": True})
        chunks = list(stream)
        _, raw = post_stream(gw, chat("Hi"))
    first, second = an.entries()
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == first.reply["choices"][0]["text"] and len(text) > 0
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    usage = chunks[-1].usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (first.tokens_in,
                                                                                     first.tokens_out)
    assert raw.endswith(DONE.decode()) and stream_text(raw)[0] == second.reply["choices"][0]["text"]


def test_openai_stream_is_relayed_intact_with_routing_headers_in_the_response_head() -> None:
    with fake("openai", "gpt", latency={"ttft_ms": 5, "itl_ms": 1}) as oa, gateway([oa], [("gpt", OA, 1)]) as gw:
        r, raw = post_stream(gw, chat("Hi", stream_options={"include_usage": True}), corr("s1"))
    (entry,) = oa.entries()
    text, finishes = stream_text(raw)
    assert r.headers["x-gatedrill-upstream"] == "gpt" and r.headers["x-gatedrill-attempts"] == "1"
    assert r.headers["content-type"].startswith("text/event-stream")
    assert text == entry.reply["choices"][0]["text"] and finishes == ["stop"]
    assert raw.endswith(DONE.decode()) and '"usage":{"prompt_tokens"' in raw


# -- retries, fallbacks, cooldown ----------------------------------------------------------------------------


def test_retry_waits_for_the_upstreams_retry_after() -> None:
    rule = {"fault": {"kind": "http_error", "status": 429, "retry_after": 0.6}, "when": {"first_n": 1}}
    with fake("openai", "gpt", faults=[rule]) as oa, \
            gateway([oa], [("gpt", OA, 1)], retry={"attempts": 2, "backoff_ms": 10}) as gw:
        r = post(gw, chat(), corr("c1", "s1", 1))
    first, second = oa.entries(correlation_id="c1")
    assert r.status_code == 200 and r.headers["x-gatedrill-attempts"] == "2"
    assert (first.status, second.status) == (429, 200)
    assert second.arrival_mono - first.arrival_mono >= 0.59  # retry-after-ms: 600
    for e in (first, second):  # every attempt carries the client's correlation
        assert (e.correlation_id, e.session_id, e.turn) == ("c1", "s1", 1)


def test_fallback_serves_when_the_primary_returns_5xx_and_carries_the_marker_across_dialects() -> None:
    down = [{"fault": {"kind": "http_error", "status": 500}}]
    with fake("openai", "primary", faults=down) as p, fake("anthropic", "secondary", models=[{"id": AN}]) as s, \
            gateway([p, s], [("primary", OA, 1)], fallbacks=["secondary"],
                    retry={"attempts": 2, "backoff_ms": 5}) as gw:
        r = post(gw, chat(user="gd:c1:s1:1"), corr("c1", "s1", 1))
    assert r.status_code == 200
    assert (r.headers["x-gatedrill-upstream"], r.headers["x-gatedrill-model"]) == ("secondary", AN)
    assert r.headers["x-gatedrill-attempts"] == "3" and r.headers["x-gatedrill-fallback"] == "true"
    assert [e.status for e in p.entries(correlation_id="c1")] == [500, 500]
    (entry,) = s.entries(correlation_id="c1")
    assert entry.body["metadata"]["user_id"] == "gd:c1:s1:1" and entry.headers["x-gatedrill-session-id"] == "s1"


def test_cooldown_takes_a_failing_upstream_out_and_a_probe_brings_it_back() -> None:
    down = [{"fault": {"kind": "http_error", "status": 503}}]
    with fake("openai", "primary", faults=down) as p, fake("openai", "secondary") as s, \
            gateway([p, s], [("primary", OA, 1)], fallbacks=["secondary"],
                    cooldown={"failures": 2, "window_s": 10, "cooldown_s": 0.5}) as gw:
        during = [post(gw, chat(), corr(f"d{i}")) for i in range(10)]
        assert all(r.status_code == 200 for r in during)
        assert len(p.entries()) == 2  # two failures opened the breaker; the rest never reached it
        assert httpx.get(gw.url + "/health").json()["upstreams"]["primary"]["state"] == "open"
        p.clear_faults()
        time.sleep(0.6)
        after = [post(gw, chat(), corr(f"a{i}")) for i in range(5)]
    assert [r.headers["x-gatedrill-upstream"] for r in after] == ["primary"] * 5  # the probe closed it
    assert [e.status for e in p.entries()] == [503, 503, 200, 200, 200, 200, 200]


def test_cooldown_takes_out_an_upstream_that_breaks_every_stream_midway() -> None:
    broken = [{"fault": {"kind": "reset_mid_stream", "after_chunks": 2}}]
    with fake("openai", "primary", faults=broken) as p, fake("openai", "secondary") as s, \
            gateway([p, s], [("primary", OA, 1)], fallbacks=["secondary"],
                    cooldown={"failures": 2, "window_s": 10, "cooldown_s": 30}) as gw:
        streams = [post_stream(gw, chat(), corr(f"c{i}")) for i in range(4)]
    assert [r.headers["x-gatedrill-upstream"] for r, _ in streams] == ["primary", "primary", "secondary", "secondary"]
    assert ["[DONE]" in sse_data(raw) for _, raw in streams] == [False, False, True, True]
    assert len(p.entries()) == 2


def test_stream_that_fails_before_its_first_byte_is_retried_transparently() -> None:
    rule = {"fault": {"kind": "reset"}, "when": {"first_n": 1}}
    with fake("openai", "gpt", faults=[rule]) as oa, \
            gateway([oa], [("gpt", OA, 1)], retry={"attempts": 2, "backoff_ms": 5}) as gw:
        r, raw = post_stream(gw, chat(), corr("c1"))
    assert r.status_code == 200 and r.headers["x-gatedrill-attempts"] == "2"
    assert raw.endswith(DONE.decode()) and stream_text(raw)[1] == ["stop"]


# -- context windows -----------------------------------------------------------------------------------------


@pytest.fixture()
def small_and_large() -> Iterator[tuple[FakeServer, FakeServer]]:
    with fake("openai", "small", models=[{"id": OA, "context_window": 300}]) as small, \
            fake("anthropic", "large") as large:
        yield small, large


def test_prompt_over_the_small_window_never_reaches_the_small_model(small_and_large: Any) -> None:
    small, large = small_and_large
    with gateway([small, large], [("small", OA, 1)], context_window_fallbacks={"small": "large"}) as gw:
        short = post(gw, chat("Short question?"), corr("short"))
        long = post(gw, chat(LONG_PROMPT), corr("long"))
    assert short.headers["x-gatedrill-upstream"] == "small"
    assert long.status_code == 200 and long.headers["x-gatedrill-upstream"] == "large"
    assert long.headers["x-gatedrill-fallback"] == "true" and long.headers["x-gatedrill-attempts"] == "1"
    assert small.entries(correlation_id="long") == [] and len(large.entries(correlation_id="long")) == 1


def test_window_check_counts_tokens_exactly_as_the_fake_does_at_the_boundary(small_and_large: Any) -> None:
    small, large = small_and_large
    sizes = range(262, 290, 2)  # prompts of n+6 tokens plus max_tokens 20 straddle the 300-token window
    with gateway([small, large], [("small", OA, 1)], context_window_fallbacks={"small": "large"}) as gw:
        replies = [post(gw, chat(" ".join(["word"] * n), max_tokens=20), corr(f"n{n}")) for n in sizes]
    assert all(r.status_code == 200 for r in replies)
    assert all(e.status == 200 and e.tokens_in + 20 <= 300 for e in small.entries())  # never a 400 from small
    on_small = {e.correlation_id for e in small.entries()}
    assert on_small == {f"n{n}" for n in sizes if n + 6 + 20 <= 300}  # everything that fits stayed small
    assert len(large.entries()) == len(sizes) - len(on_small) > 0


def test_context_error_from_an_upstream_falls_back_when_the_gateway_did_not_know_the_window(
        small_and_large: Any) -> None:
    small, large = small_and_large
    config = {"intent": {"targets": [{"upstream": "small", "model": OA}],
                         "context_window_fallbacks": {"small": "large"}},
              "upstreams": [endpoint(small, windows=False), endpoint(large)]}
    with ReferenceGateway(config) as gw:
        r = post(gw, chat(LONG_PROMPT), corr("long"))
    assert r.status_code == 200 and r.headers["x-gatedrill-upstream"] == "large"
    assert [e.status for e in small.entries(correlation_id="long")] == [400]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_context_error_without_a_fallback_becomes_a_400_with_openais_message(provider: str) -> None:
    model = OA if provider == "openai" else AN
    with fake(provider, "small", models=[{"id": model, "context_window": 300}]) as small, \
            gateway([small], [("small", model, 1)]) as gw, pytest.raises(openai.BadRequestError) as info:
        sdk(gw).chat.completions.create(model="drill", messages=[{"role": "user", "content": LONG_PROMPT}])
    err = info.value.body
    assert isinstance(err, dict) and err["code"] == "context_length_exceeded" and err["param"] == "messages"
    assert err["message"].startswith("This model's maximum context length is 300 tokens. However, your messages "
                                     "resulted in ")


# -- error mapping and stream integrity ----------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_rate_limit_stays_429_with_retry_after_passed_through(provider: str) -> None:
    model = OA if provider == "openai" else AN
    rule = {"fault": {"kind": "http_error", "status": 429, "retry_after": 3}}
    with fake(provider, "up", faults=[rule]) as up, \
            gateway([up], [("up", model, 1)], retry={"attempts": 2, "max_retry_after_s": 1}) as gw:
        r = post(gw, chat(), corr("c1"))
    assert r.status_code == 429 and r.headers["retry-after"] == "3" and r.headers["retry-after-ms"] == "3000"
    assert r.headers["x-gatedrill-attempts"] == "1"  # 3 s is over max_retry_after_s: no wait, no retry
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["code"] == "rate_limit_exceeded"
    assert len(up.entries()) == 1


@pytest.mark.parametrize(("provider", "fault", "status"), [
    ("openai", {"kind": "http_error", "status": 500}, 502),
    ("openai", {"kind": "http_error", "status": 503}, 503),
    ("anthropic", {"kind": "http_error", "status": 529}, 503),
    ("openai", {"kind": "reset"}, 502),
    ("anthropic", {"kind": "hang", "max_seconds": 5}, 504),
    ("openai", {"kind": "http_error", "status": 401}, 401),
])
def test_upstream_failures_map_to_client_errors_in_openais_envelope(provider: str, fault: dict[str, Any],
                                                                    status: int) -> None:
    model = OA if provider == "openai" else AN
    with fake(provider, "up", faults=[{"fault": fault}]) as up, \
            gateway([up], [("up", model, 1)], timeout_s=0.4, cooldown={"enabled": False}) as gw:
        r = post(gw, chat(), corr("c1"))
    assert r.status_code == status
    assert set(r.json()["error"]) == {"message", "type", "param", "code"}
    assert r.headers["x-gatedrill-upstream"] == "up" and r.headers["x-gatedrill-attempts"] == "1"


@pytest.mark.parametrize(("provider", "fault"), [
    ("openai", {"kind": "reset_mid_stream", "after_chunks": 3}),
    ("openai", {"kind": "truncate", "after_chunks": 3}),
    ("openai", {"kind": "malformed", "after_chunks": 3}),
    ("anthropic", {"kind": "stream_error", "status": 529, "after_chunks": 3}),
    ("anthropic", {"kind": "reset_mid_stream", "after_chunks": 3}),
])
def test_mid_stream_failure_reaches_the_client_as_an_error_never_a_clean_short_reply(
        provider: str, fault: dict[str, Any]) -> None:
    model = OA if provider == "openai" else AN
    with fake(provider, "up", faults=[{"fault": fault}], reply={"output_tokens": 20}) as up, \
            gateway([up], [("up", model, 1)]) as gw:
        r, raw = post_stream(gw, chat())
        with pytest.raises(openai.APIError):
            for _ in sdk(gw).chat.completions.create(model="drill", messages=[{"role": "user", "content": "x"}],
                                                     stream=True):
                pass
    assert r.status_code == 200
    data = sse_data(raw)
    assert "[DONE]" not in data and "error" in json.loads(data[-1])
    assert stream_text(raw)[1] == []  # no finish_reason: the reply does not pretend to be complete


def test_front_end_serves_models_health_and_rejects_bad_requests_in_the_openai_envelope(two_openai: Any) -> None:
    stable, _ = two_openai
    with gateway([stable], [("stable", OA, 1)]) as gw:
        models = sdk(gw).models.list()
        health = httpx.get(gw.url + "/health").json()
        wrong_model = post(gw, {**chat(), "model": "gpt-9"})
        not_json = httpx.post(gw.base_url + "/chat/completions", content=b"{nope",
                              headers={"content-type": "application/json"})
        no_messages = post(gw, {"model": "drill", "messages": []})
    assert [m.id for m in models.data] == ["drill"]
    assert health["status"] == "ok" and health["upstreams"]["stable"]["state"] == "closed"
    assert (wrong_model.status_code, wrong_model.json()["error"]["code"]) == (404, "model_not_found")
    assert not_json.status_code == 400 and no_messages.status_code == 400
    assert stable.entries() == []


def test_small_responses_are_not_held_back_by_nagle(two_openai: Any) -> None:
    stable, _ = two_openai
    with gateway([stable], [("stable", OA, 1)]) as gw, httpx.Client() as client:
        times = []
        for _ in range(30):
            t = time.perf_counter()
            client.post(gw.base_url + "/chat/completions", json=chat())
            times.append(time.perf_counter() - t)
    assert sorted(times)[15] < 0.03  # a Nagle / delayed-ACK stall costs about 40 ms per response


def test_shutdown_answers_a_request_in_flight_instead_of_dropping_it() -> None:
    with fake("openai", "up", faults=[{"fault": {"kind": "hang"}}]) as up:
        gw = gateway([up], [("up", OA, 1)]).start()
        answers: list[httpx.Response] = []
        client = threading.Thread(target=lambda: answers.append(post(gw, chat())))
        client.start()
        deadline = time.monotonic() + 5
        while not up.entries() and time.monotonic() < deadline:  # the request is hanging upstream
            time.sleep(0.01)
        gw.stop()
        client.join(5)
    assert [r.status_code for r in answers] == [502]
    assert set(answers[0].json()["error"]) == {"message", "type", "param", "code"}


def test_module_entry_point_announces_its_url_and_exits_cleanly_on_sigterm(tmp_path: Any) -> None:
    with fake("openai", "gpt") as oa:
        path = tmp_path / "gateway.json"
        path.write_text(json.dumps({"intent": {"targets": [{"upstream": "gpt", "model": OA}]},
                                    "upstreams": [endpoint(oa)], "seed": 1}))
        proc = subprocess.Popen([sys.executable, "-m", "gatedrill.harness.reference", str(path)],
                                stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            name, url = proc.stdout.readline().strip().split("\t")
            assert name == "reference"
            r = httpx.post(url + "/v1/chat/completions", json=chat(), timeout=10)
            assert r.status_code == 200 and r.headers["x-gatedrill-upstream"] == "gpt"
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0


# -- mutants: each bug is observable ------------------------------------------------------------------------


def test_mutant_ignore_weights_splits_evenly_whatever_the_weights(two_openai: Any) -> None:
    stable, canary = two_openai
    n = 200
    with gateway([stable, canary], [("stable", OA, 95), ("canary", OA, 5)], mutant="ignore_weights") as gw:
        burst(gw.url, [(chat(), corr(f"r{i}")) for i in range(n)])
    assert within_sigmas(len(canary.entries()), n, 0.5) and not within_sigmas(len(canary.entries()), n, 0.05)


def test_mutant_never_cooldown_keeps_sending_to_a_failing_upstream() -> None:
    down = [{"fault": {"kind": "http_error", "status": 503}}]
    with fake("openai", "primary", faults=down) as p, fake("openai", "secondary") as s, \
            gateway([p, s], [("primary", OA, 1)], fallbacks=["secondary"], mutant="never_cooldown",
                    cooldown={"failures": 2, "window_s": 10, "cooldown_s": 30}) as gw:
        assert all(post(gw, chat()).status_code == 200 for _ in range(10))
    assert len(p.entries()) == 10  # the correct gateway stops after 2 (see the cooldown test)


@pytest.mark.parametrize("mutant", [None, "drop_history_on_switch"])
def test_history_survives_a_switch_from_openai_to_anthropic_unless_the_mutant_drops_it(mutant: str | None) -> None:
    with fake("openai", "gpt", reply={"mode": "witness"}) as oa, \
            fake("anthropic", "claude", reply={"mode": "witness"}) as an, \
            gateway([oa, an], [("gpt", OA, 1), ("claude", AN, 0)], mutant=mutant) as gw:
        client = sdk(gw)
        history: list[dict[str, Any]] = [{"role": "system", "content": "Be brief."},
                                         {"role": "user", "content": "First question."}]
        first = client.chat.completions.create(model="drill", messages=history,
                                               extra_headers=corr("t1", "s1", 1))
        history += [{"role": "assistant", "content": first.choices[0].message.content},
                    {"role": "user", "content": "Second question."}]
        gw.set_weights({"gpt": 0, "claude": 1})
        second = client.chat.completions.create(model="drill", messages=history,
                                                extra_headers=corr("t2", "s1", 2))
    (entry,) = an.entries(correlation_id="t2")
    full = f"digest={digest(openai_atoms(history))}"
    if mutant is None:
        assert full in (second.choices[0].message.content or "") and len(entry.body["messages"]) == 3
    else:
        assert full not in (second.choices[0].message.content or "")
        assert entry.body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Second question."}]}]


def test_mutant_truncate_over_window_cuts_the_prompt_onto_the_small_model(small_and_large: Any) -> None:
    small, large = small_and_large
    with gateway([small, large], [("small", OA, 1)], context_window_fallbacks={"small": "large"},
                 mutant="truncate_over_window") as gw:
        r = post(gw, chat(LONG_PROMPT), corr("long"))
    (entry,) = small.entries(correlation_id="long")
    assert r.status_code == 200 and r.headers["x-gatedrill-upstream"] == "small"
    assert large.entries() == [] and entry.tokens_in <= 300
    assert len(entry.body["messages"][0]["content"]) < len(LONG_PROMPT)


def test_mutant_rate_limit_to_500_hides_the_429_and_its_retry_after() -> None:
    rule = {"fault": {"kind": "http_error", "status": 429, "retry_after": 3}}
    with fake("openai", "up", faults=[rule]) as up, \
            gateway([up], [("up", OA, 1)], mutant="rate_limit_to_500") as gw:
        r = post(gw, chat())
    assert r.status_code == 500 and "retry-after" not in r.headers


def test_mutant_lose_stream_tail_ends_cleanly_without_the_last_chunk_or_the_finish() -> None:
    with fake("openai", "up", reply={"output_tokens": 20}) as up, \
            gateway([up], [("up", OA, 1)], mutant="lose_stream_tail") as gw:
        r, raw = post_stream(gw, chat())
    (entry,) = up.entries()
    text, finishes = stream_text(raw)
    assert r.status_code == 200 and raw.endswith(DONE.decode())  # looks complete...
    assert finishes == [] and text != entry.reply["choices"][0]["text"]  # ...but is not
    assert entry.reply["choices"][0]["text"].startswith(text)


def test_mutant_retry_storm_retries_before_retry_after() -> None:
    rule = {"fault": {"kind": "http_error", "status": 429, "retry_after": 1}, "when": {"first_n": 3}}
    with fake("openai", "up", faults=[rule]) as up, \
            gateway([up], [("up", OA, 1)], retry={"attempts": 2}, cooldown={"enabled": False},
                    mutant="retry_storm") as gw:
        r = post(gw, chat(), corr("c1"))
    entries = up.entries(correlation_id="c1")
    assert r.status_code == 200 and r.headers["x-gatedrill-attempts"] == "4"  # more than the 2 allowed
    gaps = [b.arrival_mono - a.arrival_mono for a, b in itertools.pairwise(entries)]
    assert len(gaps) == 3 and max(gaps) < 0.5  # each 429 asked for 1 s


def test_mutant_duplicate_requests_sends_every_request_upstream_twice() -> None:
    with fake("openai", "up") as up, gateway([up], [("up", OA, 1)], mutant="duplicate_requests") as gw:
        replies = [post(gw, chat(), corr(f"c{i}")) for i in range(5)]
        deadline = time.monotonic() + 5
        while len(up.entries()) < 10 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert all(r.headers["x-gatedrill-attempts"] == "1" for r in replies)  # the gateway does not admit it
    assert Counter(e.correlation_id for e in up.entries()) == {f"c{i}": 2 for i in range(5)}


def test_correct_gateway_sends_each_attempt_once_with_headers_consistent_with_the_journal() -> None:
    rule = {"fault": {"kind": "http_error", "status": 500}, "when": {"every_nth": 2}}
    with fake("openai", "up", faults=[rule]) as up, \
            gateway([up], [("up", OA, 1)], retry={"attempts": 3, "backoff_ms": 1}, cooldown={"enabled": False}
                    ) as gw:
        replies = [post(gw, chat(), corr(f"c{i}")) for i in range(6)]
    counts = Counter(e.correlation_id for e in up.entries())
    assert all(r.status_code == 200 for r in replies)
    assert all(counts[f"c{i}"] == int(r.headers["x-gatedrill-attempts"]) for i, r in enumerate(replies))
    assert orjson.loads(replies[0].content)["object"] == "chat.completion"
