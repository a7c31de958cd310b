"""retry_amplification bounds upstream attempts per client request, catches retries that come before the fake's
retry-after, and catches retry storms; real rate-limit-storm runs pass with the reference gateway and fail with
the `retry_storm` mutant."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatedrill.harness.checks import REGISTRY, Status, parse_params
from gatedrill.harness.checks.fault_windows import advertised_retry_after
from gatedrill.harness.checks.synthetic import partial_record, shuffle_record
from gatedrill.harness.record import JournalEntry, RunRecord
from gatedrill.harness.runner import RunOptions, run
from gatedrill.harness.scenario import Scenario, load_scenario
from gatedrill.scenarios import resolve

T0 = 1000.0
# rate-limit-storm's primary alone: 3 attempts and no fallback, so one request may make at most 3 attempts
_STORM = load_scenario(resolve("rate-limit-storm")).model_dump(mode="json")
_STORM["gateway"]["routing"].update(fallbacks=[], retry={**_STORM["gateway"]["routing"]["retry"], "attempts": 3})
SCENARIO = Scenario.model_validate(_STORM)  # 429 (retry_after 1 s) with p=0.3 from 10 s to 20 s (the synthetic)


def synthetic(seed: int = 0, wait: float = 1.01, duplicate: bool = False, extra: int = 0, n: int = 300,
              message: bool = True) -> RunRecord:
    rng = random.Random(seed)
    clients: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    for i in range(n):
        t = 30.0 * i / n
        cid = f"c{i}"
        clients.append({"correlation_id": cid, "intended_s": T0 + t, "sent_s": T0 + t, "status": 200,
                        "error_class": None})
        at = t
        for k in range(3 + extra):
            limited = 10.0 <= at < 20.0 and rng.random() < 0.3 and k < 2 + extra
            err = "Rate limit reached ... Please try again in 1s. Visit ..." if limited and message else None
            e: dict[str, Any] = {"correlation_id": cid, "arrival_wall": T0 + at, "last_byte_wall": T0 + at + 0.001,
                 "status": 429 if limited else 200, "fault": "http_error" if limited else None, "error": err}
            entries.append(e)
            if duplicate:
                entries.append({**e, "arrival_wall": e["arrival_wall"] + 0.0005})
            if not limited:
                break
            at += 0.001 + wait
    timeline = [
        {"action": "set_faults", "upstream": "primary", "applied_wall": T0 + 10.0, "ok": True,
         "spec": {"faults": [{"fault": {"kind": "http_error", "status": 429, "retry_after": 1.0},
                              "when": {"probability": 0.3}}]}},
        {"action": "clear_faults", "upstream": "primary", "applied_wall": T0 + 20.0, "ok": True, "spec": {}},
    ]
    return partial_record({"load_start_wall": T0, "end_wall": T0 + 30.0}, SCENARIO, timeline,
                     clients, {"primary": entries})


def judge(record: RunRecord, **overrides: Any) -> Any:
    raw = {**record.scenario.checks.get("retry_amplification").model_dump(exclude_unset=True), **overrides}
    return REGISTRY["retry_amplification"].fn(record, parse_params("retry_amplification", raw))


def test_retries_that_wait_the_retry_after_pass() -> None:
    v = judge(synthetic())
    assert v.status is Status.PASS, v.summary
    assert v.figures["retries_after_wait_judged"] > 10
    assert 1.0 < v.figures["attempts_per_request_in_faults"] < 1.6


def test_a_retry_before_the_retry_after_fails_with_the_request_as_evidence() -> None:
    v = judge(synthetic(wait=0.002))
    assert v.status is Status.FAIL
    assert v.figures["retries_early"] == v.figures["retries_after_wait_judged"] > 0
    assert v.evidence[0]["retry_after_s"] == 1.0 and v.evidence[0]["waited_s"] < 0.01
    assert judge(synthetic(wait=0.002), honor_retry_after=False).status is Status.PASS


def test_the_wait_comes_from_the_fault_rule_when_the_message_does_not_say() -> None:
    v = judge(synthetic(wait=0.5, message=False))
    assert v.status is Status.FAIL
    assert v.evidence[0]["retry_after_s"] == 1.0


def test_duplicated_attempts_exceed_the_mean_bound() -> None:
    v = judge(synthetic(duplicate=True))
    assert v.status is Status.FAIL
    assert v.figures["attempts_per_request"] >= 2.0


def test_a_request_attempted_more_than_the_routing_allows_is_a_retry_storm() -> None:
    v = judge(synthetic(extra=3), max_attempts_per_request=10)
    assert v.status is Status.FAIL
    assert v.figures["storm_requests"] > 0
    assert any(e.get("cap") == 3 for e in v.evidence)


def test_too_few_requests_are_inconclusive() -> None:
    assert judge(synthetic(n=5)).status is Status.INCONCLUSIVE


def test_advertised_wait_reads_milliseconds_and_ignores_successes() -> None:
    r = synthetic()
    entry = JournalEntry(status=429, error="Please try again in 250ms.", upstream="primary", arrival_wall=T0)
    assert advertised_retry_after(entry, r) == 0.25
    assert advertised_retry_after(JournalEntry(status=200, arrival_wall=T0), r) is None


@given(st.integers(0, 10_000), st.sampled_from([0.002, 1.01]))
def test_shuffling_records_does_not_change_the_verdict(seed: int, wait: float) -> None:
    r = synthetic(seed=seed, wait=wait, n=120)
    before = judge(r)
    shuffle_record(r, seed)
    after = judge(r)
    assert (before.status, before.figures) == (after.status, after.figures)


@pytest.mark.parametrize(("mutant", "expected"), [(None, Status.PASS), ("retry_storm", Status.FAIL)])
def test_real_rate_limit_storm_run(tmp_path: Path, mutant: str | None, expected: Status) -> None:
    # Scale 0.2: 6 s of load, the 429 storm from 2 s to 4 s at 25/s.
    out = run("rate-limit-storm", RunOptions(scale=0.2, mutant=mutant, out=tmp_path / "run"))
    v = judge(RunRecord.load(out.path))
    assert v.status is expected, (v.summary, v.figures)
