"""A fake served by several worker processes on one port behaves as one fake: one journal (nothing lost or
duplicated), one control plane (a change reaches every worker before the call returns, a rejected one none), fault
counters, the seeded coin and rate limits shared exactly, merged health and metrics, and workers that stop with their
parent however it ends. Every test runs `gatedrill fake serve --workers N` as a user would, on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import yaml
from ctrl_c import sigint_default

from gatedrill.fakes import CORRELATION_HEADER, FakeServer
from gatedrill.harness.record import JournalEntry

CMD = [sys.executable, "-m", "gatedrill", "fake", "serve"]
AUTH = {"authorization": "Bearer sk-test"}
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16}


class Served:
    def __init__(self, proc: subprocess.Popen[str], url: str) -> None:
        self.proc = proc
        self.url = url

    def control(self, method: str, what: str, **kw: Any) -> httpx.Response:
        return httpx.request(method, f"{self.url}/_gatedrill/{what}", timeout=10, **kw)

    def workers(self) -> list[dict[str, Any]]:
        r = self.control("GET", "workers")
        assert r.status_code == 200, r.text
        return list(r.json())

    def worker_pids(self) -> list[int]:
        return [w["pid"] for w in self.workers()]

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=30)


@pytest.fixture()
def serve(tmp_path: Path) -> Iterator[Any]:
    started: list[subprocess.Popen[str]] = []

    def start(config: dict[str, Any], *args: str) -> Served:
        path = tmp_path / f"fake-{len(started)}.yaml"
        path.write_text(yaml.safe_dump({"provider": "openai", **config}))
        p = subprocess.Popen([*CMD, "--config", str(path), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, start_new_session=True, preexec_fn=sigint_default)
        started.append(p)
        assert p.stdout is not None
        line = p.stdout.readline()
        assert line, p.stderr.read() if p.stderr else "no output"
        return Served(p, line.strip().split("\t")[2])

    yield start
    for p in started:
        if p.poll() is None:
            pids = [c.pid for c in psutil.Process(p.pid).children(recursive=True)]
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            for pid in pids:  # the workers are in sessions of their own
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def chat(url: str, **headers: str) -> httpx.Response:
    """One request on a connection of its own, so the kernel picks a worker for it afresh."""
    return httpx.post(f"{url}/v1/chat/completions", json=BODY, headers=AUTH | headers, timeout=10)


def test_one_worker_is_todays_single_process(serve: Any) -> None:
    fake = serve({})
    assert chat(fake.url).status_code == 200
    assert psutil.Process(fake.proc.pid).children(recursive=True) == []
    assert fake.stop() == 0


def test_the_journal_holds_every_request_once_under_concurrent_load(serve: Any, tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    fake = serve({"workers": 2}, "--journal", str(journal))
    ids = [f"gd-{uuid.uuid4().hex}" for _ in range(2000)]

    def client(share: list[str]) -> list[int]:
        with httpx.Client(base_url=fake.url, headers=AUTH, timeout=10) as c:  # one keep-alive connection each
            return [c.post("/v1/chat/completions", json=BODY, headers={CORRELATION_HEADER: i}).status_code
                    for i in share]

    with ThreadPoolExecutor(16) as pool:
        statuses = [s for part in pool.map(client, [ids[k::16] for k in range(16)]) for s in part]
    assert statuses == [200] * len(ids)
    assert fake.control("GET", "health").json()["journal"]["total"] == len(ids)

    seen: list[dict[str, Any]] = []
    cursor = "0"
    for _ in range(100):
        page = fake.control("GET", "journal", params={"cursor": cursor, "limit": 333}).json()
        seen += page["entries"]
        if not page["entries"]:
            break
        cursor = page["next_cursor"]
    assert sorted(e["correlation_id"] for e in seen) == sorted(ids)
    assert len({(e["worker"], e["seq"]) for e in seen}) == len(ids)
    assert {e["worker"] for e in seen} == {0, 1}  # both workers served: the count is across processes

    assert fake.stop() == 0
    lines = [JournalEntry.model_validate_json(line) for line in journal.read_bytes().splitlines()]
    assert sorted(e.correlation_id or "" for e in lines) == sorted(ids)  # count in = count out
    assert len({(e.worker, e.seq) for e in lines}) == len(ids)
    assert {e.worker for e in lines} == {0, 1}
    assert not list(tmp_path.glob("journal.jsonl.worker*"))


def test_the_journal_cursor_pages_every_entry_once_and_refuses_a_bad_cursor(serve: Any) -> None:
    fake = serve({"workers": 2})
    for _ in range(40):
        assert chat(fake.url).status_code == 200
    got: list[tuple[int, int]] = []
    cursor = "0"
    while True:
        page = fake.control("GET", "journal", params={"cursor": cursor, "limit": 7}).json()
        got += [(e["worker"], e["seq"]) for e in page["entries"]]
        assert len(page["entries"]) <= 7
        if not page["entries"]:
            break
        cursor = page["next_cursor"]
    assert len(got) == len(set(got)) == 40
    r = fake.control("GET", "journal", params={"cursor": "5"})
    assert r.status_code == 422 and "2 numbers joined by dots" in r.json()["error"]["message"]
    r = fake.control("GET", "journal", params={"colour": "red"})
    assert r.status_code == 422 and r.json()["error"]["message"] == "unknown journal filter(s): colour"


def test_an_in_process_server_refuses_workers_rather_than_ignoring_them() -> None:
    from gatedrill.fakes import ConfigError

    with pytest.raises(ConfigError, match="gatedrill fake serve --workers N"):
        FakeServer({"provider": "openai", "workers": 2})


def test_a_change_reaches_every_worker_before_the_call_returns(serve: Any) -> None:
    fake = serve({"workers": 2})
    before = {w["config_sha256"] for w in fake.workers()}
    r = fake.control("PUT", "faults", json=[{"fault": {"kind": "http_error", "status": 503}}])
    assert r.status_code == 200
    statuses = [chat(fake.url).status_code for _ in range(20)]  # fresh connections: both workers
    assert statuses == [503] * 20
    after = {w["config_sha256"] for w in fake.workers()}
    assert len(after) == 1 and after != before
    assert fake.control("DELETE", "faults").status_code == 200
    assert [chat(fake.url).status_code for _ in range(20)] == [200] * 20


@pytest.mark.parametrize("patch", [{"latency": {"ttft_ms": "fast"}}, {"port": 1}, {"workers": 3},
                                   {"journal": {"path": "/tmp/elsewhere.jsonl"}}, {"faults": [{"fault": {}}]}])
def test_a_rejected_change_changes_nothing_on_any_worker(serve: Any, patch: dict[str, Any]) -> None:
    fake = serve({"workers": 2, "latency": {"ttft_ms": 1}})
    config = fake.control("GET", "config").json()
    digests = {w["config_sha256"] for w in fake.workers()}
    r = fake.control("PATCH", "config", json=patch)
    assert r.status_code == 422, r.text
    assert fake.control("GET", "config").json() == config
    assert {w["config_sha256"] for w in fake.workers()} == digests and len(digests) == 1


def test_first_n_counts_requests_across_workers(serve: Any) -> None:
    fake = serve({"workers": 2, "faults": [{"fault": {"kind": "http_error", "status": 500}, "when": {"first_n": 3}}]})
    statuses = [chat(fake.url).status_code for _ in range(20)]
    assert statuses == [500] * 3 + [200] * 17
    assert all(w["journal"]["total"] > 0 for w in fake.workers())


def test_the_seeded_coin_draws_as_one_fake_does(serve: Any) -> None:
    config = {"seed": 7, "faults": [{"fault": {"kind": "http_error", "status": 500}, "when": {"probability": 0.3}},
                                    {"fault": {"kind": "http_error", "status": 503}, "when": {"probability": 0.5}}]}
    with FakeServer({"provider": "openai", **config}) as one:
        expected = [chat(one.url).status_code for _ in range(120)]
    fake = serve({"workers": 2, **config})
    assert [chat(fake.url).status_code for _ in range(120)] == expected
    assert {500, 503, 200} <= set(expected)
    assert all(w["journal"]["total"] > 0 for w in fake.workers())


def test_a_rate_limit_admits_exactly_its_limit_across_workers(serve: Any) -> None:
    fake = serve({"workers": 2, "models": [{"id": "gpt-4o-mini", "rpm": 10}]})
    with ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(lambda _: chat(fake.url).status_code, range(30)))
    assert sorted(statuses) == [200] * 10 + [429] * 20
    served = [w["journal"]["total"] for w in fake.workers()]
    assert sum(served) == 30 and min(served) > 0  # one limiter per worker would have admitted more than 10
    assert fake.control("POST", "reset").status_code == 200
    assert chat(fake.url).status_code == 200  # a reset refills the shared buckets


def test_health_and_metrics_answer_for_the_whole_fake(serve: Any) -> None:
    fake = serve({"workers": 2})
    for _ in range(30):
        assert chat(fake.url).status_code == 200
    health = fake.control("GET", "health").json()
    assert health["journal"]["total"] == 30 and health["journal"]["finished"] == 30
    metrics = fake.control("GET", "metrics").text
    line = next(x for x in metrics.splitlines() if x.startswith("gatedrill_fake_requests_total{"))
    assert 'status="200"' in line and line.endswith(" 30.0")
    assert [w["journal"]["total"] > 0 for w in fake.workers()] == [True, True]
    assert fake.control("POST", "reset").status_code == 200
    assert fake.control("GET", "health").json()["journal"]["total"] == 0


def test_the_control_token_guards_the_workers_view_too(serve: Any) -> None:
    fake = serve({"workers": 2, "control_token": "s3cret-token"})
    assert fake.control("GET", "workers").status_code == 401
    assert fake.control("GET", "config").status_code == 401
    r = fake.control("GET", "workers", headers={"x-gatedrill-control-token": "s3cret-token"})
    assert r.status_code == 200 and len(r.json()) == 2


def test_workers_stop_with_their_parent_on_sigint(serve: Any) -> None:
    fake = serve({"workers": 3})
    pids = fake.worker_pids()
    assert len(pids) == 3
    assert fake.stop() == 0
    assert not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


def test_ctrl_c_before_the_fake_is_up_stops_it_cleanly_too(tmp_path: Path) -> None:
    """Ctrl-C is how a user stops `fake serve`, at any moment: the CI once sent it in the instant between the URL
    line and the signal handler, and click turned the KeyboardInterrupt into "Aborted!" and exit code 1."""
    path = tmp_path / "fake.yaml"
    path.write_text(yaml.safe_dump({"provider": "openai", "workers": 3}))
    p = subprocess.Popen([*CMD, "--config", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True, preexec_fn=sigint_default)
    try:
        deadline = time.monotonic() + 30
        workers: list[psutil.Process] = []
        while len(workers) < 3 and time.monotonic() < deadline:  # workers started, not yet announced
            workers = [c for c in psutil.Process(p.pid).children() if not _is_reaper(c)]
            time.sleep(0.01)
        assert len(workers) == 3
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode == 0, err
    assert "Traceback" not in err and "Aborted" not in err
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(w) for w in workers), "workers outlived a Ctrl-C during start-up"


def _is_reaper(proc: psutil.Process) -> bool:
    """The child reaper is a child too (harness/child_reaper.py), started before or after the workers."""
    with contextlib.suppress(psutil.Error):
        return any(part.endswith("child_reaper.py") for part in proc.cmdline())
    return False


def test_workers_die_with_their_parent_on_sigkill(serve: Any) -> None:
    fake = serve({"workers": 2})
    workers = [psutil.Process(p) for p in fake.worker_pids()]
    os.kill(fake.proc.pid, signal.SIGKILL)  # no finally, no atexit: only the kernel and the reaper act
    fake.proc.wait(10)
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(w) for w in workers), "workers outlived their parent"


def test_a_dead_worker_stops_the_whole_fake_with_an_error(serve: Any) -> None:
    fake = serve({"workers": 2})
    pids = fake.worker_pids()
    os.kill(pids[0], signal.SIGKILL)
    assert fake.proc.wait(timeout=20) == 3
    assert fake.proc.stderr is not None
    err = fake.proc.stderr.read()
    assert "worker 0" in err and "died (killed by signal 9)" in err and "Traceback" not in err
    assert not _alive(psutil.Process(pids[1])) if psutil.pid_exists(pids[1]) else True


def test_a_busy_port_is_one_clear_error(serve: Any, tmp_path: Path) -> None:
    first = serve({"workers": 2})
    port = first.url.rsplit(":", 1)[1]
    path = tmp_path / "second.yaml"
    path.write_text(yaml.safe_dump({"provider": "openai", "workers": 2, "port": int(port)}))
    out = subprocess.run([*CMD, "--config", str(path)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert f"port {port} on 127.0.0.1 is in use" in out.stderr and "Traceback" not in out.stderr


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_scenario_upstream_with_workers_is_served_by_them_and_its_journal_merges(tmp_path: Path) -> None:
    from gatedrill.harness.fake_fleet import start_fleet
    from gatedrill.harness.processes import Processes
    from gatedrill.harness.scenario import load_scenario
    from gatedrill.scenarios import resolve

    text = resolve("canary-split").read_text().replace("  stable:\n    provider: openai\n",
                                                       "  stable:\n    provider: openai\n    workers: 2\n")
    (tmp_path / "w.yaml").write_text(text)
    scenario = load_scenario(tmp_path / "w.yaml")
    configs = [c.model_copy(update={"name": n, "journal": c.journal.model_copy(
                   update={"path": str(tmp_path / f"{n}.jsonl")})}) for n, c in scenario.upstreams.items()]
    assert [c.workers for c in configs] == [2, 1]
    with Processes(tmp_path) as procs:
        fleet = start_fleet(procs, configs, tmp_path)
        for url in fleet.urls.values():
            assert [chat(url).status_code for _ in range(12)] == [200] * 12
        assert len(httpx.get(fleet.urls["stable"] + "/_gatedrill/workers", timeout=10).json()) == 2
        assert httpx.get(fleet.urls["canary"] + "/_gatedrill/workers", timeout=10).status_code == 404
        procs.stop(fleet.proc, sig=signal.SIGINT)
        assert fleet.proc.returncode == 0
    fleet.lifeline.close()
    stable = [JournalEntry.model_validate_json(x) for x in (tmp_path / "stable.jsonl").read_bytes().splitlines()]
    canary = [JournalEntry.model_validate_json(x) for x in (tmp_path / "canary.jsonl").read_bytes().splitlines()]
    assert len(stable) == 12 and {e.worker for e in stable} == {0, 1} and len({(e.worker, e.seq) for e in stable}) == 12
    assert len(canary) == 12 and {e.worker for e in canary} == {None}


def test_a_change_one_worker_does_not_take_is_undone_on_every_worker() -> None:
    """The group's undo, with real workers' control loops on threads: worker 1 starts from another seed, so the change
    leaves it with a config other than the one the group expects; the group undoes it on both and fails the call."""
    import socket
    import threading

    from gatedrill.fakes import Fake, FakeConfig
    from gatedrill.fakes.workers import Channel, GroupControl, GroupError, SharedRegion, WorkerState
    from gatedrill.fakes.workers.worker import serve_ops

    region = SharedRegion.create()
    base = FakeConfig(provider="openai", latency={"ttft_ms": 1})
    channels, fakes = [], []
    for i, cfg in enumerate([base, base.model_copy(update={"seed": 5})]):
        state = WorkerState(region, i, 0, time.monotonic())
        fakes.append(Fake(cfg, state=state))
        ours, theirs = socket.socketpair()
        threading.Thread(target=serve_ops, args=(Channel(theirs), fakes[-1], state, lambda: None), daemon=True).start()
        channels.append(Channel(ours))
    group = GroupControl(base, channels, region)
    with pytest.raises(GroupError, match="undone on every worker: worker 1: a different config"):
        group.patch({"latency": {"ttft_ms": 7}, "faults": [{"fault": {"kind": "reset"}}]})
    assert group.config == base
    assert fakes[0].config == base
    assert fakes[1].config == base.model_copy(update={"seed": 5})
    for ch in channels:
        ch.close()
