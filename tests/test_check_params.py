"""Check parameters are part of the scenario schema: a misspelt check or parameter fails `scenarios validate` with
its file and line before any drill, every parameter is described in the exported JSON Schema, and the parameter
models load without the statistics libraries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gatedrill.harness.check_params import PARAMS, ChecksSpec, with_overrides
from gatedrill.harness.checks import REGISTRY
from gatedrill.harness.scenario import load_scenario
from gatedrill.harness.schema_export import scenario_json_schema
from gatedrill.scenarios import resolve

SPLIT = resolve("canary-split").read_text()


def validate(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "drill.yaml"
    path.write_text(text)
    return subprocess.run([sys.executable, "-m", "gatedrill", "scenarios", "validate", str(path)],
                          capture_output=True, text=True, timeout=60)


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_a_misspelt_parameter_fails_validate_with_file_and_line(tmp_path: Path) -> None:
    text = SPLIT.replace("canary_split: {alpha: 0.001}", "canary_split: {alfa: 0.001}")
    assert text != SPLIT
    res = validate(tmp_path, text)
    assert res.returncode == 2, res.stdout
    where = f"{tmp_path / 'drill.yaml'}:{line_of(text, 'alfa')}:"
    assert res.stderr.startswith(where), res.stderr
    assert "unknown parameter 'alfa' of check canary_split" in res.stderr and "alpha" in res.stderr


def test_a_misspelt_check_fails_validate_with_file_and_line(tmp_path: Path) -> None:
    text = SPLIT.replace("accounting: {}", "acounting: {}")
    assert text != SPLIT
    res = validate(tmp_path, text)
    assert res.returncode == 2
    assert res.stderr.startswith(f"{tmp_path / 'drill.yaml'}:{line_of(text, 'acounting')}: ")
    assert "unknown check 'acounting'" in res.stderr


def test_a_bad_parameter_value_fails_validate_with_its_line(tmp_path: Path) -> None:
    text = SPLIT.replace("canary_split: {alpha: 0.001}", "canary_split: {alpha: 2}")
    assert text != SPLIT
    res = validate(tmp_path, text)
    assert res.returncode == 2 and f":{line_of(text, 'alpha: 2')}: checks.canary_split.alpha" in res.stderr


def test_every_check_has_a_parameters_model_and_every_parameter_a_description() -> None:
    assert set(PARAMS) == set(REGISTRY)
    assert all(REGISTRY[name].params is PARAMS[name] for name in PARAMS)
    schema = scenario_json_schema()
    checks = schema["$defs"]["ChecksSpec"]
    assert checks["additionalProperties"] is False and set(checks["properties"]) == set(PARAMS)
    for name, model in PARAMS.items():
        props = schema["$defs"][model.__name__]["properties"]
        assert set(props) == set(model.model_fields), name
        undocumented = [p for p, spec in props.items() if not spec.get("description")]
        assert not undocumented, f"{name}: {undocumented}"


def test_checks_keep_the_order_the_scenario_gives_them(tmp_path: Path) -> None:
    spec = ChecksSpec.model_validate({"overhead": {}, "accounting": {}, "canary_split": {"alpha": 0.01}})
    # errors_explained, on in every drill, follows the ones the scenario lists
    assert spec.names() == ["overhead", "accounting", "canary_split", "errors_explained"]
    again = ChecksSpec.model_validate(spec.model_dump(mode="json"))
    assert again.names() == spec.names() and list(spec.model_dump()) == spec.names()


def test_set_values_override_the_scenarios_parameters_and_are_validated() -> None:
    sc = load_scenario(resolve("canary-rollback"))
    merged = with_overrides("rollback", sc.checks.get("rollback"), {"max_detection_s": 9})
    assert merged.model_dump()["max_detection_s"] == 9 and merged.model_dump()["upstream"] == "canary"
    from gatedrill.fakes.errors import ConfigError

    with pytest.raises(ConfigError, match="check rollback: max_detecton_s: Extra inputs"):
        with_overrides("rollback", sc.checks.get("rollback"), {"max_detecton_s": 9})


def test_the_cli_and_the_parameter_models_load_without_scipy() -> None:
    code = ("import sys; from gatedrill.cli import main; import gatedrill.harness.scenario; "
            "import gatedrill.harness.check_params; from click.testing import CliRunner; "
            "r = CliRunner().invoke(main, ['--help']); assert r.exit_code == 0, r.output; "
            "heavy = sorted(m for m in ('scipy', 'numpy') if m in sys.modules); print(heavy)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
