"""Stateful rate limits: token buckets per model, charged as prompt + max_tokens, with exact retry times."""

from __future__ import annotations

import time

import httpx
import pytest

from gatedrill.fakes import FakeServer
from gatedrill.fakes.ratelimit import RateLimiter, format_duration


def test_rpm_allows_the_limit_then_refuses_with_the_exact_wait() -> None:
    rl = RateLimiter()
    for _ in range(60):
        assert rl.check("m", rpm=60, tpm=None, tokens=1, now=100.0).allowed
    d = rl.check("m", rpm=60, tpm=None, tokens=1, now=100.0)
    assert not d.allowed and d.limited_by == "requests"
    assert d.retry_after == pytest.approx(1.0)
    assert rl.check("m", rpm=60, tpm=None, tokens=1, now=101.0).allowed
    assert not rl.check("m", rpm=60, tpm=None, tokens=1, now=101.0).allowed


def test_tpm_charges_prompt_plus_max_tokens_and_says_when_it_fits() -> None:
    rl = RateLimiter()
    assert rl.check("m", rpm=None, tpm=6000, tokens=5000, now=0.0).allowed
    d = rl.check("m", rpm=None, tpm=6000, tokens=2000, now=0.0)
    assert not d.allowed and d.limited_by == "tokens"
    assert d.retry_after == pytest.approx(10.0)  # 1000 missing at 100 tokens/s
    assert rl.check("m", rpm=None, tpm=6000, tokens=2000, now=10.0).allowed


def test_a_refused_request_charges_nothing() -> None:
    rl = RateLimiter()
    rl.check("m", rpm=2, tpm=1000, tokens=900, now=0.0)
    assert not rl.check("m", rpm=2, tpm=1000, tokens=900, now=0.0).allowed
    d = rl.check("m", rpm=2, tpm=1000, tokens=100, now=0.0)
    assert d.allowed and d.requests is not None and d.requests.level == pytest.approx(0.0)


def test_a_request_larger_than_the_limit_never_fits() -> None:
    d = RateLimiter().check("m", rpm=None, tpm=100, tokens=101, now=0.0)
    assert not d.allowed and d.retry_after == float("inf")


def test_models_have_separate_buckets() -> None:
    rl = RateLimiter()
    assert rl.check("a", rpm=1, tpm=None, tokens=1, now=0.0).allowed
    assert rl.check("b", rpm=1, tpm=None, tokens=1, now=0.0).allowed
    assert not rl.check("a", rpm=1, tpm=None, tokens=1, now=0.0).allowed


@pytest.mark.parametrize("seconds, text", [(0.12, "120ms"), (1.0, "1s"), (45.19, "45.2s"), (360.0, "6m0s")])
def test_reset_durations_use_openai_format(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_served_rate_matches_a_known_rpm_over_time() -> None:
    """At 120 RPM (2/s, burst 120) hammered for ~2 s after draining, accepted = 2/s within one request."""
    cfg = {"provider": "openai", "models": [{"id": "m", "rpm": 120}]}
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    with FakeServer(cfg) as srv, httpx.Client(base_url=srv.url, headers={"authorization": "Bearer k"}) as c:
        statuses = [c.post("/v1/chat/completions", json=body).status_code for _ in range(130)]
        assert statuses.count(200) in (120, 121) and statuses[-1] == 429
        start = time.monotonic()
        accepted = 0
        while time.monotonic() - start < 2.0:
            r = c.post("/v1/chat/completions", json=body)
            accepted += r.status_code == 200
            time.sleep(0.01)
        elapsed = time.monotonic() - start
        assert abs(accepted - 2 * elapsed) <= 1.5, (accepted, elapsed)
        r = c.post("/v1/chat/completions", json=body)
        if r.status_code == 429:
            wait_ms = float(r.headers["retry-after-ms"])
            assert 0 < wait_ms <= 500
            assert r.json()["error"]["code"] == "rate_limit_exceeded"
            assert "on requests per min (RPM): Limit 120" in r.json()["error"]["message"]
            time.sleep(wait_ms / 1000 + 0.01)
            assert c.post("/v1/chat/completions", json=body).status_code == 200
