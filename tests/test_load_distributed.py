"""Distributed load on Locust's master and workers, for real: worker processes on loopback, one killed mid-run, one
in a network namespace of its own behind a veth pair (the closest thing to a second machine here).

Each load is bounded in rate, duration and max_requests; the namespace, its veth pair and every process are removed
whatever happens.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psutil
import pytest
import yaml
from click.testing import CliRunner
from needs import need

from gatedrill.cli import main as cli
from gatedrill.fakes import FakeServer
from gatedrill.harness.checks import judge
from gatedrill.harness.load import LoadRun, LoadSpec, RequestMix, arrival_list, read_records, run_load
from gatedrill.harness.load.distribution import Share, owned_arrivals
from gatedrill.harness.load.run import node_argv
from gatedrill.harness.record import RunRecord
from gatedrill.harness.runner import RunOptions, run

MODEL = "gpt-4o-mini"


def _spec(rate: float = 60, profile: str = "poisson", **kw: Any) -> LoadSpec:
    return LoadSpec(arrivals={"profile": profile, "rate": rate}, mix=RequestMix(model=MODEL), control_share=0,
                    max_requests=5_000, **kw)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with contextlib.suppress(ChildProcessError):  # our own child: a zombie until reaped
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    return False


def test_two_workers_give_the_same_verdicts_and_requests_as_one_process(tmp_path: Path) -> None:
    """The same seed gives the same requests (correlation ids, both arms) and the same verdicts, however many
    processes send them; the record says how many workers produced it and keeps each one's condition samples."""
    records: dict[int, RunRecord] = {}
    for workers in (0, 2):
        out = run("canary-rollback", RunOptions(scale=0.1, seed=23, out=tmp_path / f"w{workers}",
                                                load_workers=workers)).path
        records[workers] = RunRecord.load(out)
    one, two = records[0], records[2]
    assert {v.check: v.status for v in judge(one)} == {v.check: v.status for v in judge(two)}
    ids = [{c.correlation_id for c in rec.load_clients()} for rec in (one, two)]
    assert ids[0] and ids[0] == ids[1]
    control = [{c.correlation_id for c in rec.control_clients} for rec in (one, two)]
    assert control[0] and control[0] == control[1]  # the control arm's twins too
    summary = two.load_summary.model_dump()
    assert summary["load_workers"] == 2 and one.load_summary.load_workers is None and not one.load_summary.workers
    rows = summary["workers"]
    assert [r["index"] for r in rows] == [0, 1] and {r["state"] for r in rows} == {"finished"}
    assert sum(r["records"] for r in rows) == len(two.load_clients()) == summary["tally"]["requests"]
    assert summary["started_arrivals"] == one.load_summary.started_arrivals
    assert {s.worker for s in two.host if s.worker is not None} == {0, 1}  # every worker's own samples


def test_a_worker_killed_mid_run_is_reported_and_its_unsent_share_counts_as_not_sent(tmp_path: Path) -> None:
    spec, duration, seed = _spec(rate=40, profile="constant"), 6.0, 3
    with FakeServer(provider="openai") as srv:
        run_ = LoadRun(spec, srv.url, duration, seed, tmp_path, load_workers=2).start()
        try:
            deadline = time.monotonic() + 30
            while srv.journal.total < 60:  # both workers are sending (1.5 s of load)
                run_.poll(0.1)
                assert time.monotonic() < deadline and run_.running
            victim = run_.nodes[0]
            os.kill(victim.pid, signal.SIGKILL)
            result = run_.wait()
        finally:
            run_.cancel()
    s = result.summary()
    rows = {r["pid"]: r for r in s["workers"]}
    dead = rows[victim.pid]
    assert dead["state"] == "died" and dead["last_heard_s"] < 3.0 and dead["died_after_s"] < duration + 5
    share = owned_arrivals(spec, duration, seed, Share(dead["index"], 2))
    assert dead["scheduled_arrivals"] == share
    assert 0 < dead["unsent_arrivals"] == share - dead["started_arrivals"]
    assert s["unsent_worker_died"] == dead["unsent_arrivals"]
    alive = next(r for r in s["workers"] if r["state"] == "finished")
    assert alive["unsent_arrivals"] == 0 and alive["started_arrivals"] == alive["scheduled_arrivals"]
    assert s["scheduled_arrivals"] == len(arrival_list(spec.arrivals, duration, seed))  # type: ignore[arg-type]
    # not sent is the dead worker's loss, said so; not the survivors falling behind the schedule
    assert not any("scheduled arrivals" in w for w in result.warnings)
    assert any("died" in w and f"{dead['unsent_arrivals']} unsent" in w for w in result.warnings)
    recs = read_records(result.records_path)
    assert len(recs) == s["records"] and len({r.correlation_id for r in recs}) == len(recs)
    theirs = [r for r in recs if int(r.session_id.rpartition("-s")[2]) % 2 == dead["index"]]
    assert len(theirs) <= dead["started_arrivals"]  # what it sent before dying came back; nothing more
    assert all(_gone(p) for p in run_.node_pids)


