"""How a distributed load is split and put back together: shares partition the schedule, summaries merge as HDR
histograms (exactly the histogram of all requests, not an average of percentiles), a dead worker's unsent share is
its own, each worker's CPU and loop lag is judged per process, and fakes off loopback guard their control API."""

from __future__ import annotations

import dataclasses
import random
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from gatedrill.fakes import FakeServer
from gatedrill.fakes.config import FakeConfig
from gatedrill.harness.checks.synthetic import T0_WALL, client_record, record_of, scenario_with
from gatedrill.harness.fake_fleet import guarded
from gatedrill.harness.host import run_condition
from gatedrill.harness.load import LoadSpec, RequestMix, Share, Tally, arrival_list, merge_summaries, merge_tallies
from gatedrill.harness.load.distribution import owned_arrivals, parse_address
from gatedrill.harness.load.records import ClientRecord
from gatedrill.harness.record import TimelineEvent
from gatedrill.harness.scenario import ClearFaults
from gatedrill.harness.timeline import TimelineRunner

SPEC = LoadSpec(arrivals={"profile": "poisson", "rate": 200}, mix=RequestMix(), max_requests=1000)


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shares_partition_arrivals_sessions_and_the_request_budget(count: int) -> None:
    shares = [Share(i, count) for i in range(count)]
    n = len(arrival_list(SPEC.arrivals, 5.0, 9))  # type: ignore[arg-type]
    assert sum(owned_arrivals(SPEC, 5.0, 9, s) for s in shares) == n
    assert all(sum(s.owns(i) for s in shares) == 1 for i in range(n))
    assert sum(s.budget(1001) for s in shares) == 1001
    # single-turn sessions in time order: the first M arrivals' owners get exactly the budget's split
    assert [s.budget(50) for s in shares] == [sum(1 for i in range(50) if s.owns(i)) for s in shares]
    sessions = [s.session_index(k) for s in shares for k in range(20)]
    assert len(set(sessions)) == len(sessions)
    with pytest.raises(ValueError):
        Share(count, count)


def _records(n: int, rng: random.Random, scale: float) -> list[ClientRecord]:
    out = []
    for i in range(n):
        rec = client_record(f"gd1-s{i}-t1", i * 0.01, upstream=rng.choice(["a", "b"]),
                            service_s=rng.expovariate(1 / scale), error_class=None if rng.random() > 0.05 else "x")
        out.append(rec)
    return out


def test_merged_tallies_are_the_tally_of_all_requests_not_an_average_of_percentiles() -> None:
    rng = random.Random(4)
    parts = [_records(900, rng, 0.01), _records(100, rng, 1.0)]  # a fast worker and a slow one
    whole = Tally().extend(r for p in parts for r in p).to_dict()
    merged = merge_tallies([Tally().extend(p).to_dict() for p in parts])
    for key in ("requests", "ok", "errors", "by_error", "by_upstream", "bytes"):
        assert merged[key] == whole[key]
    for name in ("latency", "service", "send_lag"):
        assert merged[name] == whole[name]  # bucket for bucket: the same summary and the same encoded histogram
    p99s = [Tally().extend(p).to_dict()["latency"]["p99_ms"] for p in parts]
    assert abs(merged["latency"]["p99_ms"] - sum(p99s) / 2) > 100  # averaging would be far off


def _worker(index: int, **kw: Any) -> dict[str, Any]:
    return {"index": index, "state": "finished", "stop_reason": "duration", "scheduled_arrivals": 10,
            "started_arrivals": 10, "unsent_arrivals": 0, "requests_sent": 10, "cpu_s": 0.5, "ran_s": 5.0,
            "tally": Tally().extend(_records(10, random.Random(index), 0.01)).to_dict(), **kw}


def test_a_dead_workers_unsent_share_is_its_own_and_the_summary_keeps_a_single_runs_shape() -> None:
    base = {"run_id": "gd1", "duration_s": 5.0, "records": 24}
    dead = _worker(1, state="died", started_arrivals=4, unsent_arrivals=6, died_after_s=2.0, in_flight=1)
    s = merge_summaries(SPEC, [_worker(0), dead], base)
    assert s["scheduled_arrivals"] == 20 and s["started_arrivals"] == 14 and s["unsent_arrivals"] == 6
    assert s["unsent_worker_died"] == 6 and s["stop_reason"] == "duration" and s["load_workers"] == 2
    assert s["tally"]["requests"] == 20 and s["achieved_rate"] == 14 / 5.0
    row = s["workers"][1]
    assert row["state"] == "died" and row["in_flight_at_death"] == 1 and row["unsent_arrivals"] == 6
    single_keys = {"run_id", "mode", "seed", "duration_s", "t0_mono", "t0_wall", "ran_s", "stop_reason",
                   "scheduled_arrivals", "started_arrivals", "unsent_arrivals", "requests_sent", "target_rate",
                   "achieved_rate", "pool_waits", "max_in_flight", "records", "cpu_s", "tally", "failure", "control"}
    assert single_keys - set(s) <= {"seed", "t0_mono", "t0_wall"}  # what the master adds itself (`base`)


