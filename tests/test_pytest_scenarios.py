"""Scenario files as pytest tests (the `gatedrill` plugin), run by pytest itself in generated projects: one item per
check, one drill per session (also across xdist workers), verdicts as reports, other YAML left alone, and the
`gatedrill_run` / `gateway_url` fixtures. Drills here are tiny (a few seconds, 20 requests/s)."""

from __future__ import annotations

import json
import socket
import xml.etree.ElementTree as ET
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from gatedrill.harness.checks import (  # loaded here once: in-process pytester runs must not import numpy
    Status,
    Verdict,
    gate,
)
from gatedrill.harness.pytest_items import pytest_outcome
from gatedrill.scenarios import builtin_dir

pytest_plugins = ["pytester"]

QUIET = ("-p", "no:cacheprovider", "-p", "no:benchmark", "-p", "no:randomly")

TINY = """\
name: tiny
seed: 1
duration_s: {duration}
upstreams:
  stable: {{provider: openai, models: [{{id: gpt-4o-mini}}], latency: {{ttft_ms: 5, itl_ms: 1}}}}
  canary: {{provider: openai, models: [{{id: gpt-4o-mini}}], latency: {{ttft_ms: 5, itl_ms: 1}}}}
gateway:
  kind: reference
  routing:
    targets:
      - {{upstream: stable, model: gpt-4o-mini, weight: 50}}
      - {{upstream: canary, model: gpt-4o-mini, weight: 50}}
load:
  arrivals: {{profile: constant, rate: 20}}
checks:
  accounting: {{}}                               # passes
  canary_split: {{}}                             # inconclusive: 60 requests are far too few
  retry_amplification: {{max_attempts_per_request: 0.5}}   # fails: every request takes at least one attempt
"""

NOT_SCENARIOS = {
    "ci.yaml": "on: push\njobs:\n  test: {runs-on: ubuntu-latest, steps: [{run: pytest}]}\n",
    "data.yml": "- 1\n- 2\n",
    "broken.yaml": "key: [unclosed\n",
    "gateway-only.yaml": "gateway: {kind: reference}\nload: {}\n",
}


def _tiny(pytester: pytest.Pytester, duration: float = 3) -> Path:
    (pytester.path / "scen").mkdir(exist_ok=True)
    path = pytester.path / "scen" / "tiny.yaml"
    path.write_text(TINY.format(duration=duration))
    return path


@pytest.mark.parametrize(("status", "critical", "expected_failure", "allow", "outcome"), [
    (Status.PASS, True, None, False, "passed"),
    (Status.PASS, True, "sticky: not expressible", False, "passed"),
    (Status.FAIL, True, None, True, "failed"),
    (Status.FAIL, True, "sticky: not expressible", False, "xfailed"),  # the gateway cannot do it: as in the gate
    (Status.FAIL, False, None, False, "xfailed"),
    (Status.INCONCLUSIVE, True, None, False, "failed"),  # strict by default, as `gatedrill run`
    (Status.INCONCLUSIVE, True, None, True, "skipped"),
    (Status.INCONCLUSIVE, False, None, False, "xfailed"),
])
def test_a_verdict_maps_to_the_pytest_outcome_the_gate_implies(status: Status, critical: bool,
                                                              expected_failure: str | None, allow: bool,
                                                              outcome: str) -> None:
    v = Verdict("rollback", status, "detection took 4 s", critical=critical, expected_failure=expected_failure)
    got, reason = pytest_outcome(v, allow)
    assert got == outcome
    assert outcome in ("passed", "failed") or "detection took 4 s" in reason
    assert (got != "failed") == gate([v], allow_inconclusive=allow)  # a test fails exactly when the gate does


def test_the_pytest11_entry_point_is_the_harness_plugin() -> None:
    plugins = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert plugins.get("gatedrill") == "gatedrill.harness.pytest_plugin", (
        "the installed entry point is stale: re-run `pip install -e '.[test]'`")