def test_cancel_stops_the_master_and_every_worker(tmp_path: Path) -> None:
    with FakeServer(provider="openai") as srv:
        run_ = LoadRun(_spec(rate=20), srv.url, 60.0, 1, tmp_path, load_workers=2).start()
        try:
            deadline = time.monotonic() + 30
            while srv.journal.total < 10:
                run_.poll(0.1)
                assert time.monotonic() < deadline
        finally:
            run_.cancel()
        pids = [run_.pid, *run_.node_pids]
    assert len(pids) == 3
    deadline = time.monotonic() + 10
    while not all(_gone(p) for p in pids if p is not None):
        assert time.monotonic() < deadline, "a load process outlived cancel()"
        time.sleep(0.05)


_ORPHAN_PARENT = """
import sys, time
from gatedrill.harness.load import LoadRun, LoadSpec, RequestMix
spec = LoadSpec(arrivals={"profile": "constant", "rate": 20}, mix=RequestMix(model="gpt-4o-mini"))
run = LoadRun(spec, sys.argv[1], 60.0, 1, sys.argv[2], load_workers=2).start()
while not run.node_pids:
    run.poll(0.1)
print(run.pid, *run.node_pids, flush=True)
time.sleep(60)
"""


def test_every_load_process_stops_when_the_parent_dies(tmp_path: Path) -> None:
    with FakeServer(provider="openai") as srv:
        parent = subprocess.Popen([sys.executable, "-c", _ORPHAN_PARENT, srv.url, str(tmp_path)],
                                  stdout=subprocess.PIPE, start_new_session=True)
        pids: list[int] = []
        try:
            assert parent.stdout is not None
            pids = [int(p) for p in parent.stdout.readline().split()]
            assert len(pids) == 3
            parent.kill()
            parent.wait()
            deadline = time.monotonic() + 10
            while not all(_gone(p) for p in pids):
                assert time.monotonic() < deadline, "a load process outlived its parent"
                time.sleep(0.05)
        finally:
            parent.kill()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)


def test_a_worker_with_no_master_gives_up_within_its_join_timeout() -> None:
    start = time.monotonic()
    proc = subprocess.run(node_argv("127.0.0.1:9", 1.0), capture_output=True, timeout=30)
    assert proc.returncode == 1 and b"no master answered" in proc.stderr
    assert time.monotonic() - start < 20


def test_the_worker_command_rejects_a_bad_master_address() -> None:
    result = CliRunner().invoke(cli, ["worker", "--master", "nohost"])
    assert result.exit_code == 2 and "is not HOST:PORT" in result.output


# -- a worker on "another host": its own network namespace, reached over a veth pair -------------------------------

HOST_IP, NS_IP = "169.254.231.1", "169.254.231.2"  # link-local, on the test's own veth pair only


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)


@pytest.fixture
def netns() -> Iterator[str]:
    """A network namespace with a veth pair to this one (HOST_IP here, NS_IP there), removed afterwards."""
    need(shutil.which("ip") is not None, "`ip` (Debian iproute2) is not installed")
    name = f"gdtest-{uuid.uuid4().hex[:8]}"
    veth = f"gd{uuid.uuid4().hex[:6]}"
    made = _ip("netns", "add", name)
    if made.returncode != 0:
        pytest.skip(f"network namespaces are unavailable here (`ip netns add` failed: {made.stderr.strip()})")
    try:
        for args in (("link", "add", veth, "type", "veth", "peer", "name", veth + "p"),
                     ("link", "set", veth + "p", "netns", name),
                     ("addr", "add", f"{HOST_IP}/30", "dev", veth), ("link", "set", veth, "up"),
                     ("-n", name, "addr", "add", f"{NS_IP}/30", "dev", veth + "p"),
                     ("-n", name, "link", "set", veth + "p", "up"), ("-n", name, "link", "set", "lo", "up")):
            done = _ip(*args)
            if done.returncode != 0:
                pytest.skip(f"a veth pair cannot be set up here (`ip {' '.join(args)}`: {done.stderr.strip()})")
        yield name
    finally:
        _ip("link", "del", veth)
        _ip("netns", "del", name)


