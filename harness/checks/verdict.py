"""A check's judgement: Pass, Fail or Inconclusive (not enough data), with the figures and the evidence."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


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

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = self.status.value
        return d


def inconclusive(check: str, why: str, sample_size: int = 0, **figures: Any) -> Verdict:
    return Verdict(check, Status.INCONCLUSIVE, why, figures=figures, sample_size=sample_size)
