"""Control changes are all or nothing: a patch that fails anywhere (schema, tokenizer, fault rules) changes
nothing, later valid patches still work, numbers are strict, and a forced inline fault cannot crash the fake."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import httpx
import pytest

from gatedrill.fakes import FakeServer
from gatedrill.fakes.tokenizer import _cl100k

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
BOOM = {"name": "boom", "fault": {"kind": "http_error", "status": 503}}


@pytest.fixture()
def client() -> Iterator[httpx.Client]:
    with FakeServer(provider="openai") as srv, \
            httpx.Client(base_url=srv.url, headers={"authorization": "Bearer sk-x"}, timeout=10) as c:
        yield c


@pytest.fixture()
def no_tiktoken(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """tiktoken unimportable, as on a machine without the extra (a third-party module, not our code)."""
    _cl100k.cache_clear()
    monkeypatch.setitem(sys.modules, "tiktoken", None)
    yield
    _cl100k.cache_clear()


def test_a_patch_whose_tokenizer_fails_changes_nothing(client: httpx.Client, no_tiktoken: None) -> None:
    before = client.get("/_gatedrill/config").json()
    r = client.patch("/_gatedrill/config", json={"tokenizer": "cl100k", "latency": {"ttft_ms": 250}})
    assert r.status_code == 422 and "tiktoken" in r.json()["error"]["message"]
    assert client.get("/_gatedrill/config").json() == before
    ok = client.patch("/_gatedrill/config", json={"latency": {"ttft_ms": 1}})
    assert ok.status_code == 200 and ok.json()["latency"]["ttft_ms"]["value"] == 1


def test_fault_rules_put_after_a_failed_tokenizer_patch_fire(client: httpx.Client, no_tiktoken: None) -> None:
    assert client.patch("/_gatedrill/config", json={"tokenizer": "cl100k"}).status_code == 422
    r = client.put("/_gatedrill/faults", json=[BOOM])
    assert r.status_code == 200 and [f["name"] for f in r.json()] == ["boom"]
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 503


@pytest.mark.parametrize("patch", [
    '{"faults": [{"fault": {"kind": "http_error", "status": "500"}}]}',
    '{"latency": {"ttft_ms": "200"}}',
    '{"models": [{"id": "m", "context_window": 1000.0}]}',
    '{"faults": [{"fault": {"kind": "http_error", "status": 500, "retry_after": 1e400}}]}',
    '{"latency": {"itl_ms": 1e400}}',
])
def test_numbers_are_strict(client: httpx.Client, patch: str) -> None:
    before = client.get("/_gatedrill/config").json()
    r = client.patch("/_gatedrill/config", content=patch, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert client.get("/_gatedrill/config").json() == before


@pytest.mark.parametrize("inline", ['{"kind":"http_error","status":429,"retry_after":1e400}',
                                    '{"kind":"http_error","status":"503"}',
                                    '{"kind":"hang","max_seconds":1e400}'])
def test_an_out_of_range_inline_fault_is_ignored_not_a_500(client: httpx.Client, inline: str) -> None:
    r = client.post("/v1/chat/completions", json=CHAT, headers={"x-gatedrill-fault": inline})
    assert r.status_code == 200, r.text


def test_an_inline_fault_within_range_still_fires(client: httpx.Client) -> None:
    r = client.post("/v1/chat/completions", json=CHAT,
                    headers={"x-gatedrill-fault": '{"kind":"http_error","status":429,"retry_after":2.5}'})
    assert r.status_code == 429 and r.headers["retry-after-ms"] == "2500"
