"""The migration drills pass on the correct reference gateway (real fakes, gateway and load on 127.0.0.1), judged at
a short scale: progressive-migration's steps each judged for a 20% deviation (its default 10% needs the full 60 s),
blue-green as shipped (its gaps do not shrink with the scale). The report shows each step."""

from __future__ import annotations

from pathlib import Path

from gatedrill.harness.checks import Status, judge
from gatedrill.harness.record import RunRecord
from gatedrill.harness.report.judged import JudgedRun
from gatedrill.harness.report.terminal import verdict_lines
from gatedrill.harness.runner import RunOptions, run

SCALE = 0.5


def test_progressive_migration_passes_step_by_step(tmp_path: Path) -> None:
    out = tmp_path / "migration"
    run("progressive-migration", RunOptions(scale=SCALE, out=out))
    record = RunRecord.load(out)
    verdicts = {v.check: v for v in judge(record, {"canary_split": {"min_detectable": 0.2}})}
    assert all(v.status is Status.PASS for v in verdicts.values()), {k: v.summary for k, v in verdicts.items()}
    split = verdicts["canary_split"]
    assert [round(p["expected"]["new"], 2) for p in split.figures["periods"]] == [0.01, 0.05, 0.25, 0.5]
    steps = split.figures["steps"]
    assert len(steps) == 5 and steps[4].startswith("step 5") and "not judged" in steps[4]
    assert all(" ok " in s for s in steps[:4]), steps
    sides = split.figures["step_sides"][3]["sides"]  # 50/50: both sides compared with the old one
    assert sides["new"]["served"] > 50 and "overhead_vs_baseline" in sides["new"]
    rollback = verdicts["rollback"]
    assert rollback.figures["detection_s"] <= 2.0 and rollback.figures["client_errors"] == 0
    assert rollback.figures["configured_share"] == 1.0  # the share at the last step, not the first
    lines = verdict_lines(JudgedRun(record, list(verdicts.values())))
    assert sum(1 for line in lines if line.strip().startswith("step ")) == 5


def test_blue_green_passes_with_streams_and_sessions_across_each_flip(tmp_path: Path) -> None:
    out = tmp_path / "blue-green"
    run("blue-green", RunOptions(scale=SCALE, out=out))
    verdicts = {v.check: v for v in judge(RunRecord.load(out))}
    assert all(v.status is Status.PASS for v in verdicts.values()), {k: v.summary for k, v in verdicts.items()}
    f = verdicts["cutover"].figures
    assert len(f["flips"]) == 2 and f["gap_errors"] == 0
    assert f["streams_in_flight"] >= 3 and f["streams_corrupted"] == 0
    assert f["sessions_across"] >= 3 and f["sessions_broken"] == 0
