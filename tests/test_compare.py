"""Release comparison: `gatedrill compare` flags a candidate that routes wrong (ignore_weights) or adds latency
(slow_path), passes two correct runs with different seeds, and judges error rates and rollback times."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from gatedrill.fakes.errors import ConfigError
from gatedrill.harness.compare import RunMetrics, compare, compare_runs, junit_xml, summary_lines
from gatedrill.harness.compare.metrics import CalmOverhead
from gatedrill.harness.runner import RunOptions, run

SCALE = 0.3


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("compare")
    out = {}
    for name, seed, mutant in (("base", 1, None), ("other_seed", 2, None), ("ignore_weights", 3, "ignore_weights"),
                               ("slow_path", 4, "slow_path")):
        out[name] = run("canary-split", RunOptions(out=root / name, scale=SCALE, seed=seed, mutant=mutant)).path
    return out


def test_two_correct_runs_with_different_seeds_do_not_regress(runs: dict[str, Path]) -> None:
    c = compare_runs(str(runs["base"]), str(runs["other_seed"]))
    assert not c.regressed, c.regressions
    assert {m.metric for m in c.metrics} >= {"overhead total", "error rate", "split share", "attempts per request"}


def test_a_candidate_that_ignores_weights_regresses_on_split_share_and_a_new_fail(runs: dict[str, Path]) -> None:
    c = compare_runs(str(runs["base"]), str(runs["ignore_weights"]))
    assert "split share" in c.regressions
    assert "canary_split (new FAIL)" in c.regressions
    assert not any(r.startswith("overhead") for r in c.regressions)


def test_a_candidate_that_adds_latency_regresses_on_overhead(runs: dict[str, Path]) -> None:
    c = compare_runs(str(runs["base"]), str(runs["slow_path"]))
    total = next(m for m in c.metrics if m.metric == "overhead total")
    assert total.regression
    assert 80 < total.figures["median_shift_ms"] < 130  # the mutant waits 100 ms
    assert total.figures["quantiles"]["p50"]["ci_ms"][0] > 80
    assert "split share" not in c.regressions


def gatedrill(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gatedrill", *args], capture_output=True, text=True, timeout=300)


def test_the_compare_command_exits_1_on_a_regression_and_writes_junit(runs: dict[str, Path], tmp_path: Path) -> None:
    bad = gatedrill("compare", str(runs["base"]), str(runs["slow_path"]), "--junit", str(tmp_path / "c.xml"),
                    "--html", str(tmp_path / "c.html"))
    assert bad.returncode == 1, bad.stderr
    assert "REGRESSION  overhead total" in bad.stdout and "result: REGRESSION" in bad.stdout
    suite = ET.parse(tmp_path / "c.xml").getroot().find("testsuite")
    assert suite is not None and int(suite.get("failures") or 0) >= 1
    assert "Release comparison: REGRESSION" in (tmp_path / "c.html").read_text()
    good = gatedrill("compare", str(runs["base"]), str(runs["other_seed"]))
    assert good.returncode == 0 and "result: no regression" in good.stdout


def test_run_with_a_baseline_compares_right_after_the_run(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "candidate"
    r = gatedrill("run", "canary-split", "--scale", str(SCALE), "--seed", "5", "--mutant", "ignore_weights",
                  "--out", str(out), "--baseline", str(runs["base"]))
    assert r.returncode == 1
    assert "REGRESSION  split share" in r.stdout
    assert (out / "compare.html").exists() and (out / "compare.xml").exists()


def metrics(**kw: object) -> RunMetrics:
    base = {"path": "x", "drill": "d", "gateway": "reference", "seed": 1, "overhead": {"total": [], "ttft": []},
            "control_median": {"total": None, "ttft": None}, "requests": 1000, "errors": 0,
            "served": {"a": 1000}, "attempts": [1] * 1000}
    return RunMetrics(**(base | kw))  # type: ignore[arg-type]


def test_a_rise_in_errors_is_a_regression_by_fishers_test_and_noise_is_not() -> None:
    assert "error rate" in compare(metrics(errors=2), metrics(errors=30)).regressions
    assert "error rate" not in compare(metrics(errors=2), metrics(errors=4)).regressions


def test_slower_detection_or_never_detecting_is_a_regression() -> None:
    base = metrics(rollback={"detection_s": 1.0, "recovery_s": 2.0})
    assert compare(base, metrics(rollback={"detection_s": 1.4, "recovery_s": 2.5})).regressions == []
    assert compare(base, metrics(rollback={"detection_s": 4.0, "recovery_s": 2.0})).regressions == ["detection time"]
    assert "detection time" in compare(base, metrics(rollback={"detection_s": None, "recovery_s": 2.0})).regressions


def test_runs_of_different_drills_are_refused() -> None:
    with pytest.raises(ConfigError, match="compare runs of one drill"):
        compare(metrics(), metrics(drill="other"))


def _overheads(n: int, seed: int, shift: float = 0.0, burst: int = 0) -> list[float]:
    import random

    rng = random.Random(seed)
    return [rng.gauss(2.0, 0.4) + shift + (60.0 if i < burst else 0.0) for i in range(n)]


def test_a_tail_a_busy_machine_made_is_inconclusive_and_a_slower_gateway_still_regresses() -> None:
    """The CI failure this guards: a burst of host load in one run put ~10% of its requests 60 ms late; the p90/p99
    comparison called it a regression. With the burst inside a strained span, the second look on the requests
    outside it finds nothing, so the metric is Inconclusive; a gateway slower everywhere still regresses."""
    base = metrics(overhead={"total": _overheads(400, 1), "ttft": []})
    burst = {"total": _overheads(400, 2, burst=40), "ttft": []}
    reason = "the host was saturated from 12 s to 15 s: load 5.1 on 2 cores (other processes used 1.8 cores)"
    calm = CalmOverhead(reason, {"total": _overheads(360, 2), "ttft": []}, {"total": None, "ttft": None})

    unexplained = compare(base, metrics(overhead=burst))
    assert "overhead total" in unexplained.regressions  # nothing strained: the tail is the gateway's

    busy = compare(base, metrics(overhead=burst, calm=calm))
    assert busy.regressions == [] and busy.inconclusive == ["overhead total"]
    (total,) = [m for m in busy.metrics if m.metric == "overhead total"]
    assert total.summary.startswith("candidate: " + reason) and "p99" in total.summary
    assert "INCONCLUSIVE" in summary_lines(busy)[1]
    assert summary_lines(busy)[-1] == "result: no regression (inconclusive: overhead total)"
    assert '<testcase classname="gatedrill.compare.d" name="overhead total"><skipped' in junit_xml(busy)

    slow = {"total": _overheads(400, 3, shift=100.0, burst=40), "ttft": []}
    slow_calm = CalmOverhead(reason, {"total": _overheads(360, 3, shift=100.0), "ttft": []},
                             {"total": None, "ttft": None})
    regressed = compare(base, metrics(overhead=slow, calm=slow_calm))
    assert regressed.regressions == ["overhead total"] and regressed.inconclusive == []
    assert "regresses even on the requests outside the strained spans" in regressed.metrics[0].summary
