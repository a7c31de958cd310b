"""A drill that adopts a standalone fake (`gatedrill run --adopt-fake NAME=URL`) instead of starting it: the fake
is a real `gatedrill fake serve` process, the run a real `gatedrill run`, as a fakes Deployment and a drill Job would
be."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from gatedrill.fakes import FakeServer
from gatedrill.fakes.control import CONTROL_TOKEN_HEADER
from gatedrill.fakes.errors import ConfigError
from gatedrill.harness.adopted_fakes import AdoptedFake, clock_offset, parse_adoptions
from gatedrill.harness.processes import InfrastructureError
from gatedrill.harness.scenario import load_scenario
from gatedrill.scenarios import resolve

CMD = [sys.executable, "-m", "gatedrill"]
TOKEN = "adopt-test-token-1"
STANDING_FAULT = "faults: [{name: standing, fault: {kind: http_error, status: 503}}]\n"  # a refused run keeps it


@pytest.fixture()
def standalone(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start `gatedrill fake serve` (its token from the environment, as a Deployment's Secret would give it)."""
    started: list[subprocess.Popen[str]] = []

    def serve(provider: str, *args: str, extra: str = "") -> str:
        cfg = tmp_path / f"fake-{len(started)}.yaml"
        cfg.write_text(f"name: shared-{provider}\nprovider: {provider}\njournal: {{max_entries: 100000}}\n{extra}")
        p = subprocess.Popen([*CMD, "fake", "serve", "--config", str(cfg), "--port", "0", *args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                             env=os.environ | {"GATEDRILL_CONTROL_TOKEN": TOKEN})
        started.append(p)
        assert p.stdout is not None
        line = p.stdout.readline()
        assert line, p.stderr.read() if p.stderr else "no output"
        return line.strip().split("\t")[2]

    yield serve
    for p in started:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def control(url: str, method: str, what: str) -> httpx.Response:
    return httpx.request(method, f"{url}/_gatedrill/{what}", headers={CONTROL_TOKEN_HEADER: TOKEN}, timeout=10)


def gatedrill_run(out: Path, *args: str, token: str = TOKEN) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CMD, "run", "canary-rollback", "--scale", "0.3", "--seed", "4", "--out", str(out),
                           "--json", str(out / "verdicts.json"), *args], capture_output=True, text=True, timeout=300,
                          env=os.environ | {"GATEDRILL_CONTROL_TOKEN": token})


def statuses(out: Path) -> dict[str, str]:
    return {v["check"]: v["status"] for v in json.loads((out / "verdicts.json").read_text())["verdicts"]}


def test_a_drill_on_an_adopted_fake_judges_as_one_on_its_own_fakes(standalone, tmp_path: Path) -> None:
    url = standalone("openai", "--workers", "2")  # two processes: the journal's cursor is a compound one
    own = gatedrill_run(tmp_path / "own")
    adopted = gatedrill_run(tmp_path / "adopted", "--adopt-fake", f"canary={url}")
    assert own.returncode == 0, own.stderr[-2000:]
    assert adopted.returncode == 0, adopted.stderr[-2000:]
    assert statuses(tmp_path / "adopted") == statuses(tmp_path / "own")

    meta = json.loads((tmp_path / "adopted" / "meta.json").read_text())
    assert meta["adopted_fakes"]["canary"]["url"] == url and meta["fakes"]["canary"] == url
    assert meta["adopted_fakes"]["canary"]["mono_offset_s"] == 0.0  # the same host's clock: nothing shifted
    lines = [json.loads(x) for x in (tmp_path / "adopted" / "journal" / "canary.jsonl").read_text().splitlines()]
    health = control(url, "GET", "health").json()
    assert len(lines) == health["journal"]["finished"] > 50  # every request the fake finished, once
    assert len({(e["worker"], e["seq"]) for e in lines}) == len(lines)
    assert {e["fake"] for e in lines} == {"canary"}  # named as the scenario names it, not "shared-openai"
    assert any(e["fault"] == "canary-broken" for e in lines)  # the timeline's fault reached it (token and all)
    assert control(url, "GET", "faults").json() == []  # and the run left it without the drill's faults
    # the fake took the upstream's settings (its own file said nothing of latency)
    want = load_scenario(resolve("canary-rollback")).upstreams["canary"].latency.model_dump(mode="json")
    assert control(url, "GET", "config").json()["latency"] == want


