"""JUnit XML for CI test reporters (GitHub Actions, Jenkins, GitLab): one testsuite per drill, one testcase per
check (classname `gatedrill.<drill>`).

A Fail is a <failure> (message = the verdict's summary, body = figures, thresholds and the evidence as JSON
lines). An Inconclusive is a <failure> when the gate counts it (the default) and <skipped> with the reason when
`--allow-inconclusive` is given; a Fail a gateway limitation predicted (XFAIL) is <skipped> with that reason.
Element order and attributes follow the common JUnit XSD (Jenkins junit-10 shape).
"""

from __future__ import annotations

import json
import socket
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

from ..checks import Outcome, Verdict
from .headline import short
from .judged import JudgedRun
from .redact import redact, redact_text
from .terminal import summary_lines

EVIDENCE_SHOWN = 50


def _failure_body(v: Verdict) -> str:
    lines = [f"status: {v.status.value}", f"sample size: {v.sample_size}", "figures:"]
    lines += [f"  {k}: {json.dumps(redact(val), default=str, ensure_ascii=False)}" for k, val in v.figures.items()]
    if v.thresholds:
        lines.append("thresholds:")
        lines += [f"  {k}: {short(val)}" for k, val in v.thresholds.items()]
    if v.evidence:
        lines.append(f"evidence ({len(v.evidence)} items, one JSON object per line):")
        lines += [json.dumps(redact(ev), default=str, ensure_ascii=False) for ev in v.evidence[:EVIDENCE_SHOWN]]
    return "\n".join(lines)


def _clean(text: str) -> str:
    """XML 1.0 forbids most control characters: drop them (they may come from recorded content)."""
    return "".join(ch for ch in redact_text(text) if ch in "\t\n\r" or ord(ch) >= 0x20)


def _testcase(run: JudgedRun, v: Verdict) -> tuple[ET.Element, str]:
    """The testcase element and its outcome: passed, failure or skipped."""
    case = ET.Element("testcase", {"name": v.check, "classname": f"gatedrill.{run.drill}", "time": "0"})
    outcome = run.outcome(v)
    if outcome is Outcome.PASSED:
        return case, "passed"
    if outcome is not Outcome.FAILED:  # JUnit has no xfail: an expected or allowed non-pass is a skip
        ET.SubElement(case, "skipped", {"message": _clean(v.reason(run.allow_inconclusive))})
        return case, "skipped"
    failure = ET.SubElement(case, "failure", {"message": _clean(v.summary), "type": v.status.value})
    failure.text = _clean(_failure_body(v))
    return case, "failure"


def _suite(run: JudgedRun) -> ET.Element:
    meta = run.record.meta
    started = meta.load_start_wall
    ended = meta.end_wall
    suite = ET.Element("testsuite", {"name": run.drill})
    props = ET.SubElement(suite, "properties")
    gateway = meta.gateway
    for name, value in (("gateway", gateway.kind), ("gateway_url", gateway.url),
                        ("mutant", gateway.mutant), ("seed", meta.seed),
                        ("scale", meta.scale), ("config_hash", meta.config_hash),
                        ("outcome", meta.outcome), ("run_record", str(run.record.path))):
        if value is not None:
            ET.SubElement(props, "property", {"name": name, "value": _clean(str(value))})
    outcomes = []
    for v in run.verdicts:
        case, outcome = _testcase(run, v)
        suite.append(case)
        outcomes.append(outcome)
    for name in run.not_judged:
        case = ET.SubElement(suite, "testcase", {"name": name, "classname": f"gatedrill.{run.drill}", "time": "0"})
        ET.SubElement(case, "error", {"message": "check not available in this version", "type": "not_judged"})
        outcomes.append("error")
    ET.SubElement(suite, "system-out").text = _clean("\n".join(summary_lines(run.record)))
    suite.set("tests", str(len(outcomes)))
    suite.set("failures", str(outcomes.count("failure")))
    suite.set("errors", str(outcomes.count("error")))
    suite.set("skipped", str(outcomes.count("skipped")))
    suite.set("time", f"{max(0.0, (ended or 0) - (started or 0)) if started and ended else 0:.3f}")
    stamp = datetime.fromtimestamp(started, UTC) if started else datetime.now(UTC)
    suite.set("timestamp", stamp.strftime("%Y-%m-%dT%H:%M:%S"))
    suite.set("hostname", socket.gethostname())
    return suite


def junit_xml(runs: list[JudgedRun]) -> str:
    """A <testsuites> document with one <testsuite> per judged run (drill)."""
    root = ET.Element("testsuites", {"name": "gatedrill"})
    totals: dict[str, int] = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    time = 0.0
    for run in runs:
        suite = _suite(run)
        root.append(suite)
        for k in totals:
            totals[k] += int(suite.get(k, "0"))
        time += float(suite.get("time", "0"))
    for k, n in totals.items():
        root.set(k, str(n))
    root.set("time", f"{time:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(runs: JudgedRun | list[JudgedRun], path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(junit_xml(runs if isinstance(runs, list) else [runs]), encoding="utf-8")
    return p
