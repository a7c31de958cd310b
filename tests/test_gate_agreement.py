"""One judgement: on synthetic verdict sets, the exit code, the terminal gate line, JUnit, the JSON report, the HTML
report and pytest's outcome all say the same thing, because each reads `Verdict.outcome`."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from hypothesis import given, settings
from hypothesis import strategies as st

from gatedrill.exit_codes import EXIT_FAILED, EXIT_OK
from gatedrill.harness.checks import PARAMS, Outcome, Status, Verdict
from gatedrill.harness.checks.synthetic import record_of, scenario_with
from gatedrill.harness.cli import gate_exit_code
from gatedrill.harness.pytest_items import pytest_outcome
from gatedrill.harness.report import JudgedRun, html_report, junit_xml, report_dict
from gatedrill.harness.report.terminal import verdict_lines

RECORD = record_of(scenario_with({"stable": 90, "canary": 10}), [], {})

verdicts = st.lists(
    st.builds(lambda check, status, critical, why: Verdict(check, status, f"{check} judged {status.value}",
                                                          critical=critical, expected_failure=why),
              st.sampled_from(sorted(PARAMS)), st.sampled_from(list(Status)), st.booleans(),
              st.none() | st.just("weights: not expressible on this gateway")),
    max_size=6, unique_by=lambda v: v.check)


@settings(max_examples=100, deadline=None)
@given(verdicts=verdicts, allow=st.booleans(), not_judged=st.lists(st.just("future_check"), max_size=1))
def test_every_report_and_pytest_agree_with_the_exit_code(verdicts: list[Verdict], allow: bool,
                                                          not_judged: list[str]) -> None:
    run = JudgedRun(RECORD, verdicts, allow, not_judged)
    code = gate_exit_code(run.passed)
    failing = {v.check for v in verdicts if v.outcome(allow) is Outcome.FAILED} | set(not_judged)
    assert code == (EXIT_FAILED if failing else EXIT_OK)

    gate_line = verdict_lines(run)[-1]
    if code == EXIT_OK:
        assert gate_line == "gate: passed"
    else:
        assert set(gate_line.removeprefix("gate: FAILED by ").split(", ")) == failing

    suite = ET.fromstring(junit_xml([run]))
    failed_cases = {c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None
                    or c.find("error") is not None}
    assert failed_cases == failing
    assert (int(suite.get("failures", "0")) + int(suite.get("errors", "0")) == 0) == (code == EXIT_OK)

    doc = report_dict(run)
    assert doc["gate"]["passed"] == (code == EXIT_OK)
    assert {v["check"] for v in doc["verdicts"] if v["counts_against_gate"]} | set(doc["gate"]["not_judged"]) \
        == failing
    assert {v["check"] for v in doc["verdicts"] if v["outcome"] == "failed"} == failing - set(not_judged)

    title = re.search(r"<title>([^<]*)</title>", html_report(run))
    assert title is not None and title.group(1).endswith("(passed)" if code == EXIT_OK else "(FAILED)")

    in_pytest = {v.check for v in verdicts if pytest_outcome(v, allow)[0] == "failed"}
    assert in_pytest | set(not_judged) == failing  # a check this version lacks fails its item too
