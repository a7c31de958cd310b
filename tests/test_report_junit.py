"""JUnit XML: one testsuite per drill, one testcase per check; a Fail is a <failure> whose body holds the figures and
the evidence as JSON lines; Inconclusive fails unless allowed (then skipped); XFAIL is skipped. The document follows
the common JUnit XSD shape (Jenkins/GitHub Actions reporters) and junitparser reads it."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import junitparser
from click.testing import CliRunner
from report_records import SECRET, SPLIT_SETS, XSS, failing_split_run, hostile_record

from gatedrill.cli import main
from gatedrill.harness.checks import Status, Verdict, judge
from gatedrill.harness.report import JudgedRun, junit_xml

# The JUnit XSD shape CI reporters read: allowed children in order (with max count) and required attributes.
CHILDREN: dict[str, list[tuple[str, int | None]]] = {
    "testsuites": [("testsuite", None)],
    "testsuite": [("properties", 1), ("testcase", None), ("system-out", 1), ("system-err", 1)],
    "properties": [("property", None)],
    "testcase": [("skipped", 1), ("error", None), ("failure", None), ("system-out", None), ("system-err", None)],
}
REQUIRED: dict[str, set[str]] = {"testsuite": {"name", "tests"}, "testcase": {"name"}, "property": {"name", "value"}}
INTEGER_ATTRS = {"tests", "failures", "errors", "skipped"}


def conforms(el: ET.Element) -> None:
    """Assert `el` and its subtree follow the JUnit schema shape (order, multiplicity, required attributes)."""
    assert REQUIRED.get(el.tag, set()) <= set(el.attrib), (el.tag, el.attrib)
    for attr in INTEGER_ATTRS & set(el.attrib):
        assert el.attrib[attr].isdigit(), (el.tag, attr, el.attrib[attr])
    allowed = CHILDREN.get(el.tag, [])
    if el.tag in ("failure", "error", "skipped", "system-out", "system-err", "property"):
        assert len(el) == 0, f"{el.tag} holds text only"
        return
    pos = 0
    counts: dict[str, int] = {}
    for child in el:
        while pos < len(allowed) and allowed[pos][0] != child.tag:
            pos += 1
        assert pos < len(allowed), f"<{child.tag}> not allowed (or out of order) in <{el.tag}>"
        counts[child.tag] = counts.get(child.tag, 0) + 1
        limit = allowed[pos][1]
        assert limit is None or counts[child.tag] <= limit, f"too many <{child.tag}> in <{el.tag}>"
        conforms(child)


def cases(root: ET.Element) -> dict[str, ET.Element]:
    return {c.attrib["name"]: c for c in root.iter("testcase")}


def test_a_failing_drill_gives_a_failure_with_evidence(tmp_path: Path) -> None:
    out = tmp_path / "junit.xml"
    sets = [arg for s in SPLIT_SETS for arg in ("--set", s)]
    result = CliRunner().invoke(main, ["check", str(failing_split_run()), *sets, "--junit", str(out)],
                                env={"CI": "true"})
    assert result.exit_code == 1, result.output
    root = ET.parse(out).getroot()
    conforms(root)
    (suite,) = root.findall("testsuite")
    assert suite.attrib["name"] == "canary-split"
    by_name = cases(root)
    assert set(by_name) == {"canary_split", "accounting", "overhead", "errors_explained"}
    assert all(c.attrib["classname"] == "gatedrill.canary-split" for c in by_name.values())
    failure = by_name["canary_split"].find("failure")
    assert failure is not None and failure.attrib["type"] == "fail"
    assert failure.attrib["message"].startswith("split canary") and "p=" in failure.attrib["message"]
    body = failure.text or ""
    assert "figures:" in body and "p_value" in body and "thresholds:" in body
    evidence = [json.loads(line) for line in body.splitlines() if line.startswith("{")]
    assert evidence and {e["upstream"] for e in evidence} == {"stable", "canary"}
    assert all(e["observed"] != e["expected"] for e in evidence)
    assert by_name["accounting"].find("failure") is None and by_name["accounting"].find("skipped") is None
    # overhead may be Inconclusive on a loaded machine (a <failure type="inconclusive">): count what is there
    failed_names = [n for n, c in by_name.items() if c.find("failure") is not None]
    assert "canary_split" in failed_names and "accounting" not in failed_names
    assert suite.attrib["failures"] == root.attrib["failures"] == str(len(failed_names))
    assert suite.attrib["tests"] == "4"
    props = {p.attrib["name"]: p.attrib["value"] for p in suite.iter("property")}
    assert props["mutant"] == "ignore_weights" and props["gateway"] == "reference" and props["config_hash"]
    assert "drill canary-split:" in (suite.findtext("system-out") or "")
    # junitparser, as CI reporters read it
    xml = junitparser.JUnitXml.fromfile(str(out))
    (jsuite,) = list(xml)
    assert (jsuite.name, jsuite.tests, jsuite.failures, jsuite.errors) == ("canary-split", 4, len(failed_names), 0)
    failed = {c.name: c for c in jsuite if c.result and isinstance(c.result[0], junitparser.Failure)}
    assert set(failed) == set(failed_names) and failed["canary_split"].classname == "gatedrill.canary-split"
    assert failed["canary_split"].result[0].type == "fail"


def _run(verdicts: list[Verdict], allow: bool = False) -> JudgedRun:
    return JudgedRun(hostile_record(), verdicts, allow_inconclusive=allow)


def test_inconclusive_is_a_failure_by_default_and_skipped_when_allowed() -> None:
    v = [Verdict("overhead", Status.INCONCLUSIVE, "only 3 samples (need 20)", sample_size=3)]
    strict = ET.fromstring(junit_xml([_run(v)]))
    failure = cases(strict)["overhead"].find("failure")
    assert failure is not None and failure.attrib == {"message": "only 3 samples (need 20)", "type": "inconclusive"}
    lenient = ET.fromstring(junit_xml([_run(v, allow=True)]))
    skipped = cases(lenient)["overhead"].find("skipped")
    assert skipped is not None and "only 3 samples" in skipped.attrib["message"]
    assert cases(lenient)["overhead"].find("failure") is None
    for root in (strict, lenient):
        conforms(root)


def test_expected_failure_is_skipped_with_its_reason_and_non_judged_checks_are_errors() -> None:
    v = Verdict("canary_split", Status.FAIL, "split off", evidence=[{"upstream": "a"}])
    v.expected_failure = "weights: the gateway has none"
    run = _run([v])
    run.not_judged = ["future_check"]
    root = ET.fromstring(junit_xml([run]))
    conforms(root)
    skipped = cases(root)["canary_split"].find("skipped")
    assert skipped is not None and "weights: the gateway has none" in skipped.attrib["message"]
    error = cases(root)["future_check"].find("error")
    assert error is not None and root.attrib["errors"] == "1" and root.attrib["skipped"] == "1"


def test_recorded_content_is_escaped_and_secrets_redacted() -> None:
    rec = hostile_record()
    run = JudgedRun(rec, judge(rec, {"context_continuity": {"min_turns": 5}}))
    text = junit_xml([run, run])  # two drills: two suites
    root = ET.fromstring(text)  # well-formed despite markup in the content
    conforms(root)
    assert len(root.findall("testsuite")) == 2 and root.attrib["tests"] == "6"  # 2 x (2 checks + errors_explained)
    failure = cases(root)["context_continuity"].find("failure")
    assert failure is not None and "<script>" in (failure.text or "")  # as text, escaped in the XML
    assert "<script>" not in text and SECRET not in text and XSS not in text


def test_the_shape_check_rejects_what_reporters_reject() -> None:
    bad = ['<testsuites><testsuite name="d"><testcase name="c"/></testsuite></testsuites>',  # no tests=
           '<testsuites><testsuite name="d" tests="1"><testcase name="c"><failure/><skipped/></testcase>'
           "</testsuite></testsuites>",  # skipped after failure
           '<testsuites><testsuite name="d" tests="1"><system-out/><testcase name="c"/></testsuite></testsuites>',
           '<testsuites><testsuite name="d" tests="x"/></testsuites>']
    for doc in bad:
        try:
            conforms(ET.fromstring(doc))
        except AssertionError:
            continue
        raise AssertionError(f"accepted: {doc}")