def _host(t: float, **kw: Any) -> dict[str, Any]:
    return {"mono": 1000 + t, "wall": T0_WALL + t, "dt": 0.25, "cores": 2, "busy": 0.6, "running": 1, "load1": 1.0,
            "procs": {"generator": 1.2}, **kw}


def _worker_sample(t: float, worker: int, cpu: float, lag: float = 1.0) -> dict[str, Any]:
    return {"mono": 1000 + t, "wall": T0_WALL + t, "dt": 1.0, "cores": 0, "busy": cpu, "procs": {"generator": cpu},
            "worker": worker, "worker_host": "far", "loop_lag_ms": lag}


def _run_condition(tmp_path: Path, samples: list[dict[str, Any]]) -> dict[str, Any]:
    scenario = scenario_with({"stable": 90, "canary": 10}, duration_s=4)
    clients = [client_record(f"gd1-s{i}-t1", i * 0.1, upstream="stable") for i in range(40)]
    rec = dataclasses.replace(record_of(scenario, clients, {}, path=tmp_path), host=samples)
    return run_condition(rec)


def _condition(tmp_path: Path, samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list(_run_condition(tmp_path, samples)["windows"])


def _spans(tmp_path: Path, samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list(_run_condition(tmp_path, samples)["spans"])


def test_each_worker_is_judged_on_its_own_process_wherever_it_ran(tmp_path: Path) -> None:
    # two workers at 0.6 cores each: 1.2 together (the local sampler's sum), but neither process is saturated
    calm = [_host(t / 4) for t in range(16)] + [_worker_sample(t, w, 0.6) for t in range(4) for w in (0, 1)]
    assert [w["kind"] for w in _condition(tmp_path, calm)] == [None] * 4
    # one worker saturated (on a host the runner cannot see): its window is the generator's
    hot = [_host(t / 4) for t in range(16)] + [_worker_sample(t, w, 0.99 if (t, w) == (2, 1) else 0.6)
                                               for t in range(4) for w in (0, 1)]
    windows = _condition(tmp_path, hot)
    assert windows[2]["kind"] == "generator" and windows[2]["generator_cpu"] > 0.9
    # an event loop that stalls for 80 ms cannot send on time either
    stalled = [*calm, _worker_sample(1.5, 0, 0.3, lag=80.0)]
    windows = _condition(tmp_path, stalled)
    assert windows[1]["kind"] == "generator" and windows[1]["loop_lag_ms"] == 80.0
    spans = _spans(tmp_path, stalled)
    assert len(spans) == 1 and "a worker's event loop stalled 80 ms" in spans[0]["reason"]


def test_a_fake_off_loopback_gets_a_control_token_and_the_timeline_sends_it() -> None:
    assert guarded(FakeConfig(provider="openai")).control_token is None
    assert guarded(FakeConfig(provider="openai", host="::1")).control_token is None
    far = guarded(FakeConfig(provider="openai", host="192.0.2.1"))
    assert far.control_token and len(far.control_token) >= 24
    token = "t" * 24
    with FakeServer(provider="openai", control_token=token) as srv:
        urls = {"u": srv.url}
        act = ClearFaults(at_s=0, action="clear_faults", upstream="u")
        for tokens, ok in (({}, False), ({"u": token}, True)):
            events: list[TimelineEvent] = []
            timeline = TimelineRunner([act], urls, None, events.append, control_tokens=tokens)
            timeline.start(time.monotonic(), time.time())
            deadline = time.monotonic() + 10
            while not events:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            timeline.stop()
            assert events[0].ok is ok, events[0]
        assert httpx.get(f"{srv.url}/_gatedrill/faults").status_code == 401


@pytest.mark.parametrize(("text", "want"), [("127.0.0.1:5557", ("127.0.0.1", 5557)), ("[::1]:80", ("::1", 80)),
                                            ("host.example:0", ("host.example", 0))])
def test_master_addresses_parse(text: str, want: tuple[str, int]) -> None:
    assert parse_address(text) == want


@pytest.mark.parametrize("text", ["nohost", "h:99999", ":80", "h:x"])
def test_bad_master_addresses_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not HOST:PORT"):
        parse_address(text)
