"""One missing capability does not hide the rest of a drill (issue 13, item 6): rollback judges each fault window on
its own, a limitation can be confined to one window (`phases`, or `--limitation FEATURE=CHECK@PHASE`), and what a
hung probe from that window blocks later is put down to it, while every other window is still judged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gatedrill.harness.checks import Outcome, Status, Verdict, judge
from gatedrill.harness.intent import Limitation
from gatedrill.harness.record import JournalEntry, RunRecord
from gatedrill.harness.runner import RunOptions, run


@pytest.fixture(scope="module")
def no_timeout_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """failover-drill through a gateway with no per-attempt timeout (LiteLLM #38358): the hang phase holds its
    probe for the rest of the run."""
    out = tmp_path_factory.mktemp("no-timeout") / "run"
    run("failover-drill", RunOptions(scale=0.3, mutant="no_attempt_timeout", out=out))
    return out


def rollback_of(record: RunRecord, *limitations: Limitation) -> Verdict:
    record.meta.gateway.limitations = list(limitations)
    return next(v for v in judge(record) if v.check == "rollback")


HANG = Limitation(feature="attempt_timeout", reason="no per-attempt timeout", checks=["rollback"],
                  phases=["primary hangs"])


def test_without_a_declaration_the_hang_phase_fails_and_is_named(no_timeout_run: Path) -> None:
    v = rollback_of(RunRecord.load(no_timeout_run))
    assert v.status is Status.FAIL and not v.expected_failure
    assert "(primary hangs)" in v.summary


def test_confined_to_the_hang_phase_the_failure_is_expected_and_the_rest_passes(no_timeout_run: Path) -> None:
    v = rollback_of(RunRecord.load(no_timeout_run), HANG)
    assert v.status is Status.FAIL and v.expected_failure, v.summary
    assert v.label == "XFAIL" and v.outcome() is Outcome.XFAILED
    statuses = {w["note"]: w["status"] for w in v.figures["windows"]}
    assert statuses["primary hangs"] == "expected_failure"
    assert statuses["primary returns 500s"] == "pass"


def test_a_declaration_for_another_phase_does_not_excuse_the_hang(no_timeout_run: Path) -> None:
    wrong = HANG.model_copy(update={"phases": ["primary returns 500s"]})
    v = rollback_of(RunRecord.load(no_timeout_run), wrong)
    assert v.status is Status.FAIL and not v.expected_failure


def test_a_second_bug_in_another_phase_still_fails_with_the_hang_excused(no_timeout_run: Path) -> None:
    """Steady traffic to the primary all through the 500s phase (a breaker that never opened there) fails the gate
    even though the hang phase is declared."""
    record = RunRecord.load(no_timeout_run)
    first = next(e for e in record.timeline if e.note == "primary returns 500s")
    start = first.applied_wall
    assert start is not None
    template = record.journals["primary"][0]
    record.journals["primary"] += [
        template.model_copy(update={"correlation_id": f"steady-{i}", "arrival_wall": start + 0.05 * i,
                                    "status": 500, "outcome": "complete"})
        for i in range(1, int(3.5 / 0.05))]
    v = rollback_of(record, HANG)
    assert v.status is Status.FAIL and not v.expected_failure, v.summary
    assert "(primary returns 500s): steady traffic to primary never stopped" in v.summary
    assert isinstance(record.journals["primary"][-1], JournalEntry)


def test_limitation_text_parses_and_rejects_bad_forms() -> None:
    lim = Limitation.parse("attempt_timeout=rollback@primary hangs")
    assert (lim.feature, lim.checks, lim.phases) == ("attempt_timeout", ["rollback"], ["primary hangs"])
    assert Limitation.parse("sticky=canary_split,context_continuity").checks == ["canary_split", "context_continuity"]
    for bad in ("attempt_timeout", "=rollback", "x="):
        with pytest.raises(ValueError, match="FEATURE=CHECK"):
            Limitation.parse(bad)
    with pytest.raises(ValueError, match="rollback only"):
        Limitation.parse("x=accounting@primary hangs")


@pytest.mark.parametrize(("flag", "message"), [
    ("attempt_timeout=rollback@primary hang", "names phases no timeline action has as its note"),
    ("attempt_timeout", "expected FEATURE=CHECK"),
    ("attempt_timeout=nosuchcheck", "unknown checks"),
])
def test_a_bad_limitation_flag_is_one_line_and_runs_nothing(tmp_path: Path, flag: str, message: str) -> None:
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "gatedrill", "run", "failover-drill", "--scale", "0.1",
                           "--limitation", flag, "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()
