"""A stepped rate sweep: the same drill at rising constant rates, one run record per step, to find the knee.

Each step runs the scenario with Poisson arrivals at one rate for `step_s` seconds, its fault timeline removed (a
sweep measures a healthy gateway), judged by `overhead` (against the same-run control arm) and the gateway
saturation rule (`harness.saturation`). The **knee** is the highest rate whose overhead p99 is within the budget and
whose gateway kept up (no queue growth); overhead reported below the knee is the gateway's own, above it is the
queue the load built. A step is within budget when its p99 estimate is; its CI is reported beside it, and a step
with fewer samples than bound p99 (368) says its p99 is a rough estimate (longer `step_s` makes it firmer).
Steps stop after the first saturated one (bounded: at most `len(rates)` runs). This is
GuideLLM's sweep (rate against latency, one benchmark per rate) applied to a gateway with its upstreams faked.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gatedrill.fakes.errors import ConfigError

from ..checks import judge
from ..checks.sample_size import quantile_sample_size
from ..host import run_condition
from ..record import RunRecord
from ..runner import RunOptions, resolve_scenario, run
from ..saturation import gateway_saturation

DEFAULT_RATES = (5.0, 10.0, 20.0, 30.0, 40.0, 60.0, 80.0)


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
        out = [f"sweep {self.drill} on {self.gateway} (overhead p99 budget {self.budget_ms:g} ms):",
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
        return {"drill": self.drill, "gateway": self.gateway, "budget_ms": self.budget_ms,
                "steps": [asdict(s) for s in self.steps], "knee_rate": None if knee is None else knee.rate,
                "saturation_rate": None if sat is None else sat.achieved_rate}


def _figure(v: Any, q: int) -> tuple[float | None, list[float] | None, str]:
    rel = v.figures.get(f"total_p{q}_vs_control_ms")
    fig = rel or v.figures.get(f"total_p{q}_ms")
    if not fig:
        return None, None, "no samples"
    return float(fig["estimate"]), [float(x) for x in fig["ci"]], "beyond control" if rel else "absolute"


def step_of(record: RunRecord, rate: float, budget_ms: float) -> Step:
    """One step's figures, from its run record."""
    overhead = next(v for v in judge(record, {"overhead": {"p99_budget_ms": budget_ms}}) if v.check == "overhead")
    p50, _, _ = _figure(overhead, 50)
    p99, ci, against = _figure(overhead, 99)
    sat = gateway_saturation(record)
    within = p99 is not None and p99 <= budget_ms
    n = int(overhead.figures.get("n_total") or 0)
    notes = [f"p99 from {n} samples: a rough estimate"] if n < quantile_sample_size(99, 0.95) else []
    strained = sum(s["end_s"] - s["start_s"] for s in run_condition(record)["spans"])
    if strained:
        notes.append(f"host or generator strained for {strained:g} of {record.scenario.duration_s:g} s")
    return Step(rate, str(record.path), 0.0 if sat is None else sat.achieved_rate,
                bool(sat and sat.saturated), p50, p99, ci, against, within,
                f" ({'; '.join(notes)})" if notes else "")


def sweep(ref: str, gateway: str, out: Path, rates: tuple[float, ...] = DEFAULT_RATES, step_s: float = 10.0,
          budget_ms: float | None = None, notice: Callable[[str], None] | None = None) -> SweepResult:
    """Run the steps (lowest rate first), stop after the first saturated one, write sweep.json and sweep.html."""
    if not rates or any(r <= 0 for r in rates) or step_s <= 0:
        raise ConfigError("sweep needs positive --rates and --step-s")
    base = resolve_scenario(ref, RunOptions(gateway=gateway))
    params = base.checks.get("overhead") or {}
    budget = float(budget_ms or params.get("p99_budget_ms") or 50.0)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty; choose an empty or new --out folder")
    result = SweepResult(base.name, base.gateway.kind, budget)
    for rate in sorted(rates):
        data = base.model_dump(mode="json")
        data["duration_s"] = step_s
        data["timeline"] = []
        data["load"]["arrivals"] = {"profile": "poisson", "rate": rate}
        data["load"]["mode"] = "open"
        scenario = type(base).model_validate(data)
        path = out / f"rate-{rate:g}"
        if notice is not None:
            notice(f"step {rate:g} req/s for {step_s:g} s -> {path}")
        run(scenario, RunOptions(gateway="reference", out=path))  # the gateway is already in `base`
        result.steps.append(step_of(RunRecord.load(path), rate, budget))
        if result.steps[-1].saturated:
            break
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.json").write_text(json.dumps(result.to_json(), indent=2) + "\n")
    from .chart import sweep_page

    (out / "sweep.html").write_text(sweep_page(result), encoding="utf-8")
    return result
