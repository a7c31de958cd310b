"""Credentials are never written down: not in a fake's journal or control API, not in client records or the load
worker's command line, not in the run record; and the control API can be locked with a token."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from gatedrill.fakes import FakeServer
from gatedrill.harness.load import LoadRun, LoadSpec, RequestMix

SECRET = "sk-live-5ecret0123456789abcdef"
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
SIGV4 = ("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/bedrock/aws4_request, "
         "SignedHeaders=host;x-amz-date, Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024")


@pytest.fixture()
def srv() -> Iterator[FakeServer]:
    with FakeServer(provider="openai", api_keys=[SECRET]) as s:
        yield s


@pytest.mark.parametrize("header", ["x-portkey-api-key", "x-litellm-api-key", "anthropic-api-key", "x-goog-api-key",
                                    "x-amz-security-token", "x-some-vendor-api-key", "x-custom-token"])
def test_every_credential_header_is_redacted_in_the_journal(srv: FakeServer, header: str) -> None:
    r = httpx.post(srv.url + "/v1/chat/completions", json=CHAT, timeout=10,
                   headers={"authorization": f"Bearer {SECRET}", header: SECRET})
    assert r.status_code == 200
    raw = httpx.get(srv.url + "/_gatedrill/journal", timeout=10).text
    assert SECRET not in raw
    (entry,) = httpx.get(srv.url + "/_gatedrill/journal", timeout=10).json()["entries"]
    assert entry["headers"][header] == "[redacted]"


def test_sigv4_and_json_config_headers_and_body_keys_are_redacted(srv: FakeServer) -> None:
    portkey = '{"strategy":{"mode":"fallback"},"targets":[{"provider":"openai","api_key":"' + SECRET + '"}]}'
    body = {**CHAT, "metadata": {"api_key": SECRET, "note": "kept"}}
    r = httpx.post(srv.url + "/v1/chat/completions", json=body, timeout=10,
                   headers={"authorization": f"Bearer {SECRET}", "x-portkey-config": portkey,
                            "x-amzn-trace": SIGV4})
    assert r.status_code == 200
    raw = httpx.get(srv.url + "/_gatedrill/journal", timeout=10).text
    for leaked in (SECRET, "AKIAIOSFODNN7EXAMPLE", "fe5f80f77d5fa3be"):
        assert leaked not in raw
    (entry,) = httpx.get(srv.url + "/_gatedrill/journal", timeout=10).json()["entries"]
    assert entry["body"]["metadata"] == {"api_key": "[redacted]", "note": "kept"}
    assert '"mode":"fallback"' in entry["headers"]["x-portkey-config"]


def test_the_control_api_never_returns_configured_keys(srv: FakeServer) -> None:
    assert SECRET not in httpx.get(srv.url + "/_gatedrill/config", timeout=10).text
    patched = httpx.patch(srv.url + "/_gatedrill/config", json={"seed": 3}, timeout=10)
    assert patched.status_code == 200 and SECRET not in patched.text


def test_a_control_token_locks_everything_but_health() -> None:
    token = "ctl-0123456789"
    with FakeServer(provider="openai", api_keys=[SECRET], control_token=token) as s:
        assert httpx.get(s.url + "/_gatedrill/health", timeout=10).status_code == 200
        off = httpx.patch(s.url + "/_gatedrill/config", json={"api_keys": None}, timeout=10)
        assert off.status_code == 401
        assert httpx.post(s.url + "/v1/chat/completions", json=CHAT, timeout=10).status_code == 401  # auth still on
        for method, path in (("GET", "config"), ("GET", "journal"), ("PUT", "faults"), ("POST", "reset")):
            assert httpx.request(method, f"{s.url}/_gatedrill/{path}", json=[], timeout=10).status_code == 401
        ok = httpx.patch(s.url + "/_gatedrill/config", json={"api_keys": None}, timeout=10,
                         headers={"x-gatedrill-control-token": token})
        assert ok.status_code == 200 and token not in ok.text
        anykey = {"authorization": "Bearer sk-any-other-key"}
        assert httpx.post(s.url + "/v1/chat/completions", json=CHAT, timeout=10, headers=anykey).status_code == 200


def test_the_load_worker_gets_its_key_outside_argv_and_writes_none(srv: FakeServer, tmp_path: Path) -> None:
    spec = LoadSpec(arrivals={"profile": "constant", "rate": 20}, mix=RequestMix(model="gpt-4o-mini"))
    with LoadRun(spec, srv.url, 3.0, 1, tmp_path, api_key=SECRET,
                 headers={"x-litellm-api-key": SECRET}) as run:
        assert run.pid is not None
        cmdline = " ".join(psutil.Process(run.pid).cmdline())
        deadline = time.monotonic() + 20
        while srv.journal.total < 5:
            assert time.monotonic() < deadline, "the worker never sent"
            time.sleep(0.05)
        result = run.wait()
    assert SECRET not in cmdline
    assert result.ok >= 5, "the key reached the fake: it accepted the requests"
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert SECRET not in f.read_text(errors="replace"), f


def test_a_run_record_holds_no_key_even_when_the_timeline_patches_one(tmp_path: Path) -> None:
    import yaml

    from gatedrill.harness.runner import RunOptions, run
    from gatedrill.scenarios import resolve

    data = yaml.safe_load(resolve("canary-split").read_text())
    data["timeline"] = [{"at_s": 0.2, "action": "patch", "upstream": "canary", "patch": {"api_keys": [SECRET]}}]
    scenario = tmp_path / "keyed.yaml"
    scenario.write_text(yaml.safe_dump(data))
    out = tmp_path / "run"
    with contextlib.suppress(Exception):  # the drill may fail (the canary refuses the load's key); the record stays
        run(str(scenario), RunOptions(out=out, scale=0.05))
    events = (out / "timeline.jsonl").read_text()
    assert '"ok": true' in events.replace('"ok":true', '"ok": true'), events
    leaks = [str(f) for f in out.rglob("*") if f.is_file() and SECRET in f.read_text(errors="replace")]
    assert not leaks
    assert (out / "logs").stat().st_mode & 0o077 == 0, "gateway configs (with keys) are readable by this user only"
