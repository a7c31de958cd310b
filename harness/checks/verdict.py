"""A check's judgement: Pass, Fail or Inconclusive (not enough data), with the figures and the evidence; and the one
rule that turns a verdict into an outcome (`Verdict.outcome`), which the gate, every report and pytest use."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

# Evidence lists stay readable: a check keeps at most this many items (plus a note of how many it left out).
MAX_EVIDENCE = 20


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


class Outcome(StrEnum):
    """What a verdict means for the gate. Only FAILED fails it; the others only change how a report shows it."""

    PASSED = "passed"
    FAILED = "failed"  # a critical Fail, or a critical Inconclusive the gate does not allow
    XFAILED = "xfailed"  # a Fail a gateway limitation predicted, or any non-pass of a non-critical check
    SKIPPED = "skipped"  # a critical Inconclusive the gate allows (--allow-inconclusive)


LABELS = {Status.PASS: "PASS", Status.FAIL: "FAIL", Status.INCONCLUSIVE: "INCONCLUSIVE"}


@dataclass
class Verdict:
    """What a check concluded. `figures` are the statistic(s) and key numbers; `thresholds` what they were
    judged against; `evidence` names the requests, sessions and time spans that show a failure."""

    check: str
    status: Status
    summary: str
    figures: dict[str, Any] = field(default_factory=dict)
    thresholds: dict[str, Any] = field(default_factory=dict)
    sample_size: int = 0
    evidence: list[dict[str, Any]] = field(default_factory=list)
    critical: bool = True
    # set when the gateway cannot express an intent this check judges (a gateway limitation): a Fail is then an
    # expected failure (XFAIL, does not fail the gate), a Pass is shown as "passed although not expressible"
    expected_failure: str | None = None

    @property
    def passed(self) -> bool:
        return self.status is Status.PASS

    @property
    def xfail(self) -> bool:
        """A Fail the gateway's limitations predicted: shown with its reason, not counted against the gate."""
        return self.status is Status.FAIL and self.expected_failure is not None

    def outcome(self, allow_inconclusive: bool = False) -> Outcome:
        """The gate rule, the only one: a critical Fail fails (unless a gateway limitation predicted it), and so
        does a critical Inconclusive unless `allow_inconclusive`; a non-critical check never fails the gate."""
        if self.status is Status.PASS:
            return Outcome.PASSED
        if self.xfail or not self.critical:
            return Outcome.XFAILED
        if self.status is Status.INCONCLUSIVE and allow_inconclusive:
            return Outcome.SKIPPED
        return Outcome.FAILED

    def reason(self, allow_inconclusive: bool = False) -> str:
        """Why the outcome is what it is, one line (the summary for a Pass or a Fail)."""
        outcome = self.outcome(allow_inconclusive)
        if outcome is Outcome.XFAILED and self.xfail:
            return f"expected failure (gateway limitation: {self.expected_failure}): {self.summary}"
        if outcome is Outcome.XFAILED:
            return f"{self.status.value} (not critical): {self.summary}"
        if outcome is Outcome.SKIPPED:
            return f"inconclusive: {self.summary}"
        return self.summary

    @property
    def label(self) -> str:
        """PASS, FAIL, INCONCLUSIVE; XFAIL for a Fail a gateway limitation predicted, PASS* for a Pass despite one."""
        if self.expected_failure and self.status is not Status.INCONCLUSIVE:
            return "XFAIL" if self.status is Status.FAIL else "PASS*"
        return LABELS[self.status]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = self.status.value
        return d


def gate(verdicts: list[Verdict], allow_inconclusive: bool = False) -> bool:
    """Does the run pass the gate? Yes when no verdict's outcome is FAILED."""
    return all(v.outcome(allow_inconclusive) is not Outcome.FAILED for v in verdicts)


def inconclusive(check: str, why: str, sample_size: int = 0, **figures: Any) -> Verdict:
    return Verdict(check, Status.INCONCLUSIVE, why, figures=figures, sample_size=sample_size)


def capped(items: list[dict[str, Any]], cap: int = MAX_EVIDENCE) -> list[dict[str, Any]]:
    """The first `cap` evidence items, plus `{"more": N}` when N were left out."""
    if len(items) <= cap:
        return items
    return [*items[:cap], {"more": len(items) - cap}]
