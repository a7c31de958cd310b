"""Interception: in-process clients aimed at the real provider hosts are answered by fakes, with the same
replies, faults, pacing and journal as over HTTP.

Clients are the official SDKs (openai 3.x and anthropic 2.x, both on httpx2) and plain httpx (the respx
path LiteLLM takes as a library). No test reaches the internet: every host used is intercepted, or is a
fake on 127.0.0.1 that proves unmatched hosts pass through untouched.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import threading
import time
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest

from gatedrill.fakes import Fake, FakeServer, Interception, intercept

MODEL = "gpt-4o-mini"
CLAUDE = "claude-haiku-4-5"
USER = [{"role": "user", "content": "Say something."}]
CHAT_URL = "https://api.openai.com/v1/chat/completions"
AUTH = {"authorization": "Bearer sk-test"}


def fault(spec: dict[str, Any]) -> dict[str, str]:
    return {"x-gatedrill-fault": json.dumps(spec)}


def oai(**kw: Any) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-test", max_retries=0, **kw)


def aoai(**kw: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key="sk-test", max_retries=0, **kw)


def paced(itl_ms: float, ttft_ms: float = 0, tokens: int = 10) -> dict[str, Any]:
    return {"provider": "openai", "latency": {"ttft_ms": ttft_ms, "itl_ms": itl_ms},
            "reply": {"output_tokens": tokens}}


# -- openai SDK (httpx2) ----------------------------------------------------------------------------------


def test_openai_sdk_json_reply_comes_from_the_fake_and_is_journaled() -> None:
    with intercept("openai") as ic:
        reply = oai().chat.completions.create(model=MODEL, messages=USER)
        fake = ic.fakes["openai"]
        (entry,) = fake.entries()
        assert reply.choices[0].message.content == entry.reply["choices"][0]["text"]
        assert entry.outcome == "complete" and entry.status == 200 and entry.model == MODEL
        assert entry.first_byte_mono is not None and entry.last_byte_mono is not None
        assert len(ic.router.calls) == 1
        assert ic.router.calls.last.request.url.host == "api.openai.com"
        assert ic.router.calls.last.request.headers["authorization"] == "Bearer sk-test"


def test_openai_sdk_stream_reassembles_to_the_journaled_reply() -> None:
    with intercept("openai") as ic:
        stream = oai().chat.completions.create(model=MODEL, messages=USER, stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        (entry,) = ic.fakes["openai"].entries()
        assert text == entry.reply["choices"][0]["text"] and entry.stream
        assert entry.outcome == "complete"


def test_openai_sdk_injected_429_is_a_rate_limit_error_with_retry_headers() -> None:
    with intercept("openai") as ic:
        with pytest.raises(openai.RateLimitError) as info:
            oai().chat.completions.create(model=MODEL, messages=USER, extra_headers=fault(
                {"kind": "http_error", "status": 429, "retry_after": 2}))
        assert info.value.response.headers["retry-after"] == "2"
        assert info.value.body["code"] == "rate_limit_exceeded"  # type: ignore[index]
        assert [e.status for e in ic.fakes["openai"].entries()] == [429]


def test_openai_sdk_reset_is_a_connection_error_from_an_httpx2_read_error() -> None:
    with intercept("openai") as ic:
        with pytest.raises(openai.APIConnectionError) as info:
            oai().chat.completions.create(model=MODEL, messages=USER, extra_headers=fault({"kind": "reset"}))
        assert isinstance(info.value.__cause__, (httpx.ReadError, httpx2.ReadError))  # openai 2.x: httpx; 3.x: httpx2
        (entry,) = ic.fakes["openai"].entries()
        assert entry.outcome == "reset" and entry.fault == "reset"


def test_openai_sdk_hang_times_out_at_the_clients_read_timeout() -> None:
    with intercept("openai") as ic:
        t0 = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            oai(timeout=0.3).chat.completions.create(model=MODEL, messages=USER, extra_headers=fault({"kind": "hang"}))
        elapsed = time.monotonic() - t0
        assert 0.28 <= elapsed < 1.0
        (entry,) = ic.fakes["openai"].entries()
        assert entry.outcome == "client_closed" and entry.fault == "hang"


def test_openai_sdk_reset_mid_stream_raises_while_iterating_after_some_chunks() -> None:
    with intercept("openai"):
        stream = oai().chat.completions.create(model=MODEL, messages=USER, stream=True,
                                               extra_headers=fault({"kind": "reset_mid_stream", "after_chunks": 2}))
        got = []
        # openai 3.x wraps a read error during iteration in APIConnectionError; 2.x lets httpx's error through.
        with pytest.raises((openai.APIConnectionError, httpx.ReadError, httpx2.ReadError)) as info:
            for chunk in stream:
                got.append(chunk)
        assert got, "chunks before the reset are delivered"
        err = info.value
        assert isinstance(err.__cause__ if isinstance(err, openai.APIConnectionError) else err,
                          (httpx.ReadError, httpx2.ReadError))


def test_openai_sdk_truncated_json_body_is_a_connection_error() -> None:
    with intercept("openai") as ic:
        with pytest.raises(openai.APIConnectionError) as info:
            oai().chat.completions.create(model=MODEL, messages=USER, extra_headers=fault({"kind": "truncate"}))
        assert isinstance(info.value.__cause__, (httpx.RemoteProtocolError, httpx2.RemoteProtocolError))
        assert "without sending complete message body (received" in str(info.value.__cause__)
        assert ic.fakes["openai"].entries()[0].outcome == "closed_early"


def test_openai_async_sdk_json_stream_and_faults_keep_the_journal_exact() -> None:
    async def run(ic: Interception) -> None:
        client = aoai()
        reply = await client.chat.completions.create(model=MODEL, messages=USER)
        assert reply.choices[0].message.content
        stream = await client.chat.completions.create(model=MODEL, messages=USER, stream=True)
        assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        with pytest.raises(openai.RateLimitError):
            await client.chat.completions.create(model=MODEL, messages=USER, extra_headers=fault(
                {"kind": "http_error", "status": 429}))
        with pytest.raises(openai.APIConnectionError):
            await client.chat.completions.create(model=MODEL, messages=USER, extra_headers=fault({"kind": "reset"}))
        t0 = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            await client.with_options(timeout=0.3).chat.completions.create(
                model=MODEL, messages=USER, extra_headers=fault({"kind": "hang"}))
        assert 0.28 <= time.monotonic() - t0 < 1.0

    with intercept("openai") as ic:
        asyncio.run(run(ic))
        journal = ic.fakes["openai"].journal
        assert journal.total == len(ic.router.calls) == 5
        assert journal.stats()["open"] == 0
        assert [e.outcome for e in journal] == ["complete", "complete", "complete", "reset", "client_closed"]


def test_sync_clients_on_many_threads_journal_every_request_exactly_once() -> None:
    with intercept("openai") as ic:
        client = oai()

        def work() -> None:
            for _ in range(5):
                client.chat.completions.create(model=MODEL, messages=USER)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stats = ic.fakes["openai"].journal.stats()
        assert stats["total"] == stats["finished"] == len(ic.router.calls) == 40
        assert len({e.seq for e in ic.fakes["openai"].entries()}) == 40


# -- anthropic SDK (httpx2) -------------------------------------------------------------------------------


def test_anthropic_sdk_json_and_stream_through_interception() -> None:
    with intercept("anthropic") as ic:
        client = anthropic.Anthropic(api_key="sk-ant-test", max_retries=0)
        msg = client.messages.create(model=CLAUDE, max_tokens=64, messages=USER)
        with client.messages.stream(model=CLAUDE, max_tokens=64, messages=USER) as stream:
            streamed = stream.get_final_text()
        assert msg.content[0].text == streamed  # type: ignore[union-attr]
        assert [e.outcome for e in ic.fakes["anthropic"].entries()] == ["complete", "complete"]
        assert ic.router.calls.last.request.url.host == "api.anthropic.com"


def test_anthropic_sdk_overloaded_and_reset_surface_as_sdk_errors() -> None:
    async def run() -> None:
        client = anthropic.AsyncAnthropic(api_key="sk-ant-test", max_retries=0)
        with pytest.raises(anthropic.APIStatusError) as info:
            await client.messages.create(model=CLAUDE, max_tokens=64, messages=USER, extra_headers=fault(
                {"kind": "http_error", "status": 529}))
        assert info.value.status_code == 529
        with pytest.raises(anthropic.APIConnectionError):
            await client.messages.create(model=CLAUDE, max_tokens=64, messages=USER,
                                         extra_headers=fault({"kind": "reset"}))

    with intercept("anthropic") as ic:
        asyncio.run(run())
        assert [e.outcome for e in ic.fakes["anthropic"].entries()] == ["complete", "reset"]


# -- plain httpx (respx path) -----------------------------------------------------------------------------


def test_httpx_client_json_reply_has_the_fakes_headers_and_length() -> None:
    with intercept("openai"), httpx.Client() as client:
        r = client.post(CHAT_URL, json={"model": MODEL, "messages": USER}, headers=AUTH)
        assert r.status_code == 200 and r.reason_phrase == "OK"
        assert r.headers["x-request-id"].startswith("req_")
        assert int(r.headers["content-length"]) == len(r.content)
        assert r.json()["object"] == "chat.completion"


def _arrivals_sync(client: httpx.Client) -> tuple[float, list[float]]:
    t0 = time.monotonic()
    with client.stream("POST", CHAT_URL, json={"model": MODEL, "messages": USER, "stream": True},
                       headers=AUTH) as r:
        head = time.monotonic() - t0
        arrivals = [time.monotonic() - t0 for _ in r.iter_raw()]
    return head, arrivals


async def _arrivals_async(client: httpx.AsyncClient) -> tuple[float, list[float]]:
    t0 = time.monotonic()
    async with client.stream("POST", CHAT_URL, json={"model": MODEL, "messages": USER, "stream": True},
                             headers=AUTH) as r:
        head = time.monotonic() - t0
        arrivals = [time.monotonic() - t0 async for _ in r.aiter_raw()]
    return head, arrivals


def _assert_paced(head: float, arrivals: list[float], ttft: float, itl: float) -> None:
    assert ttft - 0.005 <= head <= ttft + 0.04, "headers arrive with the first chunk, at TTFT"
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert len(arrivals) >= 9, "each token is its own chunk when tokens are 30 ms apart"
    assert itl * 0.8 <= statistics.median(gaps) <= itl * 1.35
    assert min(gaps) >= itl * 0.6
    assert arrivals[-1] == pytest.approx(ttft + (len(arrivals) - 1) * itl, abs=0.06), "no drift over the stream"


def test_httpx_sync_sse_chunks_arrive_one_by_one_at_the_inter_token_latency() -> None:
    with intercept(paced(itl_ms=30, ttft_ms=50)), httpx.Client() as client:
        head, arrivals = _arrivals_sync(client)
    _assert_paced(head, arrivals, 0.05, 0.03)


def test_httpx_async_sse_chunks_arrive_one_by_one_at_the_inter_token_latency() -> None:
    async def run() -> tuple[float, list[float]]:
        async with httpx.AsyncClient() as client:
            return await _arrivals_async(client)

    with intercept(paced(itl_ms=30, ttft_ms=50)):
        head, arrivals = asyncio.run(run())
    _assert_paced(head, arrivals, 0.05, 0.03)


def test_httpx_faults_raise_the_httpx_transport_errors() -> None:
    body = {"model": MODEL, "messages": USER}
    with intercept("openai") as ic, httpx.Client(timeout=0.2) as client:
        with pytest.raises(httpx.ReadError):
            client.post(CHAT_URL, json=body, headers={**AUTH, **fault({"kind": "reset"})})
        with pytest.raises(httpx.ReadTimeout):
            client.post(CHAT_URL, json=body, headers={**AUTH, **fault({"kind": "hang"})})
        with pytest.raises(httpx.RemoteProtocolError, match="Server disconnected without sending a response"):
            client.post(CHAT_URL, json=body, headers={**AUTH, **fault({"kind": "hang", "max_seconds": 0.05})})
        assert [e.outcome for e in ic.fakes["openai"].entries()] == ["reset", "client_closed", "hang_timeout"]


def test_a_gap_longer_than_the_read_timeout_ends_the_stream_with_read_timeout() -> None:
    with intercept(paced(itl_ms=250)) as ic, httpx.Client(timeout=0.1) as client:
        with client.stream("POST", CHAT_URL, json={"model": MODEL, "messages": USER, "stream": True},
                           headers=AUTH) as r:
            chunks = r.iter_raw()
            assert next(chunks)
            t0 = time.monotonic()
            with pytest.raises(httpx.ReadTimeout):
                next(chunks)
            assert time.monotonic() - t0 >= 0.09   # a timeout, not an early close (a late one reads the chunk)
        assert ic.fakes["openai"].entries()[0].outcome == "client_closed"


def test_openai_sdk_on_a_legacy_httpx_client_takes_the_respx_path() -> None:
    with intercept("openai") as ic, httpx.Client() as http:
        client = oai(http_client=http)
        assert client.chat.completions.create(model=MODEL, messages=USER).choices[0].message.content
        with pytest.raises(openai.APIConnectionError) as info:
            client.chat.completions.create(model=MODEL, messages=USER, extra_headers=fault({"kind": "reset"}))
        assert isinstance(info.value.__cause__, httpx.ReadError)
        assert len(ic.router.calls) == ic.fakes["openai"].journal.total == 2


def test_httpx_slow_drip_delivers_small_pieces_with_pauses() -> None:
    with intercept("openai") as ic, httpx.Client() as client:
        t0 = time.monotonic()
        with client.stream("POST", CHAT_URL, json={"model": MODEL, "messages": USER}, headers={
                **AUTH, **fault({"kind": "slow_drip", "chunk_bytes": 128, "interval_ms": 10})}) as r:
            pieces = [(time.monotonic() - t0, len(p)) for p in r.iter_raw()]
        assert all(n <= 128 for _, n in pieces) and len(pieces) >= 3
        assert sum(n for _, n in pieces) == int(r.headers["content-length"])
        assert pieces[-1][0] >= 0.01 * (len(pieces) - 1)
        assert ic.fakes["openai"].entries()[0].outcome == "complete"


def test_closing_a_stream_early_journals_client_closed() -> None:
    with intercept(paced(itl_ms=20)) as ic, httpx.Client() as client:
        with client.stream("POST", CHAT_URL, json={"model": MODEL, "messages": USER, "stream": True},
                           headers=AUTH) as r:
            next(r.iter_raw())
        (entry,) = ic.fakes["openai"].entries()
        assert entry.outcome == "client_closed"


# -- routing, hosts and the public API --------------------------------------------------------------------


def test_unmatched_hosts_pass_through_to_the_real_transport() -> None:
    with FakeServer(provider="openai") as real, intercept("openai") as ic:
        reply = oai(base_url=real.base_url).chat.completions.create(model=MODEL, messages=USER)
        assert reply.choices[0].message.content
        assert real.journal.total == 1
        assert ic.fakes["openai"].journal.total == 0 and len(ic.router.calls) == 0


def test_custom_hosts_route_each_fake_by_name() -> None:
    azure = {"provider": "openai", "name": "azure"}
    with intercept("openai", azure, hosts={"azure": ["gw.example.test", "gw2.example.test"]}) as ic:
        oai(base_url="https://gw2.example.test/v1").chat.completions.create(model=MODEL, messages=USER)
        oai().chat.completions.create(model=MODEL, messages=USER)
        assert ic.fakes["azure"].journal.total == 1 and ic.fakes["openai"].journal.total == 1


def test_a_fake_shared_with_a_server_keeps_one_journal_across_both_modes() -> None:
    fake = Fake(provider="openai")
    with FakeServer(fake) as srv, intercept(fake):
        oai().chat.completions.create(model=MODEL, messages=USER)
        oai(base_url=srv.base_url).chat.completions.create(model=MODEL, messages=USER)
    assert [e.seq for e in fake.entries()] == [0, 1]


def test_control_api_answers_on_the_intercepted_host_with_the_same_state() -> None:
    with intercept("openai") as ic:
        httpx.patch("https://api.openai.com/_gatedrill/config", json={"reply": {"mode": "echo"}})
        reply = oai().chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "ping pong"}])
        assert reply.choices[0].message.content == "ping pong"
        assert ic.fakes["openai"].config.reply.mode == "echo"
        journal = httpx.get("https://api.openai.com/_gatedrill/journal").json()
        assert [e["status"] for e in journal["entries"]] == [200]


def test_runtime_patch_on_the_fake_changes_intercepted_replies() -> None:
    with intercept("openai") as ic:
        ic["openai"].add_fault({"name": "down", "fault": {"kind": "http_error", "status": 503}})
        with pytest.raises(openai.InternalServerError):
            oai().chat.completions.create(model=MODEL, messages=USER)


def test_interception_ends_when_the_block_exits() -> None:
    with FakeServer(provider="openai") as real:
        with intercept("openai", hosts={"openai": "127.0.0.1"}):
            httpx.get(real.url + "/v1/models", headers=AUTH)
        assert real.journal.total == 0, "127.0.0.1 was intercepted inside the block"
        httpx.get(real.url + "/v1/models", headers=AUTH)
        assert real.journal.total == 1


def test_decorator_wraps_sync_and_async_functions_and_passes_the_interception() -> None:
    seen: list[int] = []

    @intercept("openai")
    def sync_call(intercepted: Interception) -> None:
        oai().models.list()
        seen.append(intercepted.fakes["openai"].journal.total)

    @intercept("openai")
    async def async_call() -> None:
        await aoai().models.list()
        seen.append(1)

    sync_call()
    asyncio.run(async_call())
    assert seen == [1, 1]


def test_two_fakes_claiming_one_host_is_a_config_error() -> None:
    from gatedrill.fakes import ConfigError

    with pytest.raises(ConfigError, match="both claim host"):
        intercept("openai", {"provider": "openai", "name": "second"})
    with pytest.raises(ConfigError, match="neither a fake name nor a provider"):
        intercept("openai", hosts={"opneai": "x.test"})
