"""Findings are data: findings.yaml loads into typed findings with stable unique ids, the docs page is rendered
from it (and agrees with it), links to a finding must name one, and `gatedrill repro` writes each finding's
reproduction folder with no key on a command line."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from gatedrill.cli import main
from gatedrill.fakes.errors import ConfigError
from gatedrill.harness.findings import FINDINGS_FILE, findings_json_schema, load_findings, published, write_repro

ROOT = Path(__file__).resolve().parent.parent
FINDINGS = published()


def _hook() -> Any:
    spec = importlib.util.spec_from_file_location("findings_hook", ROOT / "docs" / "hooks" / "findings.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Page:
    class file:  # mkdocs' Page.file.src_uri, as the hook reads it
        src_uri = "findings.md"


def test_every_finding_has_an_id_evidence_an_explanation_and_a_repro() -> None:
    assert len(FINDINGS) >= 7
    for f in FINDINGS:
        assert f.evidence.client and len(f.explanation) > 100 and f.repro.expect, f.id
    assert {"portkey-npm-429-becomes-500", "litellm-no-key-500-without-prisma",
            "litellm-stream-errors-are-cooldown-429s"} <= {f.id for f in FINDINGS}


def test_the_three_corrections_name_the_build_and_the_cause() -> None:
    by = {f.id: f for f in FINDINGS}
    portkey = by["portkey-npm-429-becomes-500"]
    assert portkey.status.state == "fixed" and "patches/async-retry+1.3.3.patch" in (portkey.status.fixed_in or "")
    assert portkey.install.dependencies["async-retry"].endswith("(unpatched)") and portkey.corrects
    assert [v.env for v in portkey.repro.variants] == [{"PORTKEY_PATCHED": "1"}]
    prisma = by["litellm-no-key-500-without-prisma"]
    assert prisma.install.dependencies == {"prisma": "absent"} and "No module named 'prisma'" in prisma.explanation
    cooldown = by["litellm-stream-errors-are-cooldown-429s"]
    assert cooldown.status.state == "corrected" and "cooldown" in cooldown.explanation


def test_the_schema_file_is_the_models_schema() -> None:
    stored = json.loads(FINDINGS_FILE.with_name("findings.schema.json").read_text())
    assert stored == json.loads(json.dumps(findings_json_schema())), (
        "regenerate harness/findings/findings.schema.json from findings_json_schema()")


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["findings"].append(d["findings"][0]), "finding ids must be unique"),
    (lambda d: d["findings"][0]["status"].pop("fixed_in"), "names the version or build"),
    (lambda d: d["findings"][0]["repro"]["fake"].update(provider="nope"), "repro.fake is not a valid fake config"),
    (lambda d: d["findings"][0].update(id="Bad Id"), "findings.0.id"),
])
def test_a_malformed_findings_file_is_one_clear_error(tmp_path: Path, change: Any, message: str) -> None:
    data = yaml.safe_load(FINDINGS_FILE.read_text())
    change(data)
    path = tmp_path / "findings.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        load_findings(path)


def test_the_docs_page_is_rendered_from_the_file_and_says_what_it_says() -> None:
    source = (ROOT / "docs" / "findings.md").read_text()
    assert source.count("<!-- findings -->") == 1
    page = _hook().on_page_markdown(source, _Page, None, None)
    assert "<!-- findings -->" not in page
    for f in FINDINGS:
        assert f"{{#{f.id}}}" in page and f"`gatedrill repro {f.id}`" in page, f.id
        assert f"**{f.status.label()}**" in page and f"{f.gateway} {f.version}" in page
        for line in f.evidence.client + f.evidence.journal:
            assert line in page, (f.id, line)
        assert " ".join(f.explanation.split()) in page


def test_a_link_to_an_unknown_finding_fails_the_docs_build() -> None:
    from mkdocs.exceptions import PluginError

    hook = _hook()
    assert hook.on_page_markdown("[x](findings.md#portkey-no-cooldown)", _Page, None, None)
    with pytest.raises(PluginError, match="no-such-finding"):
        hook.on_page_markdown("see [x](findings.md#no-such-finding)", _Page, None, None)


def test_repro_without_an_id_lists_every_finding() -> None:
    result = CliRunner().invoke(main, ["repro"])
    assert result.exit_code == 0
    assert [line.split()[0] for line in result.output.splitlines()] == [f.id for f in FINDINGS]


def test_repro_of_an_unknown_finding_or_into_a_used_folder_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["repro", "no-such-finding"])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "choose one of" in result.output
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x")
    result = CliRunner().invoke(main, ["repro", FINDINGS[0].id, "-o", str(tmp_path / "used")])
    assert result.exit_code == 2 and "not an empty folder" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("finding", FINDINGS, ids=lambda f: f.id)
def test_each_repro_folder_is_complete_and_keeps_keys_off_command_lines(tmp_path: Path, finding: Any) -> None:
    out = tmp_path / "repro"
    names = {p.name for p in write_repro(finding, out)}
    assert {"run.sh", "fake.yaml", "request.json", "README.md"} <= names
    assert {"litellm": "litellm.yaml", "haproxy": "haproxy.cfg", "nginx": "nginx.conf"}.get(
        finding.gateway, "portkey-config.json") in names
    script = (out / "run.sh").read_text()
    assert subprocess.run(["bash", "-n", str(out / "run.sh")], capture_output=True).returncode == 0
    assert (out / "run.sh").stat().st_mode & 0o100
    if finding.gateway == "haproxy":  # it binds where its config says
        assert all(ln.split()[1].startswith("127.0.0.1:") for ln in (out / "haproxy.cfg").read_text().splitlines()
                   if ln.strip().startswith("bind "))
    else:
        bound = (out / "nginx.conf").read_text() if finding.gateway == "nginx" else script  # nginx: its listen line
        assert any(s in bound for s in ("--host 127.0.0.1", "GATEDRILL_BIND_HOST=127.0.0.1", "listen 127.0.0.1:"))
    assert "trap stop EXIT" in script
    curl_lines = [ln for ln in script.splitlines() if "curl " in ln and not ln.startswith("#")]
    assert curl_lines and all("Bearer" not in ln and "sk-" not in ln and "x-portkey-config" not in ln
                              for ln in curl_lines)
    if finding.gateway == "litellm":
        assert yaml.safe_load((out / "litellm.yaml").read_text())["general_settings"]["master_key"] == \
            "os.environ/LITELLM_MASTER_KEY"
    assert yaml.safe_load((out / "fake.yaml").read_text()) == finding.repro.fake