def test_each_check_is_an_item_reporting_its_verdict_from_one_run(pytester: pytest.Pytester) -> None:
    _tiny(pytester)
    out = pytester.path / "records"
    result = pytester.runpytest("scen", "--gatedrill-out", str(out), "--junitxml", "junit.xml", "-rs", *QUIET)
    result.assert_outcomes(passed=2, failed=2)  # accounting and errors_explained (every drill's default) pass
    text = result.stdout.str()
    result.stdout.fnmatch_lines(["*tiny.yaml::retry_amplification*", "FAIL retry_amplification: *",
                                 "  thresholds: *max_attempts_per_request=0.5*", "  run record: *records*tiny-*"])
    result.stdout.fnmatch_lines(["INCONCLUSIVE canary_split: *needed*"])
    assert "Traceback" not in text and "harness/" not in text, "a verdict must not show gatedrill's internals"
    runs = [p for p in out.iterdir() if p.is_dir()]
    assert len(runs) == 1, f"the scenario ran {len(runs)} times for its four checks"
    assert json.loads((runs[0] / "meta.json").read_text())["outcome"] == "completed"
    cases = {c.get("name"): c for c in ET.parse(pytester.path / "junit.xml").iter("testcase")}
    assert set(cases) == {"accounting", "canary_split", "retry_amplification", "errors_explained"}
    assert cases["retry_amplification"].find("failure") is not None and cases["accounting"].find("failure") is None
    props = {p.get("name"): p.get("value") for p in cases["accounting"].iter("property")}
    assert props == {"run_record": str(runs[0]), "verdict": "pass"}


def test_other_yaml_is_left_alone_and_an_invalid_scenario_is_one_collection_error(pytester: pytest.Pytester) -> None:
    for name, text in NOT_SCENARIOS.items():
        (pytester.path / name).write_text(text)
    (pytester.path / "bad.yaml").write_text(
        "name: bad\nduration_s: 3\nupstreams:\n  a: {provider: openai}\ngateway:\n  routing: {targets: []}\n"
        "load:\n  arrivals: {profile: constant, rate: 5}\n  bogus: 1\n")
    result = pytester.runpytest(".", "--collect-only", *QUIET)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ERROR collecting bad.yaml*", "*bad.yaml:9: load.bogus: unknown key*"])
    assert "Traceback" not in result.stdout.str()
    for name in NOT_SCENARIOS:
        assert name not in result.stdout.str()


def test_scenarios_are_collected_only_under_paths_named_on_the_command_line(pytester: pytest.Pytester) -> None:
    _tiny(pytester)
    pytester.makeini("[pytest]\ntestpaths = scen\n")
    assert "tiny.yaml" not in pytester.runpytest("--collect-only", "-q", *QUIET).stdout.str()  # testpaths: no
    collected = pytester.runpytest("scen", "--collect-only", "-q", *QUIET)
    collected.stdout.fnmatch_lines(["scen/tiny.yaml::retry_amplification"])
    pytester.runpytest("scen/tiny.yaml", "--collect-only", "-q", "-k", "split", *QUIET).stdout.fnmatch_lines(
        ["scen/tiny.yaml::canary_split", "*1/4 tests collected*"])
    always = pytester.runpytest("--collect-only", "-q", "-o", "gatedrill_collect=always", *QUIET)
    always.stdout.fnmatch_lines(["scen/tiny.yaml::accounting"])


def test_a_drill_that_cannot_run_fails_each_item_with_one_line(pytester: pytest.Pytester) -> None:
    _tiny(pytester)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # nothing listens once the socket closes
    result = pytester.runpytest("scen", f"--gatedrill-gateway=url:http://127.0.0.1:{closed}", *QUIET)
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines([f"gatedrill: the gateway at http://127.0.0.1:{closed} did not answer*"])
    assert "Traceback" not in result.stdout.str()
    # each item's report is that one line (the short summary repeats it after "FAILED ...")
    own_lines = [line for line in result.stdout.lines if line.startswith("gatedrill: the gateway at")]
    assert len(own_lines) == 4, result.stdout.str()
    assert all("did not answer a warm-up request" in line for line in own_lines)


