"""The gateway scorecard: one row per gateway build (version, install, dependencies), one column per drill and
check, each cell pass / fail / partial / not expressible (or inconclusive / error) with the offered rate it ran at,
whether the gateway kept up, and links to the findings that explain it. Rows are kept in a dated history (JSON
lines), so a later run shows what a new build fixed or broke.

Built from the behaviour matrix's cells (bench/gateway_matrix.py), which hold the verdicts and figures of each
gateway x drill run; this module only reads them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from .findings import Finding

Mark = Literal["pass", "fail", "partial", "not expressible", "inconclusive", "error", "not run"]
LEGEND = ("pass: the check passed; fail: it failed; partial: passed although part of the drill's intent is not "
          "expressible on the gateway (PASS*); not expressible: the gateway cannot express what the check needs "
          "(XFAIL, or the drill cannot be configured at all); inconclusive: not enough data at that scale.")


class ScoreCell(BaseModel):
    drill: str
    check: str
    mark: Mark
    summary: str = ""
    offered_rate: float | None = Field(default=None, description="arrivals per second the load offered")
    achieved_rate: float | None = None
    saturated: bool | None = Field(default=None, description="None: not measured (closed load, old record)")
    note: str = Field(default="", description="what the figures mean beyond the verdict (e.g. the gateway's own "
                                              "errors)")
    findings: list[str] = Field(default_factory=list)
    date: str = Field(default="", description="the run's UTC date (a row merged from several runs mixes dates)")
    scale: float | None = None
    run: str = Field(default="", description="the run record's folder (for `gatedrill compare OLD NEW`)")

    @property
    def column(self) -> str:
        return f"{self.drill} / {self.check}"


class ScoreRow(BaseModel):
    date: str = Field(description="UTC date of the matrix run, YYYY-MM-DD")
    gateway: str
    version: str
    install: str
    dependencies: dict[str, str] = Field(default_factory=dict)
    scale: float
    cells: list[ScoreCell] = Field(default_factory=list)
    note: str = Field(default="", description="why a gateway has no cells (not installed, no adapter)")

    @property
    def key(self) -> tuple[str, str, str, float]:
        return (self.date, self.gateway, self.version, self.scale)


def mark_of(verdict: dict[str, Any]) -> Mark:
    """A matrix verdict as a scorecard mark."""
    status, expected = verdict["status"], bool(verdict.get("expected_failure"))
    if status == "pass":
        return "partial" if expected else "pass"
    if status == "fail":
        return "not expressible" if expected else "fail"
    return "inconclusive" if status == "inconclusive" else "error"


def cell_note(check: str, figures: dict[str, Any]) -> str:
    """The figures a reader needs beside the mark: errors the gateway made itself (no upstream attempt) are named
    as such, and overhead is given only below saturation (above it, it is queueing)."""
    parts = []
    own, errors = figures.get("own_errors") or 0, figures.get("client_errors") or 0
    if errors and check in ("accounting", "streaming_integrity", "error_mapping", "rollback"):
        text = f"{errors}/{figures.get('requests')} client errors"
        if own:
            statuses = ", ".join(f"{n} x {s}" for s, n in sorted((figures.get("own_error_statuses") or {}).items()))
            text += f", {own} of them the gateway's own ({statuses}; no upstream attempt)"
            if figures.get("own_error_sample"):
                text += f': "{figures["own_error_sample"][:90]}"'
        parts.append(text)
    if check == "overhead" and figures.get("overhead_p50_ms") is not None:
        if figures.get("saturated"):
            parts.append("overhead not quoted: the gateway saturated (queueing)")
        else:
            p99 = figures.get("overhead_p99_ms") or 0
            parts.append(f"overhead p50 {figures['overhead_p50_ms']:.3g} / p99 {p99:.3g} ms")
    return "; ".join(parts)


def row_from_cells(cells: list[dict[str, Any]], build: dict[str, Any], date: str, scale: float,
                   checks_of: dict[str, list[str]], findings: tuple[Finding, ...] | list[Finding]) -> ScoreRow:
    """One gateway's row from its matrix cells (every drill it ran); `checks_of` names each drill's checks, for
    drills that could not run at all."""
    row = ScoreRow(date=date, gateway=build["gateway"], version=build["version"], install=build["install"],
                   dependencies=build.get("dependencies") or {}, scale=scale)
    for cell in cells:
        drill, figures = cell["drill"], cell.get("figures") or {}
        rates: dict[str, Any] = {"offered_rate": figures.get("offered_rate"),
                                 "achieved_rate": figures.get("achieved_rate"), "saturated": figures.get("saturated")}
        if cell["status"] != "ran":
            mark: Mark = "not expressible" if cell["status"] == "not expressible" else "error"
            for check in checks_of.get(drill, ["(run)"]):
                row.cells.append(ScoreCell(drill=drill, check=check, mark=mark,
                                           summary=(cell.get("error") or "")[:200]))
            continue
        for v in cell["verdicts"]:
            row.cells.append(ScoreCell(drill=drill, check=v["check"], mark=mark_of(v), summary=v.get("summary") or "",
                                       note=cell_note(v["check"], figures), run=cell.get("run") or "", **rates))
    for c in row.cells:
        c.findings = [f.id for f in findings if f.affects(row.gateway, row.version, c.drill, c.check)]
        c.date, c.scale = date, scale
    return row


def read_history(path: Path) -> list[ScoreRow]:
    if not path.exists():
        return []
    return [ScoreRow.model_validate_json(line) for line in path.read_text().splitlines() if line.strip()]


def add_to_history(history: list[ScoreRow], rows: list[ScoreRow]) -> list[ScoreRow]:
    """`history` with `rows` added; a row of the same date, gateway, version and scale is replaced."""
    keys = {r.key for r in rows}
    return sorted([r for r in history if r.key not in keys] + rows, key=lambda r: (r.date, r.gateway))


def write_history(path: Path, history: list[ScoreRow]) -> None:
    path.write_text("".join(r.model_dump_json() + "\n" for r in history))


def latest_rows(history: list[ScoreRow]) -> list[ScoreRow]:
    """Per gateway build (gateway, version): the newest cell of every column, from whichever run made it (a small
    run of two drills replaces those columns only); a build with no cells keeps its newest note, and is left out
    once another build of the gateway has cells (a gateway that was missing or had no adapter, and now ran)."""
    out: dict[tuple[str, str], ScoreRow] = {}
    for r in sorted(history, key=lambda r: r.date):
        key = (r.gateway, r.version)
        if key not in out:
            out[key] = r.model_copy(deep=True)
            continue
        merged = out[key]
        cells = {c.column: c for c in merged.cells} | {c.column: c for c in r.cells}
        merged.cells = list(cells.values())
        merged.date, merged.scale = r.date, r.scale
        merged.install, merged.dependencies, merged.note = r.install, r.dependencies, r.note
    ran = {r.gateway for r in out.values() if r.cells}
    return sorted((r for r in out.values() if r.cells or r.gateway not in ran), key=lambda r: (r.gateway, r.version))


def _runs_by_gateway(history: list[ScoreRow]) -> dict[str, list[ScoreRow]]:
    """Each gateway's rows that ran cells, oldest first."""
    by_gateway: dict[str, list[ScoreRow]] = {}
    for r in sorted(history, key=lambda r: r.date):
        if r.cells:
            by_gateway.setdefault(r.gateway, []).append(r)
    return by_gateway


