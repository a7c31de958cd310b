"""The terminal summary after `run`, `check` and `report`: what happened, then one row per verdict.

On a TTY (and CI unset) it is a rich table; otherwise plain aligned text that stays greppable: every verdict line
starts with its label (PASS, FAIL, INCONCLUSIVE, XFAIL, PASS*), details are indented beneath it.
"""

from __future__ import annotations

import json
import os
import sys
from typing import IO, Any

import click

from ..record import RunRecord
from .headline import figures_line, key_figures, step_lines, thresholds_line
from .judged import JudgedRun
from .redact import redact, redact_text
from .run_figures import run_figures

EVIDENCE_SHOWN = 3
INDENT = " " * 16
STYLES = {"PASS": "green", "PASS*": "green", "FAIL": "bold red", "XFAIL": "yellow", "INCONCLUSIVE": "yellow"}


def use_rich(stream: IO[str] | None = None) -> bool:
    """Rich output only for a person at a terminal: never in CI (CI=true) or when stdout is piped."""
    stream = stream or sys.stdout
    if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def evidence_text(item: dict[str, Any]) -> str:
    """One evidence item as one line of compact JSON (redacted)."""
    return json.dumps(redact(item), default=str, ensure_ascii=False, separators=(", ", ": "))


def summary_lines(record: RunRecord) -> list[str]:
    """The run summary: requests, errors, rates, where traffic went, the timeline as applied, warnings."""
    f = run_figures(record)
    lines = [f"drill {f['drill']}: {f['requests']} requests, {f['client_errors']} client errors, "
             f"{f['achieved_rate'] or 0:.1f}/s achieved of {f['target_rate'] or 'closed-loop'}/s target"]
    for name, u in f["upstreams"].items():
        lines.append(f"  upstream {name:14s} {u['attempts']:6d} attempts ({u['share'] or 0:5.1%}), "
                     f"{u['failed']} failed")
    for ev, event in zip(f["timeline"], record.timeline, strict=True):
        mark = "ok" if ev["ok"] else f"FAILED {ev['detail']}"
        if ev.get("effective_s") is not None:
            mark += f", effective t+{ev['effective_s']:.2f}s"
        what = ("by hand: " if event.source == "manual" else "") + ev["what"]
        lines.append(f"  t+{ev['at_s'] or 0:6.2f}s (planned {ev['planned_s'] or 0:g}s) {what} "
                     f"{ev['note'] or ''} [{mark}]")
    lines += [f"  warning: {w}" for w in f["warnings"]]
    lines += [f"  warning: {line}" for line in condition_lines(record)]
    lines.append(f"run record: {record.path}  (judge it again: gatedrill check {record.path})")
    return lines


def condition_lines(record: RunRecord) -> list[str]:
    """What limited the run: the gateway's saturation and the host's strained spans (at most three)."""
    from ..host import run_condition
    from ..saturation import gateway_saturation

    out = []
    sat = gateway_saturation(record)
    if sat is not None and sat.saturated:
        out.append(sat.sentence())
    spans = run_condition(record)["spans"]
    out += [s["reason"] for s in spans[:3]]
    if len(spans) > 3:
        out.append(f"and {len(spans) - 3} more strained spans")
    return out


def print_run_summary(record: RunRecord) -> None:
    for line in summary_lines(record):
        click.echo(redact_text(line))


def verdict_lines(run: JudgedRun) -> list[str]:
    """Plain verdict lines: label, check, summary; then figures, an expected-failure note, evidence, the gate."""
    lines: list[str] = []
    if run.not_judged:
        lines.append(f"not judged (check not available in this version): {', '.join(run.not_judged)}")
    for v in run.verdicts:
        lines.append(f"{v.label:13s} {v.check:22s} {v.summary}")
        thresholds = thresholds_line(v)
        lines.append(f"{INDENT}figures: {figures_line(v)}" + (f"  thresholds: {thresholds}" if thresholds else ""))
        lines += [f"{INDENT}{step}" for step in step_lines(v)]
        if v.expected_failure:
            how = "passed although not expressible" if v.passed else "expected to fail"
            lines.append(f"{INDENT}{how} on this gateway: {v.expected_failure}")
        if not v.passed:
            lines += [f"{INDENT}evidence: {evidence_text(ev)}" for ev in v.evidence[:EVIDENCE_SHOWN]]
            if len(v.evidence) > EVIDENCE_SHOWN:
                lines.append(f"{INDENT}... {len(v.evidence) - EVIDENCE_SHOWN} more evidence items")
    lines.append(gate_line(run))
    return lines


def gate_line(run: JudgedRun) -> str:
    against = run.against_gate()
    if not against:
        return "gate: passed"
    return f"gate: FAILED by {', '.join(against)}"


def print_verdicts(run: JudgedRun) -> None:
    """Print the verdicts: a rich table on a terminal, plain lines otherwise."""
    if not use_rich():
        for line in verdict_lines(run):
            click.echo(redact_text(line))
        return
    _print_rich(run)


def _print_rich(run: JudgedRun) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(file=sys.stdout)
    if run.not_judged:
        console.print(f"[yellow]not judged (check not available in this version): {', '.join(run.not_judged)}")
    table = Table(title=f"verdicts: {escape(run.drill)}", show_lines=True, expand=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("summary", ratio=3)
    table.add_column("key figures", ratio=2)
    for v in run.verdicts:
        mark = v.label
        summary = escape(redact_text(v.summary))
        if v.expected_failure:
            summary += f"\n[dim]{'passed although not expressible' if v.passed else 'expected to fail'} on this " \
                       f"gateway: {escape(v.expected_failure)}[/dim]"
        steps = step_lines(v)
        if steps:
            summary += "\n[dim]" + "\n".join(escape(redact_text(step)) for step in steps) + "[/dim]"
        thresholds = thresholds_line(v)
        figures = "\n".join([*(f"{n}={val}" for n, val in key_figures(v)), f"n={v.sample_size}"])
        table.add_row(f"[{STYLES[mark]}]{mark}", escape(v.check), summary,
                      escape(figures) + (f"\n[dim]{escape(thresholds)}[/dim]" if thresholds else ""))
    console.print(table)
    for v in run.verdicts:
        if v.passed or not v.evidence:
            continue
        console.print(f"[{STYLES[v.label]}]{v.label}[/] {escape(v.check)} evidence:")
        for ev in v.evidence[:EVIDENCE_SHOWN]:
            console.print(f"  {escape(evidence_text(ev))}", soft_wrap=True)
        if len(v.evidence) > EVIDENCE_SHOWN:
            console.print(f"  [dim]... {len(v.evidence) - EVIDENCE_SHOWN} more[/dim]")
    line = gate_line(run)
    console.print(f"[{'green' if run.passed else 'bold red'}]{escape(line)}")
