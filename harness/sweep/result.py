"""A sweep's result: one `Step` per offered rate, the knee and the saturation rate, as lines, JSON and a chart."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Step:
    rate: float
    path: str
    achieved_rate: float
    saturated: bool
    p50_ms: float | None  # overhead, gateway arm minus control arm when the run had one
    p99_ms: float | None
    p99_ci_ms: list[float] | None
    against: str
    within_budget: bool
    note: str = ""


@dataclass
class SweepResult:
    drill: str
    gateway: str
    budget_ms: float
    warm_up_s: float = 0.0  # the start of each step, sent and not judged
    steps: list[Step] = field(default_factory=list)

    @property
    def knee(self) -> Step | None:
        """The highest rate within budget whose gateway kept up, below the first saturated step."""
        best = None
        for s in self.steps:
            if s.saturated:
                break
            if s.within_budget:
                best = s
        return best

    @property
    def saturated_at(self) -> Step | None:
        return next((s for s in self.steps if s.saturated), None)

    def lines(self) -> list[str]:
        warm = f"; each step's first {self.warm_up_s:g} s not judged" if self.warm_up_s else ""
        out = [f"sweep {self.drill} on {self.gateway} (overhead p99 budget {self.budget_ms:g} ms{warm}):",
               f"  {'offered':>8} {'achieved':>9} {'p50 ms':>8} {'p99 ms':>8}  verdict"]
        for s in self.steps:
            what = "saturated" if s.saturated else ("within budget" if s.within_budget else "over budget")
            p50 = "-" if s.p50_ms is None else f"{s.p50_ms:.1f}"
            p99 = "-" if s.p99_ms is None else f"{s.p99_ms:.1f}"
            out.append(f"  {s.rate:>8g} {s.achieved_rate:>9.1f} {p50:>8} {p99:>8}  {what}{s.note}")
        knee, sat = self.knee, self.saturated_at
        if knee is None:
            out.append("knee: none (even the lowest rate was over budget or saturated)")
        else:
            out.append(f"knee: {knee.rate:g} req/s; overhead below it p50 {knee.p50_ms or 0:.1f} ms, p99 "
                       f"{knee.p99_ms or 0:.1f} ms ({knee.against})")
        if sat is not None:
            out.append(f"the {self.gateway} gateway saturated at about {sat.achieved_rate:.0f} req/s (offered "
                       f"{sat.rate:g}); overhead above that rate is queueing")
        return out

    def to_json(self) -> dict[str, Any]:
        knee, sat = self.knee, self.saturated_at
        return {"drill": self.drill, "gateway": self.gateway, "budget_ms": self.budget_ms, "warm_up_s": self.warm_up_s,
                "steps": [asdict(s) for s in self.steps], "knee_rate": None if knee is None else knee.rate,
                "saturation_rate": None if sat is None else sat.achieved_rate}