def test_a_worker_in_another_network_namespace_joins_over_a_veth_pair(tmp_path: Path, netns: str) -> None:
    """The master and the fake listen on the veth address; one worker runs here, the other (`gatedrill worker`)
    inside the namespace, where this side's loopback cannot be reached. Both shares reach the fake and come back to
    the master."""
    spec, duration, seed = _spec(rate=40, profile="constant"), 3.0, 5
    remote: list[subprocess.Popen[bytes]] = []

    def on_event(msg: dict[str, Any]) -> None:
        if msg["type"] == "master":
            assert msg["host"] == HOST_IP
            remote.append(subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-m", "gatedrill", "worker",
                                            "--master", f"{HOST_IP}:{msg['port']}", "--join-timeout", "30"],
                                           stdout=subprocess.DEVNULL, stderr=log, start_new_session=True))

    with FakeServer(provider="openai", host=HOST_IP) as srv, open(tmp_path / "remote.log", "wb") as log:
        try:
            result = run_load(spec, srv.url, duration, seed, tmp_path / "run", load_workers=1, remote_workers=1,
                              master_bind=f"{HOST_IP}:0", join_timeout_s=30, on_event=on_event)
            entries = srv.journal.records()
        finally:
            for proc in remote:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
    s = result.summary()
    assert s["load_workers"] == 2 and {r["state"] for r in s["workers"]} == {"finished"}
    assert remote and remote[0].returncode == 0, (tmp_path / "remote.log").read_text()[-2000:]
    far = next(r for r in s["workers"] if r["pid"] == remote[0].pid)  # `ip netns exec` and the CLI exec: one pid
    near = next(r for r in s["workers"] if r["pid"] != remote[0].pid)
    expected = len(arrival_list(spec.arrivals, duration, seed))  # type: ignore[arg-type]
    assert far["records"] > 0 and far["records"] + near["records"] == expected == s["records"]
    assert far["unsent_arrivals"] == 0 and near["unsent_arrivals"] == 0
    recs = read_records(result.records_path)
    assert {r.correlation_id for r in recs} == {e["correlation_id"] for e in entries}
    assert orjson.loads((tmp_path / "run" / "logs" / "load_summary.json").read_bytes())["load_workers"] == 2


def test_finishing_early_drains_every_worker_and_cuts_nothing(tmp_path: Path) -> None:
    """A game day's Stop: every worker starts nothing new and lets what is in flight finish."""
    with FakeServer(provider="openai", latency={"ttft_ms": 200}) as srv:
        run_ = LoadRun(_spec(rate=30, profile="constant"), srv.url, 60.0, 2, tmp_path, load_workers=2).start()
        try:
            deadline = time.monotonic() + 30
            while srv.journal.total < 20:
                run_.poll(0.1)
                assert time.monotonic() < deadline
            run_.finish()
            result = run_.wait()
        finally:
            run_.cancel()
    s = result.summary()
    assert s["stop_reason"] == "stopped" and s["ran_s"] < 30 and {r["state"] for r in s["workers"]} == {"finished"}
    recs = read_records(result.records_path)
    assert recs and "aborted" not in {r.error_class for r in recs} and len(recs) == s["started_arrivals"]


def test_the_workers_get_the_key_outside_argv_and_no_file_holds_it(tmp_path: Path) -> None:
    secret = "sk-distributed-" + uuid.uuid4().hex
    with FakeServer(provider="openai", api_keys=[secret]) as srv:
        run_ = LoadRun(_spec(rate=20, profile="constant"), srv.url, 2.0, 1, tmp_path, api_key=secret,
                       load_workers=2).start()
        try:
            deadline = time.monotonic() + 30
            while len(run_.nodes) < 2 or srv.journal.total < 10:
                run_.poll(0.1)
                assert time.monotonic() < deadline
            argvs = [" ".join(psutil.Process(p).cmdline()) for p in (run_.pid, *run_.node_pids) if p is not None]
            environs = [psutil.Process(p).environ() for p in run_.node_pids]
            result = run_.wait()
        finally:
            run_.cancel()
    assert result.ok >= 10 and result.errors == 0, "the key reached the fake through both workers"
    assert all(secret not in a for a in argvs) and all(secret not in " ".join(e.values()) for e in environs)
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert secret not in f.read_text(errors="replace"), f


def test_workers_that_never_join_fail_the_run_clearly_within_the_join_timeout(tmp_path: Path) -> None:
    start = time.monotonic()
    with FakeServer(provider="openai") as srv:
        result = run_load(_spec(rate=20), srv.url, 2.0, 1, tmp_path, remote_workers=1, join_timeout_s=2.0)
    s = result.summary()
    assert s["failure"] == f"only 0 of 1 load workers joined the master on port {s['master']['port']} within 2 s"
    assert s["records"] == 0 and srv.journal.total == 0 and time.monotonic() - start < 30
    assert any("generator failed: only 0 of 1" in w for w in result.warnings)


