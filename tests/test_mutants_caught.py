"""Mutants prove the checks: each deliberately broken reference gateway fails exactly the checks that should
catch it on its drill, and no unrelated check fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatedrill.harness.checks import Status, judge
from gatedrill.harness.intent import MUTANTS
from gatedrill.harness.record import RunRecord
from gatedrill.harness.runner import RunOptions, run

# mutant -> (drill, scale, checks that must fail, parameter overrides for the short run)
TABLE: dict[str, tuple[str, float, set[str], dict[str, dict[str, object]]]] = {
    "ignore_weights": ("canary-split", 0.2, {"canary_split"}, {}),
    "never_cooldown": ("canary-rollback", 0.2, {"rollback"}, {}),
    "drop_history_on_switch": ("context-continuity", 0.15, {"context_continuity"}, {}),
    "truncate_over_window": ("context-window-fallback", 0.2, {"context_window"}, {}),
    "lose_stream_tail": ("streaming-integrity", 0.2, {"streaming_integrity"}, {}),
    "retry_storm": ("rate-limit-storm", 0.3, {"retry_amplification"}, {}),
    "duplicate_requests": ("canary-split", 0.2, {"accounting"}, {}),
    "rate_limit_to_500": ("rate-limit-storm", 0.3, {"error_mapping"}, {}),
    "slow_path": ("canary-split", 0.2, {"overhead"}, {}),
}


def test_every_mutant_is_in_the_table() -> None:
    assert set(TABLE) == set(MUTANTS)


@pytest.mark.parametrize("mutant", sorted(TABLE))
def test_mutant_fails_exactly_its_checks(tmp_path: Path, mutant: str) -> None:
    drill, scale, expected, overrides = TABLE[mutant]
    out = run(drill, RunOptions(scale=scale, mutant=mutant, out=tmp_path / "run"))
    verdicts = judge(RunRecord.load(out.path), overrides)  # type: ignore[arg-type]
    failed = {v.check for v in verdicts if v.status is Status.FAIL}
    summaries = {v.check: (v.status.value, v.summary) for v in verdicts}
    assert expected <= failed, summaries
    assert failed <= expected, f"unrelated checks failed: {failed - expected}: {summaries}"
