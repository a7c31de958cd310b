"""The done-when of the machine-condition rule, for real: with two CPU-bound processes pinned on both cores, the
correct reference gateway's canary-split drill never Fails a timing check; a timing check that is not a Pass says
the host (or the generator) was the bottleneck, and the run record holds the strained span."""

from __future__ import annotations

from pathlib import Path

from busy_cores import busy_cores

from gatedrill.harness.checks import TIMING_CHECKS, Status, judge
from gatedrill.harness.host import run_condition
from gatedrill.harness.record import RunRecord
from gatedrill.harness.runner import RunOptions, run

HOST_REASONS = ("the host was saturated", "the load generator was the bottleneck")


def test_busy_cores_never_fail_the_reference_gateways_timing_checks(tmp_path: Path) -> None:
    out = tmp_path / "busy"
    with busy_cores(60.0):  # bounded: far longer than the 9 s drill plus start-up, killed when it ends
        run("canary-split", RunOptions(out=out, scale=0.3))
    record = RunRecord.load(out)
    spans = run_condition(record)["spans"]
    assert any(s["kind"] == "host" for s in spans), "two busy loops on both cores went unnoticed"
    timing = [v for v in judge(record) if v.check in TIMING_CHECKS]
    assert timing
    for v in timing:
        assert v.status is not Status.FAIL, v.summary
        if v.status is Status.INCONCLUSIVE:
            assert v.summary.startswith(HOST_REASONS), v.summary