def test_a_remote_worker_stops_by_itself_when_its_master_dies(tmp_path: Path) -> None:
    remote: list[subprocess.Popen[bytes]] = []

    def on_event(msg: dict[str, Any]) -> None:
        if msg["type"] == "master":
            remote.append(subprocess.Popen(node_argv(f"127.0.0.1:{msg['port']}", 30.0), start_new_session=True,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    with FakeServer(provider="openai") as srv:
        run_ = LoadRun(_spec(rate=20, profile="constant"), srv.url, 60.0, 1, tmp_path, remote_workers=1,
                       join_timeout_s=30, on_event=on_event).start()
        try:
            deadline = time.monotonic() + 30
            while srv.journal.total < 10:
                run_.poll(0.1)
                assert time.monotonic() < deadline
            assert run_.pid is not None and remote
            os.killpg(run_.pid, signal.SIGKILL)  # no abort message: the worker must notice the silence
            killed = time.monotonic()
            remote[0].wait(timeout=30)
            assert time.monotonic() - killed < 20
        finally:
            run_.cancel()
            for proc in remote:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
    assert remote[0].returncode == 0  # it ended its run (aborted: the master is gone), long before its 60 s


def test_fakes_off_loopback_are_reached_and_controlled_with_their_token(tmp_path: Path, netns: str) -> None:
    """--fakes-host on the veth address: the gateway reaches the fakes there, and the fault timeline still lands,
    since the runner gave each fake a control token and the timeline sends it."""
    out = run("canary-rollback", RunOptions(scale=0.1, seed=5, out=tmp_path / "run", fakes_host=HOST_IP,
                                            load_workers=1)).path
    rec = RunRecord.load(out)
    assert rec.meta.fakes and all(url.startswith(f"http://{HOST_IP}:") for url in rec.meta.fakes.values())
    faults = [e for e in rec.timeline if e.action in ("set_faults", "clear_faults")]
    assert faults and all(e.ok for e in faults), faults
    assert sum(1 for e in rec.entries() if e.status == 500) > 0  # the injected fault reached the canary's fake
    fakes = yaml.safe_load((out / "logs" / "fakes.yaml").read_text())["fakes"]
    tokens = {f["name"]: f["control_token"] for f in fakes}
    assert set(tokens) >= set(rec.scenario.upstreams) and all(t and len(t) >= 24 for t in tokens.values())
    for f in out.rglob("*"):  # the tokens stay in the private logs folder (0700), out of the record's files
        if f.is_file() and "logs" not in f.relative_to(out).parts:
            assert not any(t in f.read_text(errors="replace") for t in tokens.values()), f


def test_a_dead_workers_in_flight_requests_are_counted_apart_not_failed_as_lost(tmp_path: Path) -> None:
    """A worker SIGKILLed mid-drill leaves requests the gateway did serve (the journal has them) with no client
    record. That is the generator's loss: accounting counts them as of unknown outcome, and still Passes a correct
    gateway, instead of failing it for orphaned or unanswered requests."""
    from concurrent.futures import ThreadPoolExecutor

    from gatedrill.harness.scenario import Scenario

    slow = {"provider": "openai", "models": [{"id": MODEL}], "latency": {"ttft_ms": 400, "itl_ms": 5}}
    sc = Scenario.model_validate({
        "name": "dead-worker", "seed": 4, "duration_s": 6, "upstreams": {"only": slow},
        "gateway": {"kind": "reference", "routing": {"targets": [{"upstream": "only", "model": MODEL}]}},
        "load": {"arrivals": {"profile": "constant", "rate": 30}, "mix": {"stream_share": 0.5}},
        "checks": {"accounting": {}}})
    said: list[str] = []
    pool = ThreadPoolExecutor(1)
    fut = pool.submit(run, sc, RunOptions(out=tmp_path / "run", load_workers=2, notice=said.append))
    pool.shutdown(wait=False)
    deadline = time.monotonic() + 60
    joined: list[int] = []
    while len(joined) < 2:
        assert time.monotonic() < deadline and not fut.done(), "the load workers never joined"
        joined = [int(m) for line in list(said) for m in re.findall(r"load worker \d+ joined .*\(pid (\d+)\)", line)]
        time.sleep(0.05)
    time.sleep(2.5)  # a second or more into the load, with 400 ms requests in flight
    assert not fut.done()
    os.kill(joined[0], signal.SIGKILL)
    record = RunRecord.load(fut.result(timeout=120).path)
    dead = [w for w in record.load_summary.workers if w.state == "died"]
    assert len(dead) == 1 and dead[0].in_flight_at_death > 0
    (acc,) = [v for v in judge(record) if v.check == "accounting"]
    assert acc.status.value == "pass", acc.summary
    cut = acc.figures["in_flight_at_worker_death"]
    assert cut["reported"] == dead[0].in_flight_at_death and cut["seen_upstream"] >= 1
    assert "have an unknown outcome and are not counted" in acc.summary
