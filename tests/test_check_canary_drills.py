"""canary_split, accounting and overhead on real `canary-split` runs (fakes + reference gateway + load, ~4.5 s each):
the correct gateway passes, `ignore_weights` fails canary_split only, `duplicate_requests` fails accounting only.

At scale 0.15 a run has ~185 requests, too few to detect the default 5% deviation (~660 needed: Inconclusive), so
canary_split is judged here for a 15% deviation; overhead's canary comparison needs at least 10 canary requests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gatedrill.harness.checks import Status, Verdict, judge
from gatedrill.harness.record import RunRecord
from gatedrill.harness.runner import RunOptions, run

SCALE = 0.15
SMALL_RUN: dict[str, dict[str, Any]] = {"canary_split": {"min_detectable": 0.15}, "overhead": {"min_samples": 10}}


def verdicts(tmp_path: Path, mutant: str | None) -> dict[str, Verdict]:
    out = tmp_path / (mutant or "correct")
    run("canary-split", RunOptions(scale=SCALE, out=out, mutant=mutant))
    return {v.check: v for v in judge(RunRecord.load(out), SMALL_RUN)}


@pytest.fixture(scope="module")
def tmp_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("canary-drills")


def test_the_correct_gateway_passes_split_and_accounting_within_overhead_budget(tmp_module: Path) -> None:
    v = verdicts(tmp_module, None)
    assert v["canary_split"].status is Status.PASS, v["canary_split"].summary
    assert v["accounting"].status is Status.PASS, v["accounting"].summary
    assert v["accounting"].figures["attempts_per_request"] == 1.0
    ov = v["overhead"]
    # the drill's p99 budget (50 ms) from ~185 samples: the CI may straddle it, but must not be wholly above it
    assert ov.status is not Status.FAIL, ov.summary
    assert 0 < ov.figures["total_p50_ms"]["estimate"] < 10
    assert ov.figures["comparison"]["canaries"]["canary"]["result"] != "fail"


def test_ignore_weights_fails_canary_split_and_nothing_else(tmp_module: Path) -> None:
    v = verdicts(tmp_module, "ignore_weights")
    assert v["canary_split"].status is Status.FAIL
    assert v["canary_split"].figures["shares"]["canary"]["observed"] > 0.3
    assert v["accounting"].status is Status.PASS, v["accounting"].summary
    assert v["overhead"].status is not Status.FAIL, v["overhead"].summary


def test_duplicate_requests_fails_accounting_and_nothing_else(tmp_module: Path) -> None:
    v = verdicts(tmp_module, "duplicate_requests")
    acc = v["accounting"]
    assert acc.status is Status.FAIL
    assert acc.figures["duplicate"] == acc.sample_size  # every request was sent twice
    assert acc.evidence[0]["kind"] == "duplicate" and acc.evidence[0]["extra_attempts"] == 1
    assert v["canary_split"].status is Status.PASS, v["canary_split"].summary
    assert v["overhead"].status is not Status.FAIL, v["overhead"].summary
