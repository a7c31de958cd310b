"""The control API on each fake's port: runtime changes are validated, journal queries page, metrics parse."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gatedrill.fakes import FakeServer

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture()
def srv() -> Iterator[FakeServer]:
    with FakeServer(provider="openai", name="primary") as s:
        yield s


@pytest.fixture()
def client(srv: FakeServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.url, headers={"authorization": "Bearer sk-secret-key-1234"}, timeout=10) as c:
        yield c


def test_health_names_the_fake(client: httpx.Client) -> None:
    body = client.get("/_gatedrill/health").json()
    assert body["status"] == "ok" and body["name"] == "primary" and body["provider"] == "openai"


def test_config_patch_changes_behaviour_at_runtime(client: httpx.Client) -> None:
    t0 = time.monotonic()
    client.post("/v1/chat/completions", json=CHAT)
    fast = time.monotonic() - t0
    r = client.patch("/_gatedrill/config", json={"latency": {"ttft_ms": 300}})
    assert r.status_code == 200 and r.json()["latency"]["ttft_ms"]["value"] == 300
    t0 = time.monotonic()
    client.post("/v1/chat/completions", json=CHAT)
    assert time.monotonic() - t0 >= 0.29 > fast


@pytest.mark.parametrize(
    "patch, fragment",
    [
        ({"latency": {"ttft_ms": {"dist": "uniform", "low": 5, "high": 1}}}, "low <= high"),
        ({"reply": {"mode": "poetry"}}, "reply.mode"),
        ({"laytency": {}}, "unknown key"),
        ({"provider": "anthropic"}, "cannot change at runtime"),
        ({"faults": [{"fault": {"kind": "explode"}}]}, "faults.0.fault"),
        ({"models": [{"id": "m", "context_window": -5}]}, "context_window"),
    ],
)
def test_a_bad_patch_is_rejected_with_422_and_changes_nothing(client: httpx.Client, patch: dict,
                                                                fragment: str) -> None:
    before = client.get("/_gatedrill/config").json()
    r = client.patch("/_gatedrill/config", json=patch)
    assert r.status_code == 422
    assert fragment in r.json()["error"]["message"]
    assert client.get("/_gatedrill/config").json() == before


def test_a_patch_that_is_not_json_is_rejected(client: httpx.Client) -> None:
    r = client.patch("/_gatedrill/config", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 422 and "not valid JSON" in r.json()["error"]["message"]


def test_faults_can_be_added_listed_and_cleared(client: httpx.Client) -> None:
    r = client.post("/_gatedrill/faults", json={"name": "boom", "fault": {"kind": "http_error", "status": 503}})
    assert r.status_code == 200 and r.json()[0]["name"] == "boom"
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 503
    assert client.delete("/_gatedrill/faults").json() == []
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
    r = client.put("/_gatedrill/faults", json={"not": "a list"})
    assert r.status_code == 422


def test_journal_pages_with_a_cursor_and_filters(client: httpx.Client) -> None:
    for i in range(5):
        client.post("/v1/chat/completions", json=CHAT, headers={"x-gatedrill-correlation-id": f"c{i}"})
    client.post("/v1/chat/completions", json={**CHAT, "model": "missing"})
    page = client.get("/_gatedrill/journal", params={"limit": 2}).json()
    assert [e["correlation_id"] for e in page["entries"]] == ["c0", "c1"]
    page2 = client.get("/_gatedrill/journal", params={"cursor": page["next_cursor"], "limit": 10}).json()
    assert [e["correlation_id"] for e in page2["entries"]][:3] == ["c2", "c3", "c4"]
    assert page2["total"] == 6
    only_404 = client.get("/_gatedrill/journal", params={"status": 404}).json()["entries"]
    assert len(only_404) == 1 and only_404[0]["model"] == "missing"
    assert client.get("/_gatedrill/journal", params={"colour": "red"}).status_code == 422


def test_journal_entries_redact_credentials(client: httpx.Client) -> None:
    client.post("/v1/chat/completions", json=CHAT, headers={"x-api-key": "sk-other"})
    raw = client.get("/_gatedrill/journal").text
    assert "sk-secret-key-1234" not in raw and "sk-other" not in raw
    entry = client.get("/_gatedrill/journal").json()["entries"][0]
    assert entry["headers"]["authorization"] == "[redacted]"


def test_reset_clears_journal_and_rate_limits(srv: FakeServer, client: httpx.Client) -> None:
    srv.patch({"models": [{"id": "gpt-4o-mini", "rpm": 1}]})
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 429
    assert client.post("/_gatedrill/reset").status_code == 200
    assert client.get("/_gatedrill/health").json()["journal"]["total"] == 0
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 200


def test_metrics_are_prometheus_text(client: httpx.Client) -> None:
    client.post("/v1/chat/completions", json=CHAT)
    client.post("/v1/chat/completions", json={**CHAT, "model": "missing"})
    text = client.get("/_gatedrill/metrics").text
    samples = {(s.name, s.labels.get("status")): s.value for fam in text_string_to_metric_families(text)
               for s in fam.samples}
    assert samples[("gatedrill_fake_requests_total", "200")] == 1
    assert samples[("gatedrill_fake_requests_total", "404")] == 1


def test_control_requests_are_not_journaled_and_unknown_ones_404(client: httpx.Client) -> None:
    client.get("/_gatedrill/health")
    assert client.get("/_gatedrill/nope").status_code == 404
    assert client.get("/_gatedrill/health").json()["journal"]["total"] == 0


def test_python_handle_matches_the_http_api(srv: FakeServer, client: httpx.Client) -> None:
    srv.add_fault({"fault": {"kind": "http_error", "status": 500}, "when": {"first_n": 1}})
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 500
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
    assert [e.status for e in srv.entries()] == [500, 200]
    assert srv.journal.total == 2
