"""context_window on real runs: the correct gateway passes, truncation and wrong landings fail, no data is
Inconclusive."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from gatedrill.harness.checks import Status, judge
from gatedrill.harness.record import RunRecord
from gatedrill.harness.runner import RunOptions, run


def verdict(rec: RunRecord):  # type: ignore[no-untyped-def]
    return next(v for v in judge(rec) if v.check == "context_window")


@pytest.fixture(scope="module")
def correct(tmp_path_factory: pytest.TempPathFactory) -> RunRecord:
    out = run("context-window-fallback", RunOptions(scale=0.2, out=tmp_path_factory.mktemp("cw") / "run"))
    return RunRecord.load(out.path)


def test_correct_gateway_passes_with_over_window_prompts_judged(correct: RunRecord) -> None:
    v = verdict(correct)
    assert v.status is Status.PASS, (v.summary, v.figures)
    assert v.sample_size >= 5


def test_truncating_gateway_fails_with_digest_evidence(tmp_path: Path) -> None:
    out = run("context-window-fallback", RunOptions(scale=0.2, mutant="truncate_over_window", out=tmp_path / "r"))
    v = verdict(RunRecord.load(out.path))
    assert v.status is Status.FAIL and v.figures["truncated"] >= 1, v.summary
    ev = v.evidence[0]
    assert ev["sent_digest"] != ev["received_digest"] and ev["tokens_in_received"] < ev["need"]


def test_an_over_window_prompt_on_the_small_model_fails(correct: RunRecord) -> None:
    rec = copy.deepcopy(correct)
    served_large = next(e for e in rec.journals["large"] if e.status == 200
                        and e.correlation_id not in (None, "warm-up"))
    moved = served_large.model_copy(update={"model": "gpt-4o-mini"})
    rec.journals["small"].append(moved)
    v = verdict(rec)
    assert v.status is Status.FAIL and v.figures["reached_a_model_too_small"] >= 1, v.summary


def test_no_over_window_prompt_is_inconclusive(correct: RunRecord) -> None:
    rec = copy.deepcopy(correct)
    rec.clients = [c for c in rec.clients if not c.near_window and c.prompt_tokens + (c.max_tokens or 0) <= 4096]
    assert verdict(rec).status is Status.INCONCLUSIVE
