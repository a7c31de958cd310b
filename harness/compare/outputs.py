"""A comparison as a one-screen terminal summary, JUnit XML (one testcase per metric and per verdict change), an
HTML section (in a self-contained page) and JSON."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..report.html.page import CSS
from ..report.html.svg import esc
from .comparison import Comparison


def summary_lines(c: Comparison) -> list[str]:
    b, k = c.baseline, c.candidate
    lines = [f"compare {b.drill}: baseline {b.path} ({b.gateway}, seed {b.seed}) vs candidate {k.path} "
             f"({k.gateway}, seed {k.seed}); alpha {c.alpha_per_test:.2g} per test"]
    for m in c.metrics:
        mark = "REGRESSION" if m.regression else "INCONCLUSIVE" if m.inconclusive else "ok"
        lines.append(f"  {mark:<11} {m.metric:<21} {m.summary}")
    for ch in c.changes:
        lines.append(f"  {ch.kind:<11} {ch.check:<21} {ch.baseline} -> {ch.candidate}"
                     + (f": {ch.summary[:160]}" if ch.summary else ""))
    if c.regressed:
        lines.append(f"result: REGRESSION ({', '.join(c.regressions)})")
    else:
        lines.append("result: no regression" + (f" (inconclusive: {', '.join(c.inconclusive)})"
                                                 if c.inconclusive else ""))
    return lines


def to_json(c: Comparison) -> dict[str, Any]:
    def run(m: Any) -> dict[str, Any]:
        return {"path": m.path, "drill": m.drill, "gateway": m.gateway, "seed": m.seed, "requests": m.requests,
                "verdicts": {n: v.status.value for n, v in m.verdicts.items()}}

    return {"baseline": run(c.baseline), "candidate": run(c.candidate), "alpha_per_test": c.alpha_per_test,
            "regressed": c.regressed, "regressions": c.regressions, "inconclusive": c.inconclusive,
            "metrics": [asdict(m) for m in c.metrics],
            "verdict_changes": [asdict(ch) | {"kind": ch.kind} for ch in c.changes]}


def junit_xml(c: Comparison) -> str:
    suite = ET.Element("testsuite", name=f"gatedrill.compare.{c.baseline.drill}",
                       tests=str(len(c.metrics) + len(c.changes)), failures=str(len(c.regressions)),
                       skipped=str(len(c.inconclusive)))
    for m in c.metrics:
        case = ET.SubElement(suite, "testcase", classname=f"gatedrill.compare.{c.baseline.drill}", name=m.metric)
        if m.regression:
            fail = ET.SubElement(case, "failure", message=m.summary, type="regression")
            fail.text = json.dumps(m.figures, default=str, indent=1)
        elif m.inconclusive:
            ET.SubElement(case, "skipped", message=m.summary)
        else:
            ET.SubElement(case, "system-out").text = m.summary
    for ch in c.changes:
        case = ET.SubElement(suite, "testcase", classname=f"gatedrill.compare.{c.baseline.drill}.checks",
                             name=f"{ch.check}: {ch.baseline} -> {ch.candidate}")
        if ch.kind == "new FAIL":
            ET.SubElement(case, "failure", message=ch.summary or "newly failing", type="new_fail")
    root = ET.Element("testsuites")
    root.append(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def html_section(c: Comparison) -> str:
    """The comparison as one report section: a row per metric and per verdict change."""
    rows = []
    for m in c.metrics:
        badge = ('<span class="badge fail">regression</span>' if m.regression else
                 '<span class="badge inconclusive">inconclusive</span>' if m.inconclusive else
                 '<span class="badge pass">ok</span>')
        rows.append(f"<tr><td>{badge}</td><td>{esc(m.metric)}</td><td>{esc(m.summary)}</td></tr>")
    for ch in c.changes:
        cls = "fail" if ch.kind == "new FAIL" else "pass" if ch.kind == "fixed FAIL" else "inconclusive"
        rows.append(f'<tr><td><span class="badge {cls}">{esc(ch.kind)}</span></td><td>{esc(ch.check)}</td>'
                    f"<td>{esc(ch.baseline)} &rarr; {esc(ch.candidate)} {esc(ch.summary)}</td></tr>")
    result = f"REGRESSION: {', '.join(c.regressions)}" if c.regressed else "no regression"
    return (f'<section id="compare"><h2>Release comparison: {esc(result)}</h2>'
            f'<p class="caption">Baseline {esc(c.baseline.path)} ({esc(c.baseline.gateway)}, seed {c.baseline.seed}) '
            f"vs candidate {esc(c.candidate.path)} ({esc(c.candidate.gateway)}, seed {c.candidate.seed}); one-sided "
            f"tests at alpha {c.alpha_per_test:.2g} each, with effect-size gates.</p>"
            '<table class="grid"><tr><th></th><th>metric</th><th>baseline &rarr; candidate</th></tr>'
            + "".join(rows) + "</table></section>")


def html_page(c: Comparison) -> str:
    gate = "fail" if c.regressed else "pass"
    title = f"gatedrill compare: {c.baseline.drill} ({'REGRESSION' if c.regressed else 'no regression'})"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
            f'<header class="gate {gate}"><h1>{esc(title)}</h1></header><main>{html_section(c)}</main>'
            "</body></html>\n")


def write_outputs(c: Comparison, html: str | None = None, junit: str | None = None,
                  json_out: str | None = None) -> list[Path]:
    written = []
    for path, text in ((html, html_page), (junit, junit_xml),
                       (json_out, lambda x: json.dumps(to_json(x), indent=2, default=str) + "\n")):
        if path:
            p = Path(path)
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text(c), encoding="utf-8")
            written.append(p)
    return written
