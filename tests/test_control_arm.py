"""The same-run control arm: the load sends a seeded share of identical requests straight to a control fake, its
records stay out of every other check, and `overhead` judges the gateway arm against it (noise that slows both
arms cancels; a gateway that adds latency still fails)."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path
from typing import Any

import pytest

from gatedrill.harness.checks import REGISTRY, Status, parse_params
from gatedrill.harness.checks.arm_statistics import quantile_difference_ci, rank_test
from gatedrill.harness.checks.synthetic import client_record, journal_entry, record_of, scenario_with
from gatedrill.harness.record import CONTROL_JOURNAL, RunRecord
from gatedrill.harness.runner import RunOptions, run


def test_the_quantile_difference_ci_covers_a_known_shift() -> None:
    rng = random.Random(3)
    a = [rng.gauss(30, 3) for _ in range(600)]
    b = [rng.gauss(10, 3) for _ in range(120)]
    est, low, high = quantile_difference_ci(a, b, 50, 0.95, 2000, 0)
    assert low < 20 < high and 18 < est < 22
    assert high - low < 3


def test_the_rank_test_sees_a_slower_arm_and_not_an_equal_one() -> None:
    rng = random.Random(4)
    base = [rng.expovariate(1 / 5) for _ in range(150)]
    slower = rank_test([x + 5 for x in base], [rng.expovariate(1 / 5) for _ in range(150)])
    same = rank_test([rng.expovariate(1 / 5) for _ in range(150)], base)
    assert slower["p_value"] < 1e-6 and slower["rank_biserial"] > 0.3
    assert same["p_value"] > 1e-3 and abs(same["rank_biserial"]) < 0.2


def arms_record(tmp_path: Path, gateway_ms: float, noise: list[float], control_every: int = 5) -> RunRecord:
    """A record whose requests all see the same host noise (ms, per request in time order); the gateway arm adds
    `gateway_ms`; every `control_every`-th request has a control twin that bypasses the gateway."""
    scenario = scenario_with({"stable": 1}, checks={"overhead": {"p99_budget_ms": 50}})
    clients, journal, ctl_clients, ctl_journal = [], [], [], []
    for i, extra in enumerate(noise):
        t, up = i * 0.025, 0.05
        over = (gateway_ms + extra) / 1000
        clients.append(client_record(f"gd1-s{i}-t1", t, upstream="stable", service_s=up + over))
        journal.append(journal_entry(f"gd1-s{i}-t1", t + over / 2, up))
        if i % control_every == 0:
            cid = f"gd1-ctl-s{i}-t1"
            ctl_clients.append(client_record(cid, t, service_s=up + extra / 1000, attempts=None))
            ctl_journal.append(journal_entry(cid, t + extra / 2000, up))
    record = record_of(scenario, clients, {"stable": journal}, path=tmp_path)
    return dataclasses.replace(record, control_clients=ctl_clients, control_journal=ctl_journal)


def busy_host_noise(n: int, seed: int = 1) -> list[float]:
    """Host noise: mostly 1-3 ms, with a busy stretch where requests wait 150-300 ms (a loaded CI runner)."""
    rng = random.Random(seed)
    return [rng.uniform(150, 300) if 0.4 * n <= i < 0.6 * n else rng.uniform(1, 3) for i in range(n)]


def judge_overhead(record: RunRecord, **params: Any) -> Any:
    return REGISTRY["overhead"].fn(record, parse_params("overhead", {"p99_budget_ms": 50, **params}))


def test_host_noise_that_slows_both_arms_fails_an_absolute_budget_but_not_the_control_comparison(
        tmp_path: Path) -> None:
    record = arms_record(tmp_path, 2.0, busy_host_noise(1000))
    assert judge_overhead(record, against="absolute").status is Status.FAIL
    v = judge_overhead(record)
    assert v.status is Status.PASS, v.summary
    assert "beyond control" in v.summary
    assert v.figures["total_judged_against"] == "control"
    assert v.figures["n_control_total"] == 200


def test_a_gateway_that_adds_latency_fails_against_the_control_arm(tmp_path: Path) -> None:
    v = judge_overhead(arms_record(tmp_path, 80.0, [random.Random(i).uniform(1, 3) for i in range(1000)]))
    assert v.status is Status.FAIL
    assert "beyond the control arm" in v.summary
    assert v.figures["total_arms"]["rank_biserial"] > 0.9


def test_without_a_control_arm_the_absolute_budget_is_judged_and_named(tmp_path: Path) -> None:
    record = arms_record(tmp_path, 2.0, [1.0] * 400, control_every=40)  # 10 control samples < min_samples 20
    v = judge_overhead(record)
    assert v.figures["total_judged_against"].startswith("absolute (control arm has 10 samples")
    assert v.status is Status.PASS


@pytest.fixture(scope="module")
def split_run(tmp_path_factory: pytest.TempPathFactory) -> RunRecord:
    out = tmp_path_factory.mktemp("arm") / "canary-split"
    run("canary-split", RunOptions(out=out, scale=0.2))
    return RunRecord.load(out)


def test_a_real_run_sends_a_seeded_tenth_of_identical_requests_to_the_control_fake(split_run: RunRecord) -> None:
    ctl = split_run.control_clients
    n = len(split_run.clients)
    assert 0.05 * n <= len(ctl) <= 0.16 * n  # 10% of arrivals, binomial spread at n ~ 240
    assert all(c.status == 200 and c.error_class is None for c in ctl)
    journal = [json.loads(line) for line in (split_run.path / CONTROL_JOURNAL).read_text().splitlines()]
    assert len(journal) == len(split_run.control_journal)
    assert sorted(e["correlation_id"] for e in journal) == sorted(c.correlation_id for c in ctl)
    gateway_bodies = {e.correlation_id: (e.body or {})["messages"] for entries in split_run.journals.values()
                      for e in entries}
    for e in journal:  # the same session as its gateway twin, sent without the gateway
        twin = e["correlation_id"].replace("-ctl-", "-")
        assert e["body"]["messages"] == gateway_bodies[twin]
        assert abs(e["arrival_wall"] - next(c.intended_s or 0.0 for c in split_run.clients
                                            if c.correlation_id == twin)) < 1.0


def test_control_requests_reach_no_gateway_record_and_no_drill_upstream(split_run: RunRecord) -> None:
    ids = {c.correlation_id for c in split_run.control_clients}
    assert ids and all("-ctl-" in i for i in ids)
    assert not ids & {c.correlation_id for c in split_run.clients}
    assert not ids & {e.correlation_id for entries in split_run.journals.values() for e in entries}
    assert "control" not in split_run.journals and "control" not in split_run.meta.fakes
    assert split_run.meta.control_url
    load = split_run.load_summary
    assert load.control is not None and load.control.records == len(ids)
    assert load.tally["requests"] == len(split_run.clients)  # the gateway arm only


def test_overhead_on_a_real_run_is_judged_against_its_control_arm(split_run: RunRecord) -> None:
    from gatedrill.harness.checks import judge

    v = next(v for v in judge(split_run) if v.check == "overhead")
    assert v.figures["total_judged_against"] == "control"
    assert v.figures["total_p99_vs_control_ms"]["estimate"] < v.figures["total_p99_ms"]["estimate"]
    accounting = next(v for v in judge(split_run) if v.check == "accounting")
    assert accounting.status is Status.PASS, accounting.summary


def test_a_p99_budget_on_fewer_samples_than_bound_p99_is_inconclusive(tmp_path: Path) -> None:
    v = judge_overhead(arms_record(tmp_path, 2.0, [1.0] * 300))
    assert v.status is Status.INCONCLUSIVE
    assert "total p99: 300 samples, 368 needed" in v.summary
