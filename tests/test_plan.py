"""Sizing a run before it starts: `gatedrill plan` states what each statistical check needs, what the run will
produce and the smallest conclusive scale; `gatedrill run` warns before the load; and the prediction holds on a
real run."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from gatedrill.harness.checks import Status, judge
from gatedrill.harness.plan import plan, shortfalls
from gatedrill.harness.record import RunRecord
from gatedrill.harness.runner import RunOptions, run
from gatedrill.harness.scenario import load_scenario
from gatedrill.scenarios import builtin_names, resolve


def scenario(name: str):  # type: ignore[no-untyped-def]
    return load_scenario(resolve(name))


@pytest.mark.parametrize("name", builtin_names())
def test_every_built_in_drill_is_conclusive_at_its_default_scale(name: str) -> None:
    needs = plan(scenario(name))
    assert all(n.conclusive is not False for n in needs), shortfalls(needs)


def test_canary_split_at_a_quick_scale_is_short_and_names_the_smallest_conclusive_scale() -> None:
    needs = {n.what: n for n in plan(scenario("canary-split"), 0.3)}
    split = needs["requests in weight period (10/90)"]
    assert (split.needed, round(split.produced or 0)) == (664, 360)
    assert split.conclusive is False and split.smallest_scale == 0.6
    p99 = needs["total overhead samples for the p99 budget"]
    assert p99.needed == 368 and p99.conclusive is False
    assert any("canary_split will be Inconclusive" in line for line in shortfalls(list(needs.values())))


def test_a_looser_test_needs_fewer_requests() -> None:
    strict = plan(scenario("canary-split"))[0]
    loose = plan(scenario("canary-split"), overrides={"canary_split": {"min_detectable": 0.1}})[0]
    assert loose.needed < strict.needed / 3
    assert loose.smallest_scale is not None and strict.smallest_scale is not None
    assert loose.smallest_scale < strict.smallest_scale


def test_the_rollback_need_counts_requests_inside_the_fault_window() -> None:
    need = plan(scenario("canary-rollback"))[0]
    assert need.check == "rollback" and need.needed == 20
    assert need.produced == pytest.approx(30 * 15)  # 30/s from 15 s to 30 s


def test_the_breaker_rules_need_traffic_enough_for_a_silence_to_mean_the_breaker() -> None:
    """8 attempts to the canary per probe gap (0.9 x its 3 s cooldown) before its fault at 15 s: 45 of the 90 that
    its 20% of 30/s brings. --scale shrinks the gap and the time before the fault alike, so the need stays 45 while
    the attempts shrink: at 0.3 the rules go unjudged, and the run says so rather than failing."""
    full = plan(scenario("canary-rollback"))[1]
    assert (full.needed, full.produced, full.conclusive) == (45, pytest.approx(0.2 * 30 * 15), True)
    quick = plan(scenario("canary-rollback"), 0.3)[1]
    assert quick.conclusive is False and quick.fallback and quick.smallest_scale == 0.7
    (line,) = shortfalls([quick])
    assert line.startswith("rollback will be judged without its breaker's re-admission and early-opening rules")
    cooled = scenario("canary-rollback")
    cooled.gateway.routing.cooldown.enabled = False
    assert len(plan(cooled)) == 1  # no declared breaker: nothing to size


def test_the_breaker_prediction_holds_on_a_real_run() -> None:
    """The plan's "unjudged at 0.3" is the check's own decision on the run (readmission_judged), not a guess."""
    from report_records import rollback_run

    record = RunRecord.load(rollback_run())
    assert plan(scenario("canary-rollback"), 0.3)[1].conclusive is False
    (verdict,) = [v for v in judge(record) if v.check == "rollback"]
    assert verdict.status is Status.PASS and verdict.figures["readmission_judged"] is False


def test_the_plan_predicts_a_real_run(tmp_path: Path) -> None:
    out = tmp_path / "split"
    run("canary-split", RunOptions(out=out, scale=0.2))
    record = RunRecord.load(out)
    split = plan(scenario("canary-split"), 0.2)[0]
    n = len(record.clients)
    assert abs(n - (split.produced or 0)) < 4 * math.sqrt(split.produced or 1)  # Poisson arrivals
    v = next(v for v in judge(record) if v.check == "canary_split")
    assert v.status is Status.INCONCLUSIVE and v.figures["required_n"] == split.needed


def gatedrill(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gatedrill", *args], capture_output=True, text=True, timeout=120)


def test_the_plan_command_exits_1_when_a_check_would_be_short_and_0_when_not() -> None:
    short = gatedrill("plan", "canary-split", "--scale", "0.3")
    assert short.returncode == 1
    assert "canary_split" in short.stdout and "664" in short.stdout and "<- SHORT" in short.stdout
    ok = gatedrill("plan", "canary-split")
    assert ok.returncode == 0 and "every sized check can be conclusive" in ok.stdout
    bad = gatedrill("plan", "canary-split", "--scale", "-1")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_run_warns_before_the_load_starts(tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "meta.json").write_text("{}")  # an existing run record: the run stops before starting anything
    r = gatedrill("run", "canary-split", "--scale", "0.3", "--out", str(taken))
    assert r.returncode == 2
    assert "warning: canary_split will be Inconclusive" in r.stderr
    assert r.stderr.index("warning:") < r.stderr.index("already holds a run record")
