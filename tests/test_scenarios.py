"""Scenario files: built-in drills validate, and every mistake is reported with file, line and key path."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gatedrill.fakes import ConfigError
from gatedrill.harness.scenario import load_scenario
from gatedrill.harness.schema_export import scenario_json_schema
from gatedrill.scenarios import SCHEMA_FILE, builtin_dir, builtin_names, resolve

DRILLS = ["canary-split", "canary-rollback", "failover-drill", "rate-limit-storm", "context-continuity",
          "context-window-fallback", "streaming-integrity", "midstream-failover", "recovery", "cross-provider-tools",
          "progressive-migration", "blue-green"]

VALID = """\
name: mini
duration_s: 10
upstreams:
  a: {provider: openai}
  b: {provider: anthropic}
gateway:
  routing:
    targets:
      - {upstream: a, model: gpt-4o-mini, weight: 9}
      - {upstream: b, model: claude-haiku-4-5, weight: 1}
load:
  arrivals: {profile: poisson, rate: 5}
timeline:
  - {at_s: 5, action: set_faults, upstream: b, faults: [{fault: {kind: http_error, status: 529}}]}
checks:
  canary_split: {}
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.yaml"
    p.write_text(textwrap.dedent(text))
    return p


def test_every_builtin_drill_is_shipped_and_valid() -> None:
    assert builtin_names() == sorted(DRILLS)
    for name in DRILLS:
        sc = load_scenario(resolve(name))
        assert sc.name == name and sc.checks and sc.description


def test_a_valid_file_loads(tmp_path: Path) -> None:
    sc = load_scenario(write(tmp_path, VALID))
    assert sc.upstreams["b"].name == "b" and sc.upstreams["b"].provider == "anthropic"
    assert sc.timeline[0].at_s == 5


@pytest.mark.parametrize(
    "old, new, expected",
    [
        ("  a: {provider: openai}", "  a: {provider: openai, latncy: {}}", ":4: upstreams.a.latncy: unknown key"),
        ("duration_s: 10", "duration_s: 10\nloadd: {}", ":3: loadd: unknown key"),
        ("name: mini\n", "", ":1: name: required key is missing"),
        ("rate: 5", "rate: fast", ":12: load.arrivals.rate: Input should be a valid number"),
        ("{upstream: b, model: claude-haiku-4-5, weight: 1}", "{upstream: c, model: x, weight: 1}",
         "gateway.routing names upstreams not declared under `upstreams`: ['c']"),
        ("canary_split: {}", "canary_spilt: {}", "unknown check 'canary_spilt'"),
        ("at_s: 5", "at_s: 50", "timeline[0] at_s=50.0 is after the end of the run"),
        ("status: 529", "status: 200", ":14: timeline.0.faults.0.fault.status: Input should be greater than or"),
        ("model: gpt-4o-mini, weight: 9", "model: gpt-5, weight: 9", "gateway target a/gpt-5: upstream 'a' serves"),
        ("profile: poisson, rate: 5", "profile: weibull, rate: 5", ":12: load.arrivals: Input tag 'weibull'"),
    ],
)
def test_mistakes_name_file_line_and_key(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in VALID
    p = write(tmp_path, VALID.replace(old, new))
    with pytest.raises(ConfigError) as exc:
        load_scenario(p)
    assert str(p) in str(exc.value)
    assert expected in str(exc.value), str(exc.value)


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    p = write(tmp_path, "name: x\nupstreams: [\n")
    with pytest.raises(ConfigError, match=r"s\.yaml:3: not valid YAML"):
        load_scenario(p)


def test_scale_compresses_time_but_not_rates(tmp_path: Path) -> None:
    sc = load_scenario(resolve("failover-drill"))
    small = sc.scaled(0.1)
    assert small.duration_s == pytest.approx(6.0)
    assert [a.at_s for a in small.timeline] == pytest.approx([a.at_s * 0.1 for a in sc.timeline])
    assert small.load == sc.load
    assert small.gateway.routing.cooldown.cooldown_s == pytest.approx(sc.gateway.routing.cooldown.cooldown_s * 0.1)
    assert small.gateway.routing.timeout_s == sc.gateway.routing.timeout_s
    steps = load_scenario(resolve("rate-limit-storm")).scaled(0.5)
    assert [s.duration_s for s in steps.load.arrivals.steps] == [4, 7, 4]  # type: ignore[union-attr]


def test_unknown_scenario_name_lists_the_builtins() -> None:
    with pytest.raises(ConfigError, match="built-in drills: blue-green, canary-rollback"):
        resolve("canary-rolback")


def test_committed_json_schema_is_current() -> None:
    committed = json.loads((builtin_dir() / SCHEMA_FILE).read_text())
    assert committed == json.loads(json.dumps(scenario_json_schema(), sort_keys=True)), (
        "regenerate: gatedrill scenarios schema > scenarios/scenario.schema.json")


def test_cli_validate_reports_errors_with_exit_2(tmp_path: Path) -> None:
    p = write(tmp_path, VALID.replace("rate: 5", "rate: -5"))
    run = subprocess.run([sys.executable, "-m", "gatedrill", "scenarios", "validate", "canary-split", str(p)],
                         capture_output=True, text=True)
    assert run.returncode == 2
    assert "canary-split: ok" in run.stdout
    assert f"{p}:12: load.arrivals.rate: Input should be greater than 0" in run.stderr
    assert "Traceback" not in run.stderr
