"""The report's HTML tables: header facts, upstream traffic, verdicts with evidence, rollback windows and the
context-continuity breaks with their first differing message. Everything from the record is escaped."""

from __future__ import annotations

import json
from typing import Any

from ...checks import Outcome
from ..headline import key_figures, short, step_lines, thresholds_line
from ..judged import JudgedRun
from ..redact import redact
from .charts import verdict_of
from .svg import esc

EVIDENCE_SHOWN = 20
CONTINUITY_ROWS = 30


def _row(cells: list[str], tag: str = "td") -> str:
    return "<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>"


def facts_table(figures: dict[str, Any], run: JudgedRun) -> str:
    gw = figures["gateway"]
    gateway = " ".join(str(x) for x in (gw.get("kind"), gw.get("url")) if x) or "unknown"
    if gw.get("mutant"):
        gateway += f" (mutant: {gw['mutant']})"
    facts = [
        ("drill", figures["drill"]), ("gateway", gateway), ("when (load start, UTC)", figures["started"] or "unknown"),
        ("outcome", figures["outcome"] + (f": {figures['error']}" if figures.get("error") else "")),
        ("seed", figures["seed"]), ("scale", figures["scale"]), ("config hash", figures["config_hash"]),
        ("duration", f"{figures['duration_s']:g} s"),
        ("requests", f"{figures['requests']} ({figures['client_errors']} client errors)"),
        ("rate", f"{short(figures['achieved_rate'] or 0.0)}/s achieved of "
                 f"{figures['target_rate'] or 'closed-loop'}/s target"),
        ("gate", ("passed" if run.passed else "FAILED")
         + (" (inconclusive verdicts allowed)" if run.allow_inconclusive else "")),
        ("versions", ", ".join(f"{k} {v}" for k, v in figures["versions"].items() if k != "platform")),
        ("run record", figures["record"]),
    ]
    return '<table class="facts">' + "".join(_row([esc(k), esc(v)]) for k, v in facts) + "</table>"


def upstream_table(figures: dict[str, Any]) -> str:
    rows = [_row(["upstream", "attempts", "share", "failed attempts"], "th")]
    for name, u in figures["upstreams"].items():
        rows.append(_row([esc(name), str(u["attempts"]), f"{100 * (u['share'] or 0):.1f}%", str(u["failed"])]))
    events = [_row(["t+ (s)", "planned (s)", "action", "upstream", "note", "result"], "th")]
    for ev in figures["timeline"]:
        events.append(_row([f"{ev['at_s'] or 0:.2f}", f"{ev['planned_s'] or 0:g}", esc(ev["action"]),
                            esc(ev["upstream"] or ev["what"].removeprefix(ev["action"]).strip()), esc(ev["note"] or ""),
                            "ok" if ev["ok"] else f'<span class="bad">FAILED {esc(ev["detail"])}</span>']))
    out = '<table class="grid">' + "".join(rows) + "</table>"
    if figures["timeline"]:
        out += '<h3>Timeline actions (as applied)</h3><table class="grid">' + "".join(events) + "</table>"
    if figures["warnings"]:
        out += "<ul class=\"warnings\">" + "".join(f"<li>warning: {esc(w)}</li>" for w in figures["warnings"]) + "</ul>"
    return out


def _evidence_block(items: list[dict[str, Any]], open_: bool) -> str:
    lines = "\n".join(json.dumps(redact(ev), default=str, ensure_ascii=False) for ev in items[:EVIDENCE_SHOWN])
    more = f"\n... {len(items) - EVIDENCE_SHOWN} more (see the JSON report)" if len(items) > EVIDENCE_SHOWN else ""
    return (f'<details{" open" if open_ else ""}><summary>evidence ({len(items)})</summary>'
            f"<pre>{esc(lines + more)}</pre></details>")


def verdict_table(run: JudgedRun) -> str:
    rows = [_row(["verdict", "check", "summary", "key figures", "thresholds", "n"], "th")]
    first_open = True
    for v in run.verdicts:
        mark = v.label
        css = {"PASS": "pass", "PASS*": "pass", "FAIL": "fail", "XFAIL": "xfail", "INCONCLUSIVE": "inconclusive"}[mark]
        summary = esc(v.summary)
        steps = step_lines(v)
        if steps:
            summary += '<ul class="steps">' + "".join(f"<li>{esc(step)}</li>" for step in steps) + "</ul>"
        if v.expected_failure:
            how = "passed although not expressible" if v.passed else "expected to fail"
            summary += f'<div class="note">{how} on this gateway: {esc(v.expected_failure)}</div>'
        if not v.critical:
            summary += '<div class="note">not critical: does not count against the gate</div>'
        figs = "<br>".join(f"{esc(n)} = {esc(val)}" for n, val in key_figures(v))
        rows.append(f'<tr class="{css}"><td><span class="badge {css}">{esc(mark)}</span></td><td>{esc(v.check)}</td>'
                    f"<td>{summary}</td><td>{figs}</td><td>{esc(thresholds_line(v))}</td><td>{v.sample_size}</td></tr>")
        if not v.passed and v.evidence:
            block = _evidence_block(v.evidence, first_open and run.outcome(v) is Outcome.FAILED)
            rows.append(f'<tr class="evidence"><td></td><td colspan="5">{block}</td></tr>')
            first_open = False
    for name in run.not_judged:
        rows.append(f'<tr class="fail"><td><span class="badge fail">NOT JUDGED</span></td><td>{esc(name)}</td>'
                    f"<td>check not available in this version (counts against the gate)</td><td></td><td></td>"
                    f"<td></td></tr>")
    return '<table class="grid verdicts">' + "".join(rows) + "</table>"