def test_a_fake_of_another_provider_is_refused_and_left_as_it_was(standalone, tmp_path: Path) -> None:
    url = standalone("anthropic", extra=STANDING_FAULT)
    before = control(url, "GET", "config").json()
    r = gatedrill_run(tmp_path / "run", "--adopt-fake", f"canary={url}")
    assert r.returncode == 2, r.stderr[-2000:]
    assert "that fake speaks 'anthropic'; the scenario's upstream 'canary' is 'openai'" in r.stderr
    assert "Traceback" not in r.stderr
    assert control(url, "GET", "config").json() == before
    assert [f["name"] for f in before["faults"]] == ["standing"]


def test_a_wrong_control_token_is_refused_clearly_and_changes_nothing(standalone, tmp_path: Path) -> None:
    url = standalone("openai", extra=STANDING_FAULT)
    before = control(url, "GET", "config").json()
    r = gatedrill_run(tmp_path / "run", "--adopt-fake", f"canary={url}", token="not-the-token")
    assert r.returncode == 2, r.stderr[-2000:]
    assert "refused the control token: set GATEDRILL_CONTROL_TOKEN" in r.stderr
    assert "not-the-token" not in r.stderr and "Traceback" not in r.stderr
    assert control(url, "GET", "config").json() == before
    assert [f["name"] for f in before["faults"]] == ["standing"]


def test_an_unknown_upstream_or_a_malformed_flag_is_a_usage_error(tmp_path: Path) -> None:
    r = gatedrill_run(tmp_path / "a", "--adopt-fake", "nosuch=http://127.0.0.1:9")
    assert r.returncode == 2 and "the scenario has no upstream 'nosuch' (it has stable, canary)" in r.stderr
    with pytest.raises(ConfigError, match="use NAME=http://HOST:PORT"):
        parse_adoptions(["canary:127.0.0.1:9"])
    with pytest.raises(ConfigError, match="names upstream 'canary' twice"):
        parse_adoptions(["canary=http://a:1", "canary=http://b:2"])


def _adopted(srv: FakeServer, tmp_path: Path, **kw: float) -> AdoptedFake:
    cfg = load_scenario(resolve("canary-rollback")).upstreams["canary"]
    return AdoptedFake("canary", srv.url, cfg, tmp_path / "canary.jsonl", **kw)


def _send(srv: FakeServer, n: int) -> None:
    with httpx.Client(base_url=srv.url, headers={"authorization": "Bearer sk-test"}) as c:
        for _ in range(n):
            r = c.post("/v1/chat/completions", json={"model": "gpt-4o-mini",
                                                     "messages": [{"role": "user", "content": "hi"}]})
            assert r.status_code == 200


def test_entries_evicted_before_they_were_read_fail_the_run_with_the_count(tmp_path: Path) -> None:
    with FakeServer(provider="openai", journal={"max_entries": 5}) as srv:
        fake = _adopted(srv, tmp_path, poll_s=60.0)  # the follower will not read before the end
        fake.take_over()
        _send(srv, 12)
        with pytest.raises(InfrastructureError, match="evicted 7 journal entries before the run read them"):
            fake.finish()
        fake.release()
    with FakeServer(provider="openai", journal={"max_entries": 5}) as srv:  # read in time, the same bound loses none
        fake = _adopted(srv, tmp_path, poll_s=0.02)
        fake.take_over()
        for _ in range(4):
            _send(srv, 3)
            time.sleep(0.2)
        fake.finish()
        fake.release()
        assert fake.written == 12 == len((tmp_path / "canary.jsonl").read_text().splitlines())


def test_a_fake_that_stops_answering_stops_the_run(tmp_path: Path) -> None:
    srv = FakeServer(provider="openai").__enter__()
    fake = _adopted(srv, tmp_path, poll_s=0.05, silent_s=0.5)
    try:
        fake.take_over()
        fake.check_alive()
        srv.__exit__(None, None, None)
        time.sleep(1.0)
        with pytest.raises(InfrastructureError, match=r"has not answered for \d+ s \(.*ConnectError"):
            fake.check_alive()
    finally:
        fake.release()


def test_the_clock_offset_is_zero_within_the_round_trip_and_the_midpoint_outside_it() -> None:
    assert clock_offset(10.0, 10.002, 10.001) == 0.0  # the same clock: a reading inside the bracket
    assert clock_offset(10.0, 10.002, 3.0) == pytest.approx(7.001)  # another host's: its midpoint
    assert clock_offset(10.0, 10.002, 12.0) == pytest.approx(-1.999)
