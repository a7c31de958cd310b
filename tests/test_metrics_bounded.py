"""Metrics stay bounded whatever clients send: a model name the fake does not serve is counted as `other`."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from gatedrill.fakes import FakeServer


def _series(text: str, name: str) -> list[dict[str, str]]:
    return [s.labels for fam in text_string_to_metric_families(text) if fam.name == name for s in fam.samples]


def test_invented_model_names_share_one_series() -> None:
    with FakeServer(provider="openai") as srv, \
            httpx.Client(base_url=srv.url, headers={"authorization": "Bearer sk-x"}, timeout=10) as c:
        for i in range(400):
            r = c.post("/v1/chat/completions", json={"model": f"made-up-{i}",
                                                     "messages": [{"role": "user", "content": "hi"}]})
            assert r.status_code == 404
        c.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
        text = c.get("/_gatedrill/metrics").text
    series = _series(text, "gatedrill_fake_requests")
    models = {s["model"] for s in series}
    assert models == {"other", "gpt-4o-mini"}, models
    assert len(series) <= 4
    assert sum(1 for s in series if s["model"] == "other") == 1
    assert len(text) < 10_000
