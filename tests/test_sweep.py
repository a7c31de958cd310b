"""gatedrill sweep: stepped rates, one run record per step, the knee, the saturation rate, the chart."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from serial_gateway import serial_gateway

from gatedrill.harness.sweep import sweep


def test_a_sweep_of_the_reference_gateway_finds_a_knee_and_draws_it(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    r = subprocess.run([sys.executable, "-m", "gatedrill", "sweep", "canary-split", "--rates", "10,30",
                        "--step-s", "5", "--budget-ms", "200", "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    data = json.loads((out / "sweep.json").read_text())
    assert [s["rate"] for s in data["steps"]] == [10, 30] and data["warm_up_s"] == 3
    assert json.loads((out / "rate-10" / "scenario.json").read_text())["duration_s"] == 8  # warm-up + judged
    assert all((out / f"rate-{rate}" / "meta.json").exists() for rate in (10, 30))
    assert data["knee_rate"] == 30 and data["saturation_rate"] is None  # 200 ms is far above a correct gateway
    assert "knee: 30 req/s" in r.stdout
    page = (out / "sweep.html").read_text()
    assert 'id="sweep-rate"' in page and 'id="sweep-overhead"' in page and "knee 30 req/s" in page
    assert "first 3 s were its warm-up" in page


def test_a_sweep_stops_after_the_gateway_saturates_and_names_the_rate(tmp_path: Path) -> None:
    with serial_gateway(service_s=0.05) as url:  # at most 20 req/s
        result = sweep("canary-split", f"url:{url}", tmp_path / "sweep", rates=(5.0, 40.0, 80.0), step_s=5.0)
    assert [s.rate for s in result.steps] == [5.0, 40.0]  # 80 never ran
    sat = result.saturated_at
    assert sat is not None and sat.rate == 40.0 and 14 <= sat.achieved_rate <= 22
    assert any(line.startswith("the url gateway saturated at about") for line in result.lines())


def test_a_steps_warm_up_is_sent_and_not_judged() -> None:
    """A freshly started gateway's first second is slow (clients, connections, lazy imports): counted, it puts a
    step over budget that is well within it once warm; the step's warm-up leaves it out."""
    import random
    from dataclasses import replace

    from gatedrill.harness.checks.synthetic import T0_WALL, scenario_with, split_record
    from gatedrill.harness.sweep import step_of

    record = split_record(scenario_with({"stable": 90, "canary": 10}, duration_s=13.0), {"stable": 0.9, "canary": 0.1},
                          300, random.Random(1), rate=25.0, overhead_ms=4.0, overhead_jitter_ms=4.0)
    cold = 0.3
    record.clients = [replace(c, end_s=c.end_s + cold, end_mono=c.end_mono + cold)
                      if c.sent_s - T0_WALL < 1.0 else c for c in record.clients]
    counted, warmed = step_of(record, 25.0, 50.0), step_of(record, 25.0, 50.0, warm_up_s=2.0)
    assert counted.p99_ms is not None and counted.p99_ms > 250 and not counted.within_budget
    assert warmed.p99_ms is not None and warmed.p99_ms < 10 and warmed.within_budget
