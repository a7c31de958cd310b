"""The report's game-day section: the people's actions and marks beside the gateway's reactions, on one time axis
(three rows: by hand, scenario, gateway) with the fault windows shaded, time to detect and time to mitigate drawn as
spans from the fault's start, and the same moments as a table."""

from __future__ import annotations

from ...checks.fault_windows import fault_windows
from ..headline import short
from ..incident import GATEWAY, HUMAN, SCENARIO, Incident, incident
from ..judged import JudgedRun
from .svg import ACTION, FAULT, Chart, esc

MARK = "#7c3aed"
ROWS = {HUMAN: 2.5, SCENARIO: 1.5, GATEWAY: 0.5}
ROW_COLORS = {HUMAN: MARK, SCENARIO: ACTION, GATEWAY: "#b91c1c"}


def _figure(label: str, value: float | None) -> str:
    return f"<tr><td>{esc(label)}</td><td>{'not marked' if value is None else esc(short(value)) + ' s'}</td></tr>"


def incident_chart(run: JudgedRun, inc: Incident) -> str:
    record = run.record
    t0 = record.load_start()
    end = max(record.run_end() - t0, max((m.t for m in inc.moments), default=0.0), 1.0)
    chart = Chart("Game day: what people did beside what the gateway did", "time since load start (s)", "",
                  (0.0, end), (0.0, 3.0), height=230, left=110, chart_id="gameday", y_ticks=[])
    for w in fault_windows(record):
        chart.band(w.start - t0, w.end - t0, FAULT, "", f"{w.upstream} faulted from t+{w.start - t0:.1f} s")
        chart.add_legend("fault window", FAULT, "band")
    for who, y in ROWS.items():
        chart.y_category(y, who)
    for m in inc.moments:
        color = MARK if m.who == HUMAN else ROW_COLORS[m.who]
        chart.marker(m.t, ROWS[m.who], color if m.ok else "#6b7280", f"t+{m.t:.2f} s {m.who}: {m.what}",
                     shape="diamond" if m.who == HUMAN else "circle", size=5.5)
    spans = (("time to detect", inc.time_to_detect, "incident_declared", 2.85),
             ("time to mitigate", inc.time_to_mitigate, "rollback_started", 2.15))
    for label, value, mark, y in spans:
        if value is None or inc.start_s is None:
            continue
        chart.segment(inc.start_s, y, inc.marks[mark], y, MARK, 2.5, f"{label}: {value:g} s from the fault's start")
        at = inc.marks[mark]
        chart.vline(at, MARK, f"{label} {value:g}s", f"{mark.replace('_', ' ')} at t+{at:g} s")
    if inc.gateway_time_to_detect is not None and inc.gateway_detected_s is not None \
            and inc.gateway_window_s is not None:
        chart.segment(inc.gateway_window_s, 0.15, inc.gateway_detected_s, 0.15, ROW_COLORS[GATEWAY], 2.5,
                      f"the gateway's own detection: {inc.gateway_time_to_detect:g} s after its fault window began")
    chart.add_legend("by hand (action or mark)", MARK, "marker")
    chart.add_legend("scenario action", ACTION, "marker")
    chart.add_legend("gateway reaction (rollback verdict)", ROW_COLORS[GATEWAY], "marker")
    return chart.render()


def gameday_section(run: JudgedRun) -> str | None:
    """The section's body, or None when the run had nothing done by hand and no mark."""
    inc = incident(run)
    if inc is None:
        return None
    start = (f"the first fault began at t+{short(inc.start_s)} s on {esc(inc.upstream)}" if inc.start_s is not None
             else "nothing was faulted, so no time is measured")
    figures = ('<table class="facts">' + _figure("time to detect (incident declared)", inc.time_to_detect)
               + _figure("time to mitigate (rollback started)", inc.time_to_mitigate)
               + _figure("time to resolve (resolved)", inc.time_to_resolve)
               + _figure("the gateway's own detection (rollback verdict, from the start of its fault window)",
                         inc.gateway_time_to_detect) + "</table>")
    rows = "".join(f"<tr><td>{m.t:.2f}</td><td>{esc(m.who)}</td><td>{'' if m.ok else '<span class=bad>'}"
                   f"{esc(m.what)}{'' if m.ok else '</span>'}</td></tr>" for m in inc.moments)
    table = ('<table class="grid"><tr><th>t+ (s)</th><th>who</th><th>what</th></tr>' + rows + "</table>")
    return f"<p>Times are from the fault's start: {start}.</p>{figures}{incident_chart(run, inc)}{table}"
