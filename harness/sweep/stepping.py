"""A stepped rate sweep: the same drill at rising constant rates, one run record per step, to find the knee.

Each step runs the scenario with Poisson arrivals at one rate for `warm_up_s + step_s` seconds, its fault timeline
removed (a sweep measures a healthy gateway). The first `warm_up_s` are the step's warm-up, sent and not judged, as
in GuideLLM's sweep: each step is a run of its own that starts its gateway afresh, and a fresh gateway's first
requests build its clients, connections and lazily imported code (a fresh LiteLLM's first second took 231 to 439 ms
more than the fake's own time). The rest is judged by `overhead` (against the same-run control arm) and the gateway
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
from pathlib import Path
from typing import Any

from gatedrill.fakes.errors import ConfigError

from ..checks import judge
from ..checks.sample_size import quantile_sample_size
from ..host import run_condition
from ..record import RunRecord
from ..runner import RunOptions, resolve_scenario, run
from ..saturation import gateway_saturation
from ..sweep_defaults import DEFAULT_RATES, DEFAULT_STEP_S, DEFAULT_WARM_UP_S
from .chart import sweep_page
from .result import Step, SweepResult


def _figure(v: Any, q: int) -> tuple[float | None, list[float] | None, str]:
    rel = v.figures.get(f"total_p{q}_vs_control_ms")
    fig = rel or v.figures.get(f"total_p{q}_ms")
    if not fig:
        return None, None, "no samples"
    return float(fig["estimate"]), [float(x) for x in fig["ci"]], "beyond control" if rel else "absolute"


def step_of(record: RunRecord, rate: float, budget_ms: float, warm_up_s: float = 0.0) -> Step:
    """One step's figures, from its run record; overhead leaves out requests sent in the first `warm_up_s`."""
    params = {"p99_budget_ms": budget_ms, "exclude_first_s": warm_up_s}
    overhead = next(v for v in judge(record, {"overhead": params}) if v.check == "overhead")
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


def sweep(ref: str, gateway: str, out: Path, rates: tuple[float, ...] = DEFAULT_RATES,
          step_s: float = DEFAULT_STEP_S,
          budget_ms: float | None = None, notice: Callable[[str], None] | None = None,
          warm_up_s: float = DEFAULT_WARM_UP_S) -> SweepResult:
    """Run the steps (lowest rate first), stop after the first saturated one, write sweep.json and sweep.html."""
    if not rates or any(r <= 0 for r in rates) or step_s <= 0:
        raise ConfigError("sweep needs positive --rates and --step-s")
    if warm_up_s < 0:
        raise ConfigError("sweep needs --warm-up-s of 0 or more")
    base = resolve_scenario(ref, RunOptions(gateway=gateway))
    budget = float(budget_ms or getattr(base.checks.get("overhead"), "p99_budget_ms", None) or 50.0)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty; choose an empty or new --out folder")
    result = SweepResult(base.name, base.gateway.kind, budget, warm_up_s)
    for rate in sorted(rates):
        data = base.model_dump(mode="json")
        data["duration_s"] = warm_up_s + step_s
        data["timeline"] = []
        data["load"]["arrivals"] = {"profile": "poisson", "rate": rate}
        data["load"]["mode"] = "open"
        scenario = type(base).model_validate(data)
        path = out / f"rate-{rate:g}"
        if notice is not None:
            notice(f"step {rate:g} req/s for {warm_up_s:g} s of warm-up and {step_s:g} s judged -> {path}")
        run(scenario, RunOptions(gateway="reference", out=path))  # the gateway is already in `base`
        result.steps.append(step_of(RunRecord.load(path), rate, budget, warm_up_s))
        if result.steps[-1].saturated:
            break
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.json").write_text(json.dumps(result.to_json(), indent=2) + "\n")
    (out / "sweep.html").write_text(sweep_page(result), encoding="utf-8")
    return result
