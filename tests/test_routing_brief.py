"""`gatedrill scenarios routing` says, before any run, what a hand-configured gateway must be set up with; a
scenario can declare what its gateway cannot do, and a url gateway keeps its own cooldown under --scale."""

from __future__ import annotations

import random
from pathlib import Path

import yaml
from click.testing import CliRunner

from gatedrill.cli import main
from gatedrill.harness.checks import Status, judge
from gatedrill.harness.checks.synthetic import scenario_with, split_record
from gatedrill.harness.gateways import limitations
from gatedrill.harness.scaffold import SCENARIO_PATH
from gatedrill.harness.scenario import Scenario, load_scenario


def _scaffold(tmp_path: Path) -> Path:
    assert CliRunner().invoke(main, ["init", str(tmp_path)]).exit_code == 0
    return tmp_path / SCENARIO_PATH


def test_routing_names_urls_models_windows_and_marks_defaults(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["scenarios", "routing", str(_scaffold(tmp_path))])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    stable = "  stable: openai at http://127.0.0.1:18081/v1, model 'gpt-4o-mini' (window 128000 tokens), weight 90%"
    assert stable in lines, lines
    assert any(line.startswith("  cooldown: failures 3 (default)") for line in lines), lines
    assert "  per-attempt timeout: 30 s (default)" in lines


def test_routing_flags_floating_ports_and_what_scale_changes() -> None:
    res = CliRunner().invoke(main, ["scenarios", "routing", "canary-rollback", "--scale", "0.3"])
    assert res.exit_code == 0, res.output
    assert "a free port each run (pin `port:`" in res.output
    assert "--scale 0.3 makes the cooldown window 1.5 s and the cooldown 0.9 s" in res.output


def test_a_url_gateway_keeps_its_cooldown_under_scale(tmp_path: Path) -> None:
    sc = load_scenario(_scaffold(tmp_path))
    as_url = Scenario.model_validate({**sc.model_dump(mode="json"),
                                      "gateway": {**sc.gateway.model_dump(mode="json"), "kind": "url",
                                                  "url": "http://127.0.0.1:4000"}})
    assert as_url.scaled(0.3).gateway.routing.cooldown == as_url.gateway.routing.cooldown
    assert sc.scaled(0.3).gateway.routing.cooldown.cooldown_s == sc.gateway.routing.cooldown.cooldown_s * 0.3


def test_a_declared_limitation_turns_its_checks_failure_into_an_expected_one(tmp_path: Path) -> None:
    path = _scaffold(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["gateway"]["limitations"] = [{"feature": "weights", "reason": "this gateway splits evenly",
                                       "checks": ["canary_split"]}]
    path.write_text(yaml.safe_dump(data))
    sc = load_scenario(path)
    assert [lim.feature for lim in limitations(sc)][-1] == "weights"
    record = split_record(scenario_with({"stable": 90, "canary": 10}, checks={"canary_split": {}}),
                          {"stable": 0.5, "canary": 0.5}, 800, random.Random(7))
    record.meta.gateway.limitations = limitations(sc)
    split = next(v for v in judge(record) if v.check == "canary_split")
    assert split.status is Status.FAIL and split.xfail
    data["gateway"]["limitations"][0]["checks"] = ["canary_splt"]
    path.write_text(yaml.safe_dump(data))
    res = CliRunner().invoke(main, ["scenarios", "validate", str(path)])
    assert res.exit_code == 2 and "unknown checks ['canary_splt']" in res.output, res.output
