"""The HTML drill report: one self-contained file (inline CSS and SVG, no script, nothing fetched), readable by
someone who was not in the room: what ran, what the gate says, and the charts and tables behind each verdict."""

from __future__ import annotations

from pathlib import Path

from ..judged import JudgedRun
from ..run_figures import run_figures
from .arms_chart import overhead_arms_chart
from .charts import canary_split_chart, error_rate_chart, latency_chart, traffic_chart
from .incident_view import gameday_section
from .svg import esc
from .tables import continuity_table, facts_table, rollback_table, upstream_table, verdict_table

CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #111827; margin: 0;
       background: #f3f4f6; }
main { max-width: 1000px; margin: 0 auto; padding: 16px 20px 40px; }
header.gate { padding: 14px 20px; color: white; }
header.gate.pass { background: #15803d; } header.gate.fail { background: #b91c1c; }
header.gate h1 { margin: 0; font-size: 22px; } header.gate p { margin: 4px 0 0; opacity: .95; }
section { background: white; border: 1px solid #e5e7eb; border-radius: 8px; padding: 12px 16px; margin: 14px 0; }
h2 { font-size: 17px; margin: 4px 0 10px; } h3 { font-size: 14px; margin: 14px 0 6px; }
table { border-collapse: collapse; width: 100%; }
table.facts td:first-child { color: #4b5563; width: 190px; }
table.facts td { padding: 2px 8px 2px 0; vertical-align: top; word-break: break-word; }
table.grid th, table.grid td { border-bottom: 1px solid #e5e7eb; padding: 5px 8px; text-align: left;
                               vertical-align: top; }
table.grid th { background: #f9fafb; font-weight: 600; }
.badge { display: inline-block; padding: 1px 7px; border-radius: 10px; font-size: 12px; font-weight: 700;
         color: white; }
.badge.pass { background: #16a34a; } .badge.fail { background: #dc2626; }
.badge.inconclusive { background: #d97706; } .badge.xfail { background: #6b7280; }
.note { color: #4b5563; font-size: 12px; margin-top: 3px; } .muted { color: #6b7280; }
.bad { color: #b91c1c; font-weight: 600; }
details summary { cursor: pointer; color: #1d4ed8; margin-top: 4px; }
pre { white-space: pre-wrap; word-break: break-all; background: #f9fafb; border: 1px solid #e5e7eb; padding: 6px;
      font-size: 12px; max-height: 320px; overflow: auto; }
.diff { font-family: ui-monospace, monospace; font-size: 12px; word-break: break-all; }
.diff .minus { background: #fee2e2; color: #7f1d1d; } .diff .plus { background: #dcfce7; color: #14532d; }
svg.chart { max-width: 100%; height: auto; display: block; margin: 6px 0; background: white; }
p.caption { color: #4b5563; font-size: 12px; margin: 0 0 6px; }
footer { color: #6b7280; font-size: 12px; text-align: center; }
"""


def _section(title: str, body: str, caption: str = "", section_id: str = "") -> str:
    cap = f'<p class="caption">{esc(caption)}</p>' if caption else ""
    sid = f' id="{esc(section_id)}"' if section_id else ""
    return f"<section{sid}><h2>{esc(title)}</h2>{cap}{body}</section>"


def html_report(run: JudgedRun) -> str:
    """The whole report as one HTML string."""
    figures = run_figures(run.record)
    gw = figures["gateway"]
    gate = "pass" if run.passed else "fail"
    counts = {s: sum(1 for v in run.verdicts if v.status.value == s) for s in ("pass", "fail", "inconclusive")}
    title = f"gatedrill report: {figures['drill']} ({'passed' if run.passed else 'FAILED'})"
    sub = (f"gateway {gw.get('kind') or '?'}{' mutant ' + str(gw['mutant']) if gw.get('mutant') else ''}, "
           f"{figures['started'] or 'time unknown'} UTC, outcome {figures['outcome']}, seed {figures['seed']}, "
           f"config {figures['config_hash']}: {counts['pass']} passed, {counts['fail']} failed, "
           f"{counts['inconclusive']} inconclusive")
    parts = [
        _section("Run", facts_table(figures, run) + (f"<p>{esc(figures['description'])}</p>"
                                                      if figures["description"] else ""), section_id="run"),
        _section("Verdicts", verdict_table(run), "One row per check. Evidence lists the requests, sessions and time "
                 "spans behind a non-pass.", "verdicts"),
        _section("Traffic timeline", traffic_chart(run) + upstream_table(figures),
                 "Attempts each fake upstream received (its journal: ground truth), stacked. Shaded: fault windows; "
                 "dashed grey: timeline actions; dashed red/green: rollback detection and recovery from the rollback "
                 "verdict.", "timeline"),
        _section("Client errors", error_rate_chart(run),
                 "Share of client requests that did not succeed (non-2xx or a broken stream), by send time.", "errors"),
        _section("Latency", latency_chart(run, "ttft") + latency_chart(run, "total"),
                 "Percentiles per time bucket of successful requests, measured from the intended send time so a "
                 "stall is not hidden (coordinated omission). With few samples in a bucket p99 is close to its "
                 "maximum.", "latency"),
    ]
    gameday = gameday_section(run)
    if gameday is not None:
        parts.append(_section("Game day", gameday, "Actions taken by hand and the incident's marks (diamonds) beside "
                              "the scenario's actions and the gateway's reactions, from the rollback verdict. Time to "
                              "detect and to mitigate run from the first fault's start to the first incident-declared "
                              "and rollback-started marks.", "gameday"))
    arms = overhead_arms_chart(run)
    if arms is not None:
        parts.append(_section("Overhead by arm", arms, "The overhead verdict's figures: the gateway arm against the "
                              "same-run control arm, whose identical requests went straight to a fake. The budget "
                              "bounds the difference, so host noise that slows both arms cancels.", "overhead-arms"))
    split = canary_split_chart(run)
    parts.append(_section("Canary split", split or "<p class=\"muted\">canary_split was not judged in this run.</p>",
                          "Observed share of successful requests per upstream (bar and dot) with its 95% Wilson "
                          "interval (whiskers), against the configured weight (diamond). From the canary_split "
                          "verdict." if split else "", "canary-split"))
    rollback = rollback_table(run)
    parts.append(_section("Rollback", rollback or '<p class="muted">rollback was not judged in this run.</p>',
                          "From the rollback verdict: per fault window, when steady traffic stopped and what "
                          "clients saw." if rollback else "", "rollback"))
    continuity = continuity_table(run)
    parts.append(_section("Context continuity", continuity or
                          '<p class="muted">context_continuity was not judged in this run.</p>',
                          "Later turns whose upstream received a different history than the client sent, with the "
                          "first message atom where it diverges from the last intact turn." if continuity else "",
                          "continuity"))
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "img-src data:\">",
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>",
        f'<header class="gate {gate}"><h1>{esc(title)}</h1><p>{esc(sub)}</p></header>',
        "<main>", *parts,
        f"<footer>gatedrill {esc(figures['versions'].get('gatedrill', ''))}; report from {esc(figures['record'])}"
        "</footer></main></body></html>",
    ]) + "\n"


def write_html(run: JudgedRun, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(html_report(run), encoding="utf-8")
    return p
