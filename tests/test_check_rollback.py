"""rollback judges detection time, error budget, probes and recovery from the journals and the applied timeline:
synthetic run records pin each rule; real canary-rollback runs pass with the reference gateway and fail with the
`never_cooldown` mutant."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatedrill.harness.checks import REGISTRY, Status, parse_params
from gatedrill.harness.checks.check_rollback import split_probes
from gatedrill.harness.checks.synthetic import partial_record, shuffle_record
from gatedrill.harness.record import RunRecord
from gatedrill.harness.runner import RunOptions, run
from gatedrill.harness.scenario import load_scenario
from gatedrill.scenarios import resolve

T0 = 1000.0
SCENARIO = load_scenario(resolve("canary-rollback"))  # 80/20, canary faulted 15..30 s, cooldown 3 s


def synthetic(seed: int = 0, detect_s: float | None = 0.3, probe_every: float = 3.0, errors: int = 0,
              rate: float = 30.0, recover: bool = True) -> RunRecord:
    """A canary-rollback record: Poisson arrivals; the canary gets 20% until the fault, then steady traffic for
    `detect_s` (None: all through), then probes every `probe_every` s; errors: client failures in the window."""
    rng = random.Random(seed)
    clients: list[dict[str, Any]] = []
    journals: dict[str, list[dict[str, Any]]] = {"stable": [], "canary": []}
    t, i, last_probe = 0.0, 0, 15.0
    while t < 45.0:
        t += rng.expovariate(rate)
        i += 1
        cid = f"c{i}"
        in_fault = 15.0 <= t < 30.0
        to_canary = rng.random() < 0.2
        if in_fault and detect_s is not None and t >= 15.0 + detect_s:
            to_canary = t - last_probe >= probe_every
            if to_canary:
                last_probe = t
        if t >= 30.0 and not recover:
            to_canary = False
        status = 500 if in_fault else 200
        if to_canary:
            journals["canary"].append({"correlation_id": cid, "arrival_wall": T0 + t, "status": status})
        if not to_canary or in_fault:
            journals["stable"].append({"correlation_id": cid, "arrival_wall": T0 + t + 0.001, "status": 200})
        clients.append({"correlation_id": cid, "intended_s": T0 + t, "sent_s": T0 + t, "status": 200,
                        "error_class": None})
    window = [c for c in clients if 15.0 <= c["sent_s"] - T0 < 30.0]
    for c in window[:errors]:
        c.update(status=502, error_class="http_502")
    timeline = [
        {"action": "set_faults", "upstream": "canary", "applied_wall": T0 + 15.0, "ok": True,
         "spec": {"faults": [{"fault": {"kind": "http_error", "status": 500}}]}},
        {"action": "clear_faults", "upstream": "canary", "applied_wall": T0 + 30.0, "ok": True, "spec": {}},
    ]
    meta = {"load_start_wall": T0, "end_wall": T0 + 45.0}
    return partial_record(meta, SCENARIO, timeline, clients, journals)


def judge(record: RunRecord, **overrides: Any) -> Any:
    raw = {**record.scenario.checks.get("rollback").model_dump(exclude_unset=True), **overrides}
    return REGISTRY["rollback"].fn(record, parse_params("rollback", raw))


def test_a_gateway_that_takes_the_canary_out_quickly_and_probes_passes() -> None:
    v = judge(synthetic(), expect_probe=True, max_recovery_s=2.0)
    assert v.status is Status.PASS, v.summary
    assert v.figures["detection_s"] <= 0.3
    assert v.figures["probes"] >= 3
    assert v.figures["recovery_s"] is not None and v.figures["recovery_s"] < 2.0
    assert v.sample_size > 400


def test_a_gateway_that_never_stops_sending_fails_with_the_window_as_evidence() -> None:
    v = judge(synthetic(detect_s=None))
    assert v.status is Status.FAIL
    assert v.figures["detection_s"] is None
    assert v.evidence[0]["span_s"] == [15.0, 30.0]


def test_slow_detection_fails_against_max_detection_s() -> None:
    v = judge(synthetic(detect_s=4.0))
    assert v.status is Status.FAIL
    assert 3.5 < v.figures["windows"][0]["detection_s"] <= 4.5


def test_client_errors_over_budget_fail_and_name_the_requests() -> None:
    v = judge(synthetic(errors=10))
    assert v.status is Status.FAIL
    assert v.figures["client_errors"] == 10
    assert {e["correlation_id"] for e in v.evidence if "correlation_id" in e}
    assert judge(synthetic(errors=2), max_client_error_rate=0.01).status is Status.PASS
    assert judge(synthetic(errors=2), max_client_errors=1).status is Status.FAIL


def test_missing_probes_fail_only_when_probes_are_expected() -> None:
    no_probes = synthetic(probe_every=1000.0)
    assert judge(no_probes).status is Status.PASS
    assert judge(no_probes, expect_probe=True).status is Status.FAIL
    assert judge(synthetic(), expect_probe=False).status is Status.FAIL


def test_no_recovery_fails_when_a_recovery_budget_is_set() -> None:
    v = judge(synthetic(recover=False), max_recovery_s=5.0)
    assert v.status is Status.FAIL
    assert v.figures["recovery_s"] is None
    assert "canary never recovered" in v.summary and "None s" not in v.summary


def test_with_a_declared_cooldown_an_upstream_that_never_returns_fails_without_a_budget() -> None:
    """canary-rollback sets no max_recovery_s; its intent declares a cooldown, so 15 s after the fault the canary
    must be back: a breaker that never re-admits it is a failure (it passed before)."""
    assert SCENARIO.gateway.routing.cooldown.enabled
    assert SCENARIO.checks.get("rollback").max_recovery_s is None  # type: ignore[union-attr]
    assert judge(synthetic()).status is Status.PASS
    stuck = judge(synthetic(recover=False))
    assert stuck.status is Status.FAIL and "canary never recovered" in stuck.summary
    assert [e["what"] for e in stuck.evidence if e.get("what") == "never recovered"] == ["never recovered"]


def test_without_a_fault_or_with_little_traffic_it_is_inconclusive() -> None:
    r = synthetic()
    r.timeline = []
    assert judge(r).status is Status.INCONCLUSIVE
    assert judge(synthetic(rate=0.5)).status is Status.INCONCLUSIVE


def test_isolated_attempts_are_probes_and_clustered_ones_are_steady() -> None:
    steady, probes = split_probes([0.0, 0.1, 0.2, 2.0, 4.0, 4.1], gap=1.0)
    assert probes == [2.0]
    assert steady == [0.0, 0.1, 0.2, 4.0, 4.1]


@given(st.integers(0, 10_000), st.sampled_from([0.2, 1.0, None]))
def test_shuffling_records_does_not_change_the_verdict(seed: int, detect: float | None) -> None:
    r = synthetic(seed=seed, detect_s=detect)
    before = judge(r)
    shuffle_record(r, seed)
    after = judge(r)
    assert (before.status, before.figures) == (after.status, after.figures)


@pytest.mark.parametrize(("mutant", "expected"), [(None, Status.PASS), ("never_cooldown", Status.FAIL)])
def test_real_canary_rollback_run(tmp_path: Path, mutant: str | None, expected: Status) -> None:
    # Scale 0.2: 9 s of load at 30/s, the canary faulted from 3 s to 6 s, cooldown 0.6 s.
    out = run("canary-rollback", RunOptions(scale=0.2, mutant=mutant, out=tmp_path / "run"))
    v = judge(RunRecord.load(out.path))
    assert v.status is expected, (v.summary, v.figures)
