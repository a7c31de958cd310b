"""Fault triggers and scripted replies decide exactly which requests fail, reproducibly."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import orjson
import pytest

from gatedrill.fakes import FakeServer

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture()
def srv() -> Iterator[FakeServer]:
    with FakeServer(provider="openai", seed=11) as s:
        yield s


@pytest.fixture()
def client(srv: FakeServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.url, headers={"authorization": "Bearer k"}, timeout=10) as c:
        yield c


def statuses(client: httpx.Client, n: int, body: dict | None = None, **kw: object) -> list[int]:
    return [client.post("/v1/chat/completions", json=body or CHAT, **kw).status_code for _ in range(n)]  # type: ignore[arg-type]


def test_first_n_fails_then_recovers(srv: FakeServer, client: httpx.Client) -> None:
    srv.set_faults([{"fault": {"kind": "http_error", "status": 500}, "when": {"first_n": 3}}])
    assert statuses(client, 5) == [500, 500, 500, 200, 200]


def test_every_nth_fails_on_schedule(srv: FakeServer, client: httpx.Client) -> None:
    srv.set_faults([{"fault": {"kind": "http_error", "status": 502}, "when": {"every_nth": 3}}])
    assert statuses(client, 7) == [200, 200, 502, 200, 200, 502, 200]


def test_probability_is_seeded_and_close_to_its_rate(srv: FakeServer, client: httpx.Client) -> None:
    rule = [{"fault": {"kind": "http_error", "status": 503}, "when": {"probability": 0.3}}]
    srv.set_faults(rule)
    first = statuses(client, 200)
    srv.reset()
    srv.set_faults(rule)
    assert statuses(client, 200) == first
    assert 35 <= first.count(503) <= 85


def test_time_window_applies_only_inside_it(srv: FakeServer, client: httpx.Client) -> None:
    srv.set_faults([{"fault": {"kind": "http_error", "status": 500}, "when": {"start_s": 0.2, "end_s": 0.5}}])
    assert statuses(client, 1) == [200]
    time.sleep(0.25)
    assert statuses(client, 1) == [500]
    time.sleep(0.3)
    assert statuses(client, 1) == [200]


def test_model_and_content_matches_select_requests(srv: FakeServer, client: httpx.Client) -> None:
    srv.set_faults([
        {"fault": {"kind": "http_error", "status": 500}, "when": {"model": "gpt-4o"}},
        {"fault": {"kind": "http_error", "status": 400}, "when": {"content": "(?i)forbidden"}},
    ])
    assert statuses(client, 1) == [200]
    assert statuses(client, 1, {**CHAT, "model": "gpt-4o"}) == [500]
    assert statuses(client, 1, {**CHAT, "messages": [{"role": "user", "content": "a FORBIDDEN topic"}]}) == [400]


def test_header_forces_a_named_rule_or_an_inline_fault(srv: FakeServer, client: httpx.Client) -> None:
    quota = {"kind": "http_error", "status": 429, "error_type": "insufficient_quota"}
    srv.set_faults([{"name": "quota", "fault": quota, "when": {"header_only": True}}])
    assert statuses(client, 1) == [200]
    r = client.post("/v1/chat/completions", json=CHAT, headers={"x-gatedrill-fault": "quota"})
    assert r.status_code == 429 and r.json()["error"]["code"] == "insufficient_quota"
    inline = orjson.dumps({"kind": "http_error", "status": 504}).decode()
    assert statuses(client, 1, headers={"x-gatedrill-fault": inline}) == [504]
    assert srv.entries()[-1].fault == "http_error"


def test_delay_fault_adds_latency(srv: FakeServer, client: httpx.Client) -> None:
    srv.set_faults([{"fault": {"kind": "delay", "ms": 250}}])
    t0 = time.monotonic()
    assert statuses(client, 1) == [200]
    assert time.monotonic() - t0 >= 0.24
    assert srv.entries()[-1].latency_injected_ms >= 249


def test_scripted_rules_answer_or_fail_by_turn() -> None:
    cfg = {"provider": "openai", "reply": {"mode": "script", "rules": [
        {"match": {"turn": 2}, "fail": {"kind": "http_error", "status": 503}},
        {"match": {"content": "^ping$"}, "reply": "pong"},
    ]}}
    turn2 = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "a"},
                                                  {"role": "assistant", "content": "b"},
                                                  {"role": "user", "content": "c"}]}
    with FakeServer(cfg) as srv, httpx.Client(base_url=srv.url, headers={"authorization": "Bearer k"}) as c:
        r = c.post("/v1/chat/completions", json={**CHAT, "messages": [{"role": "user", "content": "ping"}]})
        assert r.json()["choices"][0]["message"]["content"] == "pong"
        assert c.post("/v1/chat/completions", json=turn2).status_code == 503
        assert srv.entries()[-1].fault == "script[0]"
        other = c.post("/v1/chat/completions", json=CHAT).json()["choices"][0]["message"]["content"]
        assert other and other != "pong"


def test_echo_and_witness_modes(srv: FakeServer, client: httpx.Client) -> None:
    srv.patch({"reply": {"mode": "echo"}})
    r = client.post("/v1/chat/completions", json={**CHAT, "messages": [{"role": "user", "content": "say it back"}]})
    assert r.json()["choices"][0]["message"]["content"] == "say it back"
    srv.patch({"reply": {"mode": "witness"}})
    from gatedrill.fakes import digest, openai_atoms

    conv = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "one"},
            {"role": "assistant", "content": "two"}, {"role": "user", "content": "three"}]
    text = client.post("/v1/chat/completions", json={**CHAT, "messages": conv}).json()["choices"][0]["message"][
        "content"]
    assert text == f"witness fake=openai turn=2 digest={digest(openai_atoms(conv))} atoms=4"