def rollback_table(run: JudgedRun) -> str | None:
    v = verdict_of(run, "rollback")
    if v is None or not v.figures.get("windows"):
        return None
    rows = [_row(["fault window (s)", "note", "detection (s)", "attempts to it", "probes", "client requests",
                  "client errors"], "th")]
    for w in v.figures["windows"]:
        span = w.get("span_s") or ["?", "?"]
        det = w.get("detection_s")
        rows.append(_row([f"{short(span[0])} to {short(span[1])}", esc(w.get("note") or ""),
                          '<span class="bad">never</span>' if det is None else esc(short(det)),
                          str(w.get("attempts")), str(w.get("probes")), str(w.get("client_requests")),
                          str(w.get("client_errors"))]))
    rec = v.figures.get("recovery_s")
    tail = (f"<p>Recovery after the last fault cleared: {esc(short(rec)) + ' s' if rec is not None else 'not seen'}"
            f"; client error rate in faults {esc(short(v.figures.get('client_error_rate')))} "
            f"(95% CI {esc(short(v.figures.get('client_error_rate_ci95')))}).</p>")
    return '<table class="grid">' + "".join(rows) + "</table>" + tail


def _atom_diff(first: dict[str, Any] | None) -> str:
    if not first:
        return '<span class="muted">no earlier intact turn of this session to compare with</span>'
    if "expected" not in first:
        return f"atoms up to #{esc(first.get('index'))} intact; {esc(first.get('note') or '')}"
    return (f'<div class="diff"><div>first differing message atom #{esc(first.get("index"))}</div>'
            f'<div class="minus">- expected: {esc(first.get("expected"))}</div>'
            f'<div class="plus">+ received: {esc(first.get("got") if first.get("got") is not None else "(nothing)")}'
            f"</div></div>")


def continuity_table(run: JudgedRun) -> str | None:
    v = verdict_of(run, "context_continuity")
    if v is None:
        return None
    f = v.figures
    head = (f"<p>{esc(v.label)}: {esc(v.summary)}. Later turns judged: {esc(f.get('later_turns', 0))}, "
            f"mismatched: {esc(f.get('mismatched', 0))}, sessions broken: {esc(f.get('sessions_broken', 0))} of "
            f"{esc(f.get('multi_turn_sessions', 0))} multi-turn sessions, upstream switches: "
            f"{esc(f.get('upstream_switches', 0))}.</p>")
    sessions: dict[str, list[dict[str, Any]]] = {}
    for ev in v.evidence:
        if "session_id" in ev:
            sessions.setdefault(str(ev["session_id"]), []).append(ev)
    if not sessions:
        return head
    rows = [_row(["session", "first broken turn (all broken)", "upstream (previous)",
                  "messages sent / atoms received (turn)", "digest expected / received", "first divergence"], "th")]
    for sid, evs in list(sessions.items())[:CONTINUITY_ROWS]:
        ev = redact(min(evs, key=lambda e: e.get("turn") or 0))
        turns = ", ".join(str(e.get("turn")) for e in evs)
        rows.append(_row([
            esc(sid), f"{esc(ev.get('turn'))} ({esc(turns)})",
            f"{esc(ev.get('upstream'))} ({esc(ev.get('previous_upstream') or 'none')})",
            f"{esc(ev.get('client_messages'))} / {esc(ev.get('atoms_received'))} ({esc(ev.get('turn_received'))})",
            f"<code>{esc(ev.get('expected_digest'))}</code><br><code>{esc(ev.get('got_digest'))}</code>",
            _atom_diff(ev.get("first_differing_atom")),
        ]))
    more = (f"<p>... {len(sessions) - CONTINUITY_ROWS} more sessions</p>" if len(sessions) > CONTINUITY_ROWS else "")
    broken = f.get("sessions_broken", len(sessions))
    left_out = sum(int(ev.get("more") or 0) for ev in v.evidence)
    note = (f'<p class="note">{len(sessions)} of {esc(broken)} broken sessions shown, from the verdict\'s evidence'
            + (f" ({left_out} more broken turns left out of it)" if left_out else "") + ".</p>")
    return head + '<table class="grid continuity">' + "".join(rows) + "</table>" + more + note
