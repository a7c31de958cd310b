"""canary_split judges traffic shares against the configured weights: exact binomial for two upstreams, chi-square
SRM for more, per weight period, with a planned sample size, and sticky sessions per session. Synthetic records."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gatedrill.harness.checks import Status, parse_params
from gatedrill.harness.checks.check_canary_split import canary_split, obrien_fleming_spend, required_n
from gatedrill.harness.checks.synthetic import (
    T0_WALL,
    client_record,
    record_of,
    scenario_with,
    shuffle_record,
    split_record,
)
from gatedrill.harness.record import RunRecord

SPLIT = {"stable": 90.0, "canary": 10.0}
SC = scenario_with(SPLIT)


def judge(record: RunRecord, **params: Any) -> Any:
    return canary_split(record, parse_params("canary_split", params))


def test_a_split_drawn_at_the_configured_weights_passes_with_figures() -> None:
    v = judge(split_record(SC, {"stable": 0.9, "canary": 0.1}, 2000, random.Random(1), with_journal=False))
    assert v.status is Status.PASS, v.summary
    assert v.sample_size == 2000
    assert v.figures["test"].startswith("exact binomial")
    assert v.figures["p_value"] >= 1e-3 and v.thresholds["alpha"] == 1e-3
    low, high = v.figures["shares"]["canary"]["ci"]
    assert low < 0.1 < high
    assert v.figures["required_n"] <= 2000


def test_a_uniform_split_against_90_10_fails_with_evidence() -> None:
    v = judge(split_record(SC, {"stable": 0.5, "canary": 0.5}, 300, random.Random(2), with_journal=False))
    assert v.status is Status.FAIL
    assert {e["upstream"] for e in v.evidence} == {"stable", "canary"}
    assert "p=" in v.summary


def test_too_few_requests_is_inconclusive_not_pass() -> None:
    v = judge(split_record(SC, {"stable": 0.9, "canary": 0.1}, 60, random.Random(3), with_journal=False))
    assert v.status is Status.INCONCLUSIVE
    assert "needed to detect" in v.summary


def test_no_successful_requests_is_inconclusive() -> None:
    rec = record_of(SC, [client_record("gd1-s0-t1", 0.1, status=500, upstream="stable")], {})
    assert judge(rec).status is Status.INCONCLUSIVE


def test_the_served_upstream_comes_from_the_journal_when_the_gateway_does_not_say() -> None:
    rec = split_record(SC, {"stable": 0.5, "canary": 0.5}, 400, random.Random(4))
    for c in rec.clients:
        c.upstream = None
    v = judge(rec)
    assert v.status is Status.FAIL and v.sample_size == 400


def test_three_upstreams_use_chi_square_srm() -> None:
    sc = scenario_with({"a": 60, "b": 30, "c": 10})
    ok = judge(split_record(sc, {"a": 0.6, "b": 0.3, "c": 0.1}, 3000, random.Random(5), with_journal=False))
    assert ok.status is Status.PASS and ok.figures["test"] == "chi-square SRM"
    bad = judge(split_record(sc, {"a": 0.5, "b": 0.3, "c": 0.2}, 3000, random.Random(5), with_journal=False))
    assert bad.status is Status.FAIL


def test_required_sample_size_grows_as_the_detectable_deviation_shrinks() -> None:
    w = {"stable": 0.9, "canary": 0.1}
    assert required_n(w, 0.03, 1e-3, 0.8) > required_n(w, 0.05, 1e-3, 0.8) > required_n(w, 0.1, 1e-3, 0.8)
    assert 1500 < required_n(w, 0.03, 1e-3, 0.8) < 2100  # ~1,790 by the normal approximation


# -- false alarms and power (ISSUE 4's proof) ------------------------------------------------------------------------

FALSE_ALARM_ALPHA = 0.01
SEEDS = 240


def test_false_alarm_rate_over_many_seeds_stays_within_three_alpha() -> None:
    fails = 0
    for seed in range(SEEDS):
        rec = split_record(SC, {"stable": 0.9, "canary": 0.1}, 1000, random.Random(seed), with_journal=False)
        fails += judge(rec, alpha=FALSE_ALARM_ALPHA).status is Status.FAIL
    rate = fails / SEEDS
    print(f"canary_split false-alarm rate {rate:.4f} over {SEEDS} seeds at alpha {FALSE_ALARM_ALPHA}")
    assert rate <= 3 * FALSE_ALARM_ALPHA


def test_a_10_vs_13_percent_split_with_5000_requests_is_detected_at_least_95_percent_of_the_time() -> None:
    sims, caught = 200, 0
    sc = scenario_with({"stable": 90, "canary": 10})
    for seed in range(sims):
        rec = split_record(sc, {"stable": 0.87, "canary": 0.13}, 5000, random.Random(10_000 + seed),
                           with_journal=False)
        caught += judge(rec).status is Status.FAIL
    power = caught / sims
    print(f"canary_split power {power:.3f} (10% vs 13%, n=5000, alpha 1e-3, {sims} simulations)")
    assert power >= 0.95


# -- sequential looks ------------------------------------------------------------------------------------------------


def test_alpha_spending_sums_to_alpha_and_spends_little_early() -> None:
    spend = obrien_fleming_spend(0.01, 5)
    assert abs(sum(spend) - 0.01) < 1e-12
    assert spend[0] < spend[-1]


def test_sequential_looks_keep_false_alarms_within_three_alpha_and_catch_a_bad_split() -> None:
    fails = 0
    for seed in range(SEEDS):
        rec = split_record(SC, {"stable": 0.9, "canary": 0.1}, 1000, random.Random(seed), with_journal=False)
        fails += judge(rec, alpha=FALSE_ALARM_ALPHA, sequential=True, looks=5).status is Status.FAIL
    assert fails / SEEDS <= 3 * FALSE_ALARM_ALPHA
    bad = judge(split_record(SC, {"stable": 0.5, "canary": 0.5}, 1000, random.Random(1), with_journal=False),
                sequential=True, looks=5)
    assert bad.status is Status.FAIL and bad.figures["periods"][0]["rejected_at_look"] == 1


# -- weight changes on the timeline ----------------------------------------------------------------------------------


def _two_periods(second: dict[str, float], seed: int = 7) -> RunRecord:
    """2,000 requests at 90/10 over 50 s, then set_weights 50/50 at 50 s, then 2,000 at `second`."""
    rng = random.Random(seed)
    clients = []
    for i in range(4000):
        t = i * 0.025
        shares = {"stable": 0.9, "canary": 0.1} if t < 50 else second
        u = rng.choices(list(shares), list(shares.values()))[0]
        clients.append(client_record(f"gd1-s{i}-t1", t, upstream=u))
    timeline = [{"action": "set_weights", "ok": True, "planned_s": 50.0, "applied_s": 50.0,
                 "applied_wall": T0_WALL + 50.0, "spec": {"action": "set_weights", "at_s": 50.0,
                                                          "weights": {"stable": 50, "canary": 50}}}]
    sc = scenario_with(SPLIT, duration_s=100, timeline=[{"action": "set_weights", "at_s": 50.0,
                                                         "weights": {"stable": 50, "canary": 50}}])
    return record_of(sc, clients, {}, timeline)


def test_each_weight_period_is_judged_against_its_own_weights() -> None:
    v = judge(_two_periods({"stable": 0.5, "canary": 0.5}))
    assert v.status is Status.PASS, v.summary
    periods = v.figures["periods"]
    assert [p["expected"]["canary"] for p in periods] == [0.1, 0.5]
    assert v.figures["guarded_out"] > 0  # requests right at the change are not judged
    assert periods[0]["alpha"] == 1e-3 / 2  # Bonferroni over the two periods


def test_each_step_gets_a_line_with_its_split_and_each_sides_figures() -> None:
    v = judge(_two_periods({"stable": 0.5, "canary": 0.5}))
    steps = v.figures["steps"]
    assert len(steps) == 2
    assert steps[1].startswith("step 2 at t+50.0s: split ok (n=")
    assert "canary w50% served" in steps[1] and "stable w50% served" in steps[1]
    assert "step 1: " in v.summary and "step 2: " in v.summary
    sides = v.figures["step_sides"][1]
    assert sides["baseline"] == "stable"  # the side traffic moves from: the most weighted at the start
    assert "errors_vs_baseline_p" not in sides["sides"]["stable"]


def test_a_step_that_does_not_split_says_so_in_its_line() -> None:
    v = judge(_two_periods({"stable": 0.9, "canary": 0.1}))
    assert "split mismatch" in v.figures["steps"][1]


def test_a_gateway_that_ignores_a_weight_change_fails() -> None:
    v = judge(_two_periods({"stable": 0.9, "canary": 0.1}))
    assert v.status is Status.FAIL
    assert all(e["period_wall"][0] == T0_WALL + 50.0 for e in v.evidence)


def test_a_weight_change_the_gateway_could_not_apply_does_not_start_a_period() -> None:
    rec = _two_periods({"stable": 0.9, "canary": 0.1})
    rec.timeline[0].ok = False
    v = judge(rec)
    assert v.status is Status.PASS and len(v.figures["periods"]) == 1


# -- sticky sessions -------------------------------------------------------------------------------------------------


def _sessions(hop: bool, fallback: bool = False) -> RunRecord:
    rng = random.Random(11)
    clients = []
    for s in range(400):
        u = "canary" if rng.random() < 0.1 else "stable"
        for turn in range(1, 4):
            served, fb = u, False
            if s == 7 and turn == 3:
                served = ("stable" if u == "canary" else "canary") if hop or fallback else u
                fb = fallback
            clients.append(client_record(f"gd1-s{s}-t{turn}", s * 0.1 + turn * 0.01, session=f"gd1-s{s}",
                                         turn=turn, upstream=served, fallback=fb))
    return record_of(scenario_with(SPLIT, sticky="session"), clients, {})


def test_sticky_sessions_that_stay_put_pass() -> None:
    v = judge(_sessions(hop=False), min_detectable=0.05)
    assert v.status is Status.PASS, v.summary
    assert v.figures["sessions_hopping"] == 0


def test_a_sticky_session_that_hops_upstreams_fails_naming_the_session() -> None:
    v = judge(_sessions(hop=True))
    assert v.status is Status.FAIL
    assert [e["session"] for e in v.evidence if "session" in e] == ["gd1-s7"]
    assert "sticky" in v.summary


def test_a_fallback_reply_is_not_a_sticky_hop() -> None:
    assert judge(_sessions(hop=False, fallback=True)).figures["sessions_hopping"] == 0


# -- invariance ------------------------------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), shuffle_seed=st.integers(0, 10_000),
       canary=st.sampled_from([0.1, 0.2, 0.5]), n=st.integers(20, 800))
def test_shuffling_records_does_not_change_the_verdict(seed: int, shuffle_seed: int, canary: float, n: int) -> None:
    rec = split_record(SC, {"stable": 1 - canary, "canary": canary}, n, random.Random(seed))
    before = judge(rec)
    shuffle_record(rec, shuffle_seed)
    after = judge(rec)
    assert (after.status, after.sample_size, after.figures["p_value"]) == \
        (before.status, before.sample_size, before.figures["p_value"])