def test_xdist_workers_share_one_run_per_scenario(pytester: pytest.Pytester) -> None:
    """`--dist each` hands every item to both workers, so both want the drill at once: it must run once. The drill
    is a built-in one at a small scale; overhead budgets are for quiet machines, so it only warns here."""
    (pytester.path / "scen").mkdir()
    (pytester.path / "scen" / "canary-split.yaml").write_text((builtin_dir() / "canary-split.yaml").read_text())
    out = pytester.path / "records"
    result = pytester.runpytest_subprocess("scen", "-p", "xdist", "-n", "2", "--dist", "each", "--gatedrill-scale",
                                           "0.2", "--gatedrill-allow-inconclusive", "--gatedrill-out", str(out),
                                           "--gatedrill-set", "overhead.critical=false", "-rsx",
                                           "-p", "no:hypothesispytest", *QUIET)
    result.stdout.fnmatch_lines(["*2 workers*"])
    outcomes = result.parseoutcomes()
    assert "failed" not in outcomes and "error" not in outcomes, result.stdout.str()
    assert sum(outcomes.get(k, 0) for k in ("passed", "skipped", "xfailed")) == 8, outcomes  # 4 checks x 2 workers
    assert outcomes.get("passed", 0) >= 4  # accounting and errors_explained, on each worker
    runs = [p for p in out.iterdir() if p.is_dir()]
    assert [p.name.rsplit("-", 1)[0] for p in runs] == ["canary-split"], runs
    meta = json.loads((runs[0] / "meta.json").read_text())
    assert meta["outcome"] == "completed" and meta["scale"] == 0.2


def test_xdist_workers_never_run_two_drills_on_the_same_fixed_port_at_once(pytester: pytest.Pytester) -> None:
    """Scenarios for a hand-configured gateway pin their fakes' ports; `--dist loadfile` puts each file on its own
    worker at the same time, so without the port's lock one drill's fake could not bind."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (pytester.path / "scen").mkdir()
    for name in ("pinned-a", "pinned-b"):
        text = TINY.format(duration=2).replace("name: tiny", f"name: {name}")
        text = text.replace("stable: {provider: openai,", f"stable: {{provider: openai, port: {port},")
        (pytester.path / "scen" / f"{name}.yaml").write_text(text.split("checks:")[0] + "checks:\n  accounting: {}\n")
    result = pytester.runpytest_subprocess("scen", "-p", "xdist", "-n", "2", "--dist", "loadfile",
                                           "-p", "no:hypothesispytest", *QUIET)
    result.assert_outcomes(passed=4)  # accounting and errors_explained, per drill


FIXTURE_TESTS = '''
import httpx

from gatedrill.harness.scenario import Scenario
from gatedrill.scenarios import resolve
from gatedrill.harness.scenario import load_scenario


def test_gateway_url_serves_chat_completions(gateway_url):
    r = httpx.post(f"{gateway_url}/v1/chat/completions", timeout=10,
                   json={"model": "drill", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"]
    assert gateway_url.startswith("http://127.0.0.1:")


def test_gatedrill_run_runs_and_judges_a_scenario_object(gatedrill_run):
    data = load_scenario(resolve("canary-split")).model_dump(mode="json")
    data["load"]["arrivals"]["rate"] = 20
    data["checks"] = {"accounting": {}}
    run = gatedrill_run(Scenario.model_validate(data), scale=0.1, seed=7)
    assert run.passed and run.verdict("accounting").passed
    assert run.record.scenario.seed == 7 and run.record.meta.scale == 0.1
    assert (run.path / "meta.json").exists()
'''


def test_gatedrill_run_and_gateway_url_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_fixtures=FIXTURE_TESTS)
    result = pytester.runpytest(*QUIET)
    result.assert_outcomes(passed=2)
