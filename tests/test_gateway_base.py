"""Gateway adapters' shared base: the registry, what `--gateway` resolves to, limitations in the run record, and
verdicts of affected checks marked expected to fail (XFAIL never fails the gate; a pass stays visible as such)."""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from gatedrill.cli import main
from gatedrill.fakes.errors import ConfigError
from gatedrill.harness.checks import gate, judge
from gatedrill.harness.checks.synthetic import scenario_with, split_record
from gatedrill.harness.gateways import ADAPTERS, Limitation, RunningGateway, get_adapter, limitations
from gatedrill.harness.record import GatewayMeta, RecordWriter
from gatedrill.harness.runner import RunOptions, resolve_scenario

SPLIT_LIMIT = {"feature": "weights", "reason": "this gateway splits evenly", "checks": ["canary_split"]}


def split(shares: dict[str, float], limits: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    sc = scenario_with({"stable": 90, "canary": 10}, checks={"canary_split": {"alpha": 0.001}})
    rec = split_record(sc, shares, 800, random.Random(7))
    rec.meta.gateway = GatewayMeta.model_validate({"kind": "url", "limitations": limits})
    return rec


def test_a_limited_check_that_fails_is_xfail_and_does_not_fail_the_gate() -> None:
    v, _explained = judge(split({"stable": 0.5, "canary": 0.5}, [SPLIT_LIMIT]))
    assert v.status.value == "fail" and v.xfail
    assert v.expected_failure == "weights: this gateway splits evenly"
    assert v.to_dict()["expected_failure"] == v.expected_failure
    assert gate([v])


def test_the_same_failure_without_a_limitation_fails_the_gate() -> None:
    v, _explained = judge(split({"stable": 0.5, "canary": 0.5}, []))
    assert v.status.value == "fail" and not v.xfail and v.expected_failure is None
    assert not gate([v])


def test_a_limited_check_that_passes_stays_a_pass_and_keeps_its_mark() -> None:
    v, _explained = judge(split({"stable": 0.9, "canary": 0.1}, [SPLIT_LIMIT]))
    assert v.passed and not v.xfail and v.expected_failure


def test_a_limitation_marks_only_the_checks_it_names() -> None:
    other = {**SPLIT_LIMIT, "checks": ["rollback"]}
    v, _explained = judge(split({"stable": 0.5, "canary": 0.5}, [other]))
    assert v.expected_failure is None and not gate([v])


def test_check_command_shows_xfail_with_its_reason_and_exits_0(tmp_path: Path) -> None:
    rec = split({"stable": 0.5, "canary": 0.5}, [SPLIT_LIMIT])
    writer = RecordWriter(tmp_path / "run", rec.scenario, 1.0, rec.meta.gateway)
    (writer.path / "clients.jsonl").write_bytes(b"".join(orjson.dumps(c) + b"\n" for c in rec.clients))
    for name, entries in rec.journals.items():
        writer.journal_path(name).write_text("".join(e.model_dump_json() + "\n" for e in entries))
    writer.close("completed")
    res = CliRunner().invoke(main, ["check", str(writer.path)])
    assert res.exit_code == 0, res.output
    assert "XFAIL" in res.output and "expected to fail on this gateway: weights: this gateway splits evenly" \
        in res.output


def test_every_kind_of_the_scenario_schema_has_an_adapter_entry() -> None:
    from typing import get_args

    from gatedrill.harness.scenario import GatewayKind

    assert set(get_args(GatewayKind)) == set(ADAPTERS)


def test_unknown_or_missing_adapters_are_one_line_config_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="unknown gateway 'bogus'"):
        get_adapter("bogus")
    monkeypatch.setitem(ADAPTERS, "ghost", "ghost:GhostAdapter")
    with pytest.raises(ConfigError, match="ghost gateway adapter is not available"):
        get_adapter("ghost")


def test_gateway_option_names_an_adapter_and_drops_reference_only_settings() -> None:
    sc = resolve_scenario("canary-split", RunOptions(gateway="litellm"))
    assert sc.gateway.kind == "litellm" and sc.gateway.mutant is None
    assert resolve_scenario("canary-split", RunOptions()).gateway.kind == "reference"
    with pytest.raises(ConfigError, match="--mutant applies to the reference gateway only"):
        resolve_scenario("canary-split", RunOptions(gateway="portkey", mutant="ignore_weights"))
    with pytest.raises(ConfigError, match="unknown --gateway 'envoy'"):
        resolve_scenario("canary-split", RunOptions(gateway="envoy"))


def test_reference_and_url_claim_no_limitation_but_runtime_weights_need_the_reference() -> None:
    timeline = [{"at_s": 5, "action": "set_weights", "weights": {"stable": 0, "canary": 100}}]
    sc = scenario_with({"stable": 90, "canary": 10}, timeline=timeline)
    assert limitations(sc) == []
    url = resolve_scenario(sc, RunOptions(gateway="url:http://127.0.0.1:9"))
    (lim,) = limitations(url)
    assert lim.feature == "set_weights" and "canary_split" in lim.checks
    assert limitations(resolve_scenario(scenario_with({"a": 1}), RunOptions(gateway="url:http://x"))) == []


def test_client_headers_carry_the_key_and_the_gateways_headers() -> None:
    gw = RunningGateway(url="http://127.0.0.1:1", headers={"X-Portkey-Config": "{}"}, api_key="sk-master")
    assert gw.client_headers() == {"authorization": "Bearer sk-master", "x-portkey-config": "{}"}
    assert RunningGateway(url="u", api_key=None).client_headers() == {}
    assert Limitation(feature="f", reason="r", checks=["a", "b"]).line() == "f: r (affects a, b)"


def test_a_url_gateway_is_told_the_fake_urls_and_routing_before_the_run(tmp_path: Path) -> None:
    """Nothing listens at the URL, so the run stops at warm-up; what the owner must configure was said first, with
    the URLs the fakes really got (meta.json) and the scenario's weights."""
    import socket

    from gatedrill.harness.runner import run

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    lines: list[str] = []
    opts = RunOptions(gateway=f"url:http://127.0.0.1:{closed}", out=tmp_path / "run", scale=0.1, notice=lines.append)
    with pytest.raises(Exception, match="did not answer a warm-up request"):
        run("canary-split", opts)
    fakes = orjson.loads((tmp_path / "run" / "meta.json").read_bytes())["fakes"]
    assert lines[0].startswith("the drill sends model 'drill' to your gateway")
    # base URLs as an OpenAI client or gateway takes them, with /v1 (what the docs tell owners to configure)
    assert f"  stable: openai at {fakes['stable']}/v1, model 'gpt-4o-mini', weight 90%" in lines
    assert f"  canary: openai at {fakes['canary']}/v1, model 'gpt-4o-mini', weight 10%" in lines
    assert any(line.startswith("  cooldown: out for") for line in lines)
    assert any("pin `port:`" in line for line in lines)  # canary-split leaves its ports free
