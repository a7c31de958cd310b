"""overhead measures client time minus upstream time per request (total and TTFT), judges p50/p90/p99 bootstrap CIs
against budgets, and compares canary with baseline latency (Mann-Whitney U with an effect-size gate). Synthetic
records with a known overhead."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatedrill.harness.checks import Status, parse_params
from gatedrill.harness.checks.check_overhead import overhead
from gatedrill.harness.checks.synthetic import client_record, journal_entry, record_of, scenario_with, split_record
from gatedrill.harness.record import RunRecord

SC = scenario_with({"stable": 50, "canary": 50})
HALF = {"stable": 0.5, "canary": 0.5}


def judge(record: RunRecord, **params: Any) -> Any:
    return overhead(record, parse_params("overhead", params))


def known(n: int = 400, seed: int = 1, **kw: Any) -> RunRecord:
    return split_record(SC, HALF, n, random.Random(seed), stream_share=0.3, **kw)


def test_a_known_overhead_is_measured_for_total_and_ttft() -> None:
    v = judge(known(overhead_ms=3.0))
    for key in ("total_p50_ms", "total_p99_ms", "ttft_p50_ms"):
        est, (low, high) = v.figures[key]["estimate"], v.figures[key]["ci"]
        assert est == pytest.approx(3.0, abs=1e-6) and low <= est <= high
    assert v.figures["n_total"] == 400 and 0 < v.figures["n_ttft"] < 400
    assert v.figures["clock"] == "monotonic"


def test_an_overhead_within_budget_passes() -> None:
    v = judge(known(overhead_ms=3.0, overhead_jitter_ms=2.0), p99_budget_ms=10, ttft_p50_budget_ms=10)
    assert v.status is Status.PASS, v.summary
    assert v.thresholds["p99_budget_ms"] == 10 and v.sample_size == 400


def test_an_overhead_whose_ci_is_wholly_over_budget_fails_naming_the_slowest_requests() -> None:
    v = judge(known(overhead_ms=30.0, overhead_jitter_ms=5.0), p50_budget_ms=20)
    assert v.status is Status.FAIL
    assert v.figures["total_p50_ms"]["ci"][0] > 20
    slowest = v.evidence[0]["slowest"]
    assert len(slowest) == 10 and all(s["overhead_ms"] >= 30 for s in slowest)


def test_a_budget_inside_the_ci_is_inconclusive() -> None:
    rec = known(n=150, overhead_ms=2.0, overhead_jitter_ms=20.0)
    low, high = judge(rec).figures["total_p90_ms"]["ci"]
    assert low < high
    v = judge(rec, p90_budget_ms=(low + high) / 2)
    assert v.status is Status.INCONCLUSIVE and "p90" in v.summary


def test_the_bootstrap_is_seeded() -> None:
    rec = known(n=150, overhead_jitter_ms=20.0)
    assert judge(rec).figures["total_p99_ms"] == judge(rec).figures["total_p99_ms"]


def test_requests_with_retries_are_left_out_and_counted() -> None:
    c = client_record("gd1-s0-t1", 0.0, upstream="stable", attempts=2, service_s=0.5)
    j = [journal_entry("gd1-s0-t1", 0.01, 0.05, status=500), journal_entry("gd1-s0-t1", 0.2, 0.1)]
    rec = record_of(SC, [c], {"stable": j})
    v = judge(rec, p50_budget_ms=10)
    assert v.figures["skipped"]["multi_attempt"] == 1
    assert v.status is Status.INCONCLUSIVE


def test_no_measurable_request_is_inconclusive() -> None:
    rec = record_of(SC, [client_record("gd1-s0-t1", 0.0, upstream=None, status=502)], {})
    assert judge(rec, p99_budget_ms=50).status is Status.INCONCLUSIVE


def test_monotonic_times_are_used_even_when_wall_clocks_disagree() -> None:
    rec = known(overhead_ms=3.0)
    for c in rec.clients:
        for k in ("sent_s", "end_s", "ttft_s"):
            if getattr(c, k) is not None:
                setattr(c, k, getattr(c, k) + 5.0)  # a wall-clock step between processes
    assert judge(rec).figures["total_p50_ms"]["estimate"] == pytest.approx(3.0, abs=1e-6)


def test_early_requests_can_be_left_out() -> None:
    rec = known(n=200)
    v = judge(rec, exclude_first_s=1.0)
    assert v.figures["skipped"]["early"] > 0
    assert v.figures["n_total"] == 200 - v.figures["skipped"]["early"]


# -- canary vs baseline (Kayenta) ------------------------------------------------------------------------------------


def test_a_canary_as_fast_as_its_baseline_passes_the_comparison() -> None:
    v = judge(known(n=2000))
    cmp = v.figures["comparison"]["canaries"]["canary"]
    assert cmp["result"] == "pass" and v.status is Status.PASS
    assert abs(cmp["rank_biserial"]) < 0.1


def test_a_much_slower_canary_fails_with_its_effect_size() -> None:
    v = judge(known(n=2000, slow={"canary": 2.0}))
    assert v.status is Status.FAIL
    ev = v.evidence[0]
    assert ev["comparison"] == "canary vs stable" and ev["rank_biserial"] > 0.2 and ev["p_value"] < 1e-3
    assert ev["median_shift"] > 0.5


def test_a_significant_but_small_slowdown_passes_the_effect_size_gate() -> None:
    v = judge(known(n=20_000, seed=3, slow={"canary": 1.06}))
    cmp = v.figures["comparison"]["canaries"]["canary"]
    assert cmp["p_value"] < 1e-3 and cmp["rank_biserial"] < 0.2
    assert v.status is Status.PASS


def test_a_faster_canary_is_not_a_failure() -> None:
    assert judge(known(n=2000, slow={"canary": 0.5})).status is Status.PASS


def test_the_comparison_is_skipped_with_one_upstream_serving() -> None:
    v = judge(split_record(SC, {"stable": 1.0}, 400, random.Random(1)), p99_budget_ms=10)  # p99 needs 368
    assert v.figures["comparison"].startswith("skipped") and v.status is Status.PASS


def test_a_canary_with_too_few_requests_to_compare_is_inconclusive() -> None:
    v = judge(split_record(SC, {"stable": 0.97, "canary": 0.03}, 300, random.Random(1)))
    assert v.figures["comparison"]["canaries"]["canary"]["result"] == "inconclusive"
    assert v.status is Status.INCONCLUSIVE


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), shuffle_seed=st.integers(0, 10_000))
def test_shuffling_records_does_not_change_the_verdict(seed: int, shuffle_seed: int) -> None:
    rec = known(n=120, seed=seed, overhead_jitter_ms=10.0)
    before = judge(rec, p90_budget_ms=9.0)
    rng = random.Random(shuffle_seed)
    rng.shuffle(rec.clients)
    for es in rec.journals.values():
        rng.shuffle(es)
    after = judge(rec, p90_budget_ms=9.0)
    assert after.status == before.status
    assert after.figures["total_p50_ms"]["estimate"] == before.figures["total_p50_ms"]["estimate"]
    assert after.figures["comparison"]["canaries"]["canary"]["p_value"] == pytest.approx(
        before.figures["comparison"]["canaries"]["canary"]["p_value"])