def changes(history: list[ScoreRow]) -> list[str]:
    """Per gateway, what its newest row changed against its previous one (any version): one line per cell whose
    mark moved."""
    lines: list[str] = []
    for gateway, rows in sorted(_runs_by_gateway(history).items()):
        if len(rows) < 2:
            continue
        old, new = rows[-2], rows[-1]
        before = {c.column: c.mark for c in old.cells}
        moved = [f"{c.column}: {before[c.column]} → {c.mark}" for c in new.cells
                 if c.column in before and before[c.column] != c.mark]
        head = (f"**{gateway}** {old.version} ({old.date}, scale {old.scale:g}) → {new.version} "
                f"({new.date}, scale {new.scale:g})")
        lines.append(f"- {head}: " + ("; ".join(moved) if moved else "no mark changed in the columns both ran"))
    return lines


def release_comparisons(history: list[ScoreRow]) -> list[str]:
    """Per gateway, its newest run against its previous one, drill by drill, with `gatedrill compare` (significance
    tests on overhead, errors, split, attempts, detection and recovery), where both run records are still on disk and
    ran at the same scale; one line per drill."""
    from .compare import compare_runs

    lines: list[str] = []
    for gateway, rows in sorted(_runs_by_gateway(history).items()):
        if len(rows) < 2 or rows[-2].scale != rows[-1].scale:
            continue
        old = {c.drill: c.run for c in rows[-2].cells if c.run}
        for drill, run in dict.fromkeys((c.drill, c.run) for c in rows[-1].cells if c.run):
            before = old.get(drill)
            if not before or not Path(before).is_dir() or not Path(run).is_dir():
                continue
            comparison = compare_runs(before, run)
            verdict = (f"regression: {', '.join(comparison.regressions)}" if comparison.regressed
                       else "no regression")
            lines.append(f"- **{gateway}** {drill}: {rows[-2].version} ({rows[-2].date}) → {rows[-1].version} "
                         f"({rows[-1].date}): {verdict} (`gatedrill compare {before} {run}`)")
    return lines


