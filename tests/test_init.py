"""`gatedrill init` scaffolds a repository (gatedrill.yaml, a valid scenario, its JSON Schema) without overwriting
anything, and `gatedrill run` / the pytest plugin take their defaults from gatedrill.yaml, flags winning."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import gatedrill.harness.checks  # noqa: F401 - loaded once here: an in-process pytester run must not import numpy first
from gatedrill.cli import main
from gatedrill.fakes.errors import ConfigError
from gatedrill.harness.project_config import load_project_config
from gatedrill.harness.scaffold import CANARY_PORT, SCENARIO_PATH, SCHEMA_PATH, STABLE_PORT
from gatedrill.harness.scenario import load_scenario
from gatedrill.harness.schema_export import scenario_json_schema
from gatedrill.harness.settings import RunSettings

pytest_plugins = ["pytester"]

# The console script, as users run it. (`python -m` would put the current folder, with the scaffold's `scenarios/`,
# first on sys.path, where it shadows gatedrill's own `scenarios` package in editable installs.)
_SCRIPT = Path(sys.executable).parent / "gatedrill"
GATEDRILL = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-P", "-m", "gatedrill"]


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _init(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["init", str(tmp_path), *args])
    return result.exit_code, result.output


def test_init_writes_a_valid_scenario_with_its_schema_and_project_defaults(tmp_path: Path) -> None:
    code, out = _init(tmp_path)
    assert code == 0, out
    scenario = tmp_path / SCENARIO_PATH
    assert scenario.read_text().splitlines()[0] == "# yaml-language-server: $schema=scenario.schema.json"
    assert json.loads((tmp_path / SCHEMA_PATH).read_text()) == scenario_json_schema()
    sc = load_scenario(scenario)
    assert sc.load.mix.model == sc.gateway.routing.public_model  # the model clients send is the one routed
    assert {u.port for u in sc.upstreams.values()} == {STABLE_PORT, CANARY_PORT}
    assert "FILL IN" in scenario.read_text() and "FILL IN" in (tmp_path / "gatedrill.yaml").read_text()
    cfg = load_project_config(tmp_path)
    # the gateway line is written commented out: until the user enables it, every drill keeps the reference gateway
    assert cfg is not None and cfg.gateway == "reference" and cfg.out_dir() == tmp_path / "runs"
    assert "# gateway: url:http://127.0.0.1:4000" in (tmp_path / "gatedrill.yaml").read_text()
    assert run_defaults(None, None, None, "canary-rollback", tmp_path)[0] == "reference"
    validate = CliRunner().invoke(main, ["scenarios", "validate", str(scenario)])
    assert validate.exit_code == 0 and ": ok (my-gateway-canary" in validate.output


def test_init_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    (tmp_path / "gatedrill.yaml").write_text("scale: 0.5\n")
    code, out = _init(tmp_path)
    assert code == 2
    assert out.strip().splitlines() == [f"gatedrill: error: {tmp_path / 'gatedrill.yaml'} already exists; nothing "
                                        f"written (--force overwrites)"]
    assert (tmp_path / "gatedrill.yaml").read_text() == "scale: 0.5\n" and not (tmp_path / "scenarios").exists()
    code, out = _init(tmp_path, "--force")
    assert code == 0 and "# gateway: url:" in (tmp_path / "gatedrill.yaml").read_text()


def run_defaults(gateway: str | None, out: str | None, scale: float | None, ref: str,
                 directory: Path) -> tuple[str, Path | None, float]:
    """What `gatedrill run` resolves: (gateway, run folder, scale)."""
    s = RunSettings.resolve(gateway=gateway, scale=scale, directories=[directory])
    return s.gateway, s.run_dir(ref, out), s.scale


def test_run_defaults_come_from_gatedrill_yaml_and_flags_win(tmp_path: Path) -> None:
    assert run_defaults(None, None, None, "canary-split", tmp_path) == ("reference", None, 1.0)  # no file
    (tmp_path / "gatedrill.yaml").write_text("gateway: url:http://127.0.0.1:4000\nout: records\nscale: 0.5\n")
    gateway, out, scale = run_defaults(None, None, None, "canary-split", tmp_path)
    assert (gateway, scale) == ("url:http://127.0.0.1:4000", 0.5)
    assert out is not None and out.parent == tmp_path / "records" and out.name.startswith("canary-split-")
    assert run_defaults("reference", "x", 0.2, "canary-split", tmp_path) == ("reference", Path("x"), 0.2)
    (tmp_path / "gatedrill.yaml").write_text("gateway: reference\nscale: -1\n")
    with pytest.raises(ConfigError, match=r"gatedrill.yaml:2: scale: .*greater than 0"):
        run_defaults(None, None, None, "canary-split", tmp_path)
    (tmp_path / "gatedrill.yaml").write_text("gateway: reference\nscael: 1\n")
    with pytest.raises(ConfigError, match=r"gatedrill.yaml:2: scael: unknown key"):
        load_project_config(tmp_path)


def _scaffold_on_free_ports(path: Path) -> None:
    """The scaffold, its fakes moved to free ports (the fixed ones belong to the README quickstart test)."""
    assert _init(path)[0] == 0
    scenario = path / SCENARIO_PATH
    stable, canary = _free_ports(2)
    scenario.write_text(scenario.read_text().replace(str(STABLE_PORT), str(stable)).replace(str(CANARY_PORT),
                                                                                            str(canary)))


def test_gatedrill_run_of_the_scaffold_uses_the_project_defaults(tmp_path: Path) -> None:
    """The scaffold as written runs (against the reference gateway, set in gatedrill.yaml)."""
    _scaffold_on_free_ports(tmp_path)
    (tmp_path / "gatedrill.yaml").write_text("gateway: reference\nout: myruns\nscale: 0.3\n")
    env = {**os.environ, "CI": "true"}
    proc = subprocess.run([*GATEDRILL, "run", SCENARIO_PATH], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode in (0, 1), proc.stderr
    runs = list((tmp_path / "myruns").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("my-gateway-canary-")
    meta = json.loads((runs[0] / "meta.json").read_text())
    assert meta["outcome"] == "completed" and meta["scale"] == 0.3 and meta["gateway"]["kind"] == "reference"
    assert "PASS          accounting" in proc.stdout and "PASS          canary_split" in proc.stdout, proc.stdout
    journals = {p.stem: len(p.read_text().splitlines()) for p in (runs[0] / "journal").glob("*.jsonl")}
    assert journals["stable"] > 5 * journals["canary"] > 0  # 90/10, reached on the ports the scenario names


def test_the_pytest_plugin_takes_its_gateway_from_gatedrill_yaml(pytester: pytest.Pytester) -> None:
    _scaffold_on_free_ports(pytester.path)
    (closed,) = _free_ports(1)  # nothing listens there: every item fails fast, naming the gateway it tried
    (pytester.path / "gatedrill.yaml").write_text(f"gateway: url:http://127.0.0.1:{closed}\nscale: 0.1\n")
    result = pytester.runpytest("scenarios", "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:benchmark")
    result.assert_outcomes(failed=4)  # its three checks and errors_explained
    result.stdout.fnmatch_lines([f"gatedrill: gateway url:http://127.0.0.1:{closed}, scale 0.1, run records in "
                                 f"basetemp/gatedrill (defaults from *gatedrill.yaml)"])
    result.stdout.fnmatch_lines([f"gatedrill: the gateway at http://127.0.0.1:{closed} did not answer*"])
