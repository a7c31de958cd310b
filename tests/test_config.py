"""One config schema for YAML, CLI and Python; invalid input is reported with its key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatedrill.fakes import ConfigError, Fake, FakeConfig, load_fakes_file


def test_defaults_fill_models_and_name() -> None:
    cfg = FakeConfig(provider="anthropic")
    assert cfg.name == "anthropic"
    assert any(m.id.startswith("claude") for m in cfg.models)


def test_yaml_with_several_fakes(tmp_path: Path) -> None:
    p = tmp_path / "fakes.yaml"
    p.write_text(
        "fakes:\n"
        "  - name: primary\n    provider: openai\n"
        "    latency: {ttft_ms: 120, itl_ms: {dist: uniform, low: 5, high: 9}}\n"
        "  - name: canary\n    provider: anthropic\n    models: [{id: claude-x, context_window: 8000}]\n"
    )
    fakes = load_fakes_file(p)
    assert [f.name for f in fakes] == ["primary", "canary"]
    assert fakes[0].latency.ttft_ms.quantile(0.5) == 120
    assert fakes[1].models[0].context_window == 8000


@pytest.mark.parametrize(
    "yaml_text, fragment",
    [
        ("provider: openai\nlatncy: {}\n", "latncy: unknown key"),
        ("provider: cohere\n", "provider"),
        ("fakes:\n  - {name: a}\n  - {name: a}\n", "fake names must be unique"),
        ("provider: openai\nmodels: [{id: m, context_window: zero}]\n", "models.0.context_window"),
        ("provider: openai\nfaults: [{fault: {kind: http_error, status: 200}}]\n", "faults.0.fault.http_error.status"),
        ("[1, 2]\n", "expected a mapping"),
        ("provider: [\n", "not valid YAML"),
    ],
)
def test_invalid_files_name_the_file_and_key(tmp_path: Path, yaml_text: str, fragment: str) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(yaml_text)
    with pytest.raises(ConfigError) as exc:
        load_fakes_file(p)
    assert fragment in str(exc.value)
    assert str(p) in str(exc.value)


def test_python_overrides_are_validated_too() -> None:
    with pytest.raises(ConfigError, match=r"reply\.mode"):
        Fake(provider="openai", reply={"mode": "nonsense"})
    assert Fake(provider="openai", seed=5).config.seed == 5