def _rate(c: ScoreCell) -> str:
    run = f"{c.date}, scale {c.scale:g}: " if c.scale is not None else ""
    if c.offered_rate is None:
        return run + "rate and saturation not recorded"
    kept = {True: "saturated", False: "kept up", None: "saturation not measured"}[c.saturated]
    return f"{run}{c.offered_rate:.3g} req/s offered, {kept}"


def cell_markdown(c: ScoreCell) -> str:
    links = " ".join(f"[{fid}](findings.md#{fid})" for fid in c.findings)
    parts = [f"**{c.mark}**" + (f" {links}" if links else ""), _rate(c)]
    if c.note:
        parts.append(c.note)
    return "<br>".join(p.replace("|", "\\|") for p in parts)


def scorecard_markdown(history: list[ScoreRow], generated_by: str, comparisons: list[str] | None = None) -> str:
    """The scorecard page's body: the newest row of each gateway build, the legend, and what changed."""
    rows = latest_rows(history)
    columns = list(dict.fromkeys(c.column for r in rows for c in r.cells))
    lines = [f"Generated by `{generated_by}`. {LEGEND} Each cell gives the rate the load offered and whether the "
             "gateway kept up; figures from a saturated gateway are queueing, not overhead. A link names the "
             "[finding](findings.md) that explains the cell.", ""]
    lines += ["| gateway | version, install | " + " | ".join(columns) + " |",
              "|---|---|" + "---|" * len(columns)]
    for r in rows:
        deps = "".join(f"<br>{k} {v}" for k, v in r.dependencies.items())
        at = {c.column: c for c in r.cells}
        cells = [cell_markdown(at[col]) if col in at else ("—" if r.cells else "") for col in columns]
        if not r.cells:
            cells = [f"not run: {r.note}"] + [""] * (len(columns) - 1) if columns else []
        lines.append(f"| {r.gateway} | {r.version}<br>{r.install}{deps} | " + " | ".join(cells) + " |")
    lines += ["", "### What changed", ""]
    lines += changes(history) or ["- Nothing to compare yet: each gateway has one run in the history."]
    if comparisons:
        lines += ["", "Release comparison of the runs behind the two newest rows (`gatedrill compare`):", "",
                  *comparisons]
    return "\n".join(lines) + "\n"


def scorecard_json(history: list[ScoreRow]) -> str:
    return json.dumps({"rows": [r.model_dump() for r in latest_rows(history)]}, indent=2) + "\n"
