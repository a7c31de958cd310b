"""The gateway behaviour matrix and scorecard: every built-in drill against each gateway (reference, LiteLLM,
Portkey, nginx, HAProxy), judged, as drill x check x gateway with key figures.
One command:

    python bench/gateway_matrix.py                       # full scale, every drill, every installed gateway
    python bench/gateway_matrix.py --scale 0.3 --drills canary-split --gateways reference,nginx

Writes bench/results/gateway-matrix.json (every cell: verdicts, figures, limitations) and the markdown tables into
docs/behaviour-matrix.md between the `gateway-matrix` marker comments. A gateway that is not installed is skipped
with a note. It also adds one row per gateway build (version, install method, relevant dependencies) to the dated
history bench/results/scorecard-history.jsonl and rewrites the scorecard from it: docs/scorecard.md (between the
`scorecard` markers) and bench/results/scorecard.json. Each cell says the rate the load offered, whether the gateway
kept up (harness/saturation.py), and links the findings that explain it (harness/findings/findings.yaml).
Each cell is cached in bench/results/gateway-matrix/ by (gateway, drill, scale, seed); a rerun only runs missing
cells (`--fresh` runs them all again), so an interrupted matrix resumes. Run records go to runs/gateway-matrix/.

A gateway that could not keep up with a drill's load is named in the key figures (its saturation rate: overhead
there is queueing). `--knees litellm` also sweeps canary-split's rate on those gateways (`gatedrill sweep`) and
writes each knee, the overhead below it and the saturation rate between the `gateway-knee` markers;
`--knees-only` does only that.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gatedrill.fakes.errors import ConfigError  # noqa: E402
from gatedrill.harness.checks import gate, judge  # noqa: E402
from gatedrill.harness.record import RunRecord  # noqa: E402
from gatedrill.harness.runner import RunOptions, run  # noqa: E402
from gatedrill.scenarios import builtin_names  # noqa: E402

GATEWAYS = ("reference", "litellm", "portkey", "nginx", "haproxy")
RESULTS = ROOT / "bench" / "results"
CELLS = RESULTS / "gateway-matrix"
RUNS = ROOT / "runs" / "gateway-matrix"
BEGIN, END = "<!-- gateway-matrix:begin -->", "<!-- gateway-matrix:end -->"
CARD_BEGIN, CARD_END = "<!-- scorecard:begin -->", "<!-- scorecard:end -->"
HISTORY = RESULTS / "scorecard-history.jsonl"
KNEE_BEGIN, KNEE_END = "<!-- gateway-knee:begin -->", "<!-- gateway-knee:end -->"
KNEE_RATES = (2.0, 5.0, 10.0, 20.0, 30.0, 40.0, 60.0, 80.0)
MARK = {"pass": "PASS", "fail": "FAIL", "inconclusive": "INCONCL."}


def missing(gateway: str) -> str | None:
    """Why `gateway` cannot run here (not installed), or None."""
    if gateway == "nginx":
        from gatedrill.harness.gateways.nginx import find_js_module

        if shutil.which("nginx") is None and shutil.which("nginx", path="/usr/sbin") is None:
            return "nginx is not installed (apt-get install -y nginx libnginx-mod-http-js)"
        try:
            find_js_module()
        except ConfigError as exc:
            return str(exc)
    if gateway == "litellm" and shutil.which("litellm") is None:
        return "the LiteLLM proxy is not installed (pip install 'gatedrill[litellm]')"
    if gateway == "portkey" and (shutil.which("node") is None or shutil.which("npm") is None):
        return "node and npm are not installed (the Portkey gateway is an npm package)"
    if gateway == "haproxy":
        from gatedrill.harness.gateways.haproxy import find_haproxy

        try:
            find_haproxy()
        except ConfigError as exc:
            return str(exc)
    return None


def cell_path(gateway: str, drill: str, scale: float, seed: int | None) -> Path:
    return CELLS / f"{gateway}--{drill}--x{scale:g}" f"{'' if seed is None else f'--s{seed}'}.json"


def key_figures(rec: RunRecord, verdicts: list[Any]) -> dict[str, Any]:
    """The matrix's figures: split p-value, rollback detection time, client errors, upstream attempts per client
    request (retry amplification, from the journals), overhead p50/p99 (where the drill judges it)."""
    from collections import Counter

    from gatedrill.harness.saturation import gateway_saturation

    by = {v.check: v.figures for v in verdicts}
    corr = {c.correlation_id for c in rec.clients}
    reached = Counter(e.correlation_id for e in rec.entries() if e.correlation_id in corr)
    attempts = sum(reached.values())
    tally = rec.load_summary.tally
    errors = [c for c in rec.clients if c.status != 200 or c.error_class]
    own = [c for c in errors if not reached[c.correlation_id]]  # answered by the gateway itself: no upstream attempt
    sat = gateway_saturation(rec)
    out: dict[str, Any] = {
        "requests": len(rec.clients),
        "client_errors": len(errors),
        "own_errors": len(own),
        "own_error_statuses": dict(Counter(str(c.status) for c in own)),
        "own_error_sample": (own[0].error or "")[:200] if own else None,
        "offered_rate": None if sat is None else sat.offered_rate,
        "achieved_rate": None if sat is None else sat.achieved_rate,
        "saturated": None if sat is None else sat.saturated,
        "attempts_per_request": round(attempts / len(rec.clients), 3) if rec.clients else None,
        "latency_p50_ms": (tally.get("latency") or {}).get("p50_ms"),
        "latency_p99_ms": (tally.get("latency") or {}).get("p99_ms"),
    }
    if "canary_split" in by:
        out["split_p_value"] = by["canary_split"].get("p_value")
    if "rollback" in by:
        out["detection_s"] = by["rollback"].get("detection_s")
    if "overhead" in by:
        for q in ("p50", "p99"):
            fig = by["overhead"].get(f"total_{q}_ms")
            out[f"overhead_{q}_ms"] = round(fig["estimate"], 2) if isinstance(fig, dict) else None
        sat = by["overhead"].get("gateway_saturation") or {}
        if sat.get("saturated"):
            out["saturated_at"] = sat.get("achieved_rate")
    return out


def run_cell(gateway: str, drill: str, scale: float, seed: int | None) -> dict[str, Any]:
    out = RUNS / f"{gateway}--{drill}--x{scale:g}--{time.strftime('%Y%m%d-%H%M%S')}"
    from gatedrill.harness.gateways.builds import gateway_build

    cell: dict[str, Any] = {"gateway": gateway, "drill": drill, "scale": scale, "seed": seed, "run": str(out),
                            "build": vars(gateway_build(gateway))}  # version, install, relevant dependencies
    started = time.monotonic()
    try:
        outcome = run(drill, RunOptions(gateway=gateway, out=out, scale=scale, seed=seed))
        rec = RunRecord.load(outcome.path)
        verdicts = judge(rec)
        cell.update(status="ran", gate="passed" if gate(verdicts) else "failed",
                    limitations=[lim.model_dump() for lim in rec.meta.gateway.limitations],
                    verdicts=[{k: v.to_dict().get(k) for k in ("check", "status", "summary", "expected_failure")}
                              for v in verdicts],
                    figures=key_figures(rec, verdicts))
    except ConfigError as exc:  # the drill cannot be expressed on this gateway at all
        cell.update(status="not expressible", error=str(exc))
    except Exception as exc:  # one broken cell must not stop the matrix: it shows as an error with its reason
        cell.update(status="error", error=f"{type(exc).__name__}: {exc}")
    cell["wall_s"] = round(time.monotonic() - started, 1)
    return cell


def mark(v: dict[str, Any]) -> str:
    m = MARK.get(v["status"], v["status"])
    if v.get("expected_failure"):
        m = "XFAIL" if v["status"] == "fail" else m + "\\*"
    return m


def _fmt(x: Any, unit: str = "") -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        if abs(x) >= 100:
            return f"{x:.0f}{unit}"
        return (f"{x:.2g}" if abs(x) < 0.01 and x else f"{x:.3g}") + unit
    return f"{x}{unit}"


def finding_links(gateway: str, drill: str, check: str) -> str:
    """Links to the published findings that explain this cell (harness/findings/findings.yaml)."""
    from gatedrill.harness.findings import published

    ids = [f.id for f in published() if f.affects(gateway, None, drill, check)]
    return "".join(f" [{i}](findings.md#{i})" for i in ids)


def markdown(cells: list[dict[str, Any]], gateways: list[str], skipped: dict[str, str], scale: float,
             date: str | None = None) -> str:
    drills = sorted({c["drill"] for c in cells})
    at = {(c["gateway"], c["drill"]): c for c in cells}
    cols = [g for g in gateways if g not in skipped]
    lines = [f"Generated by `python bench/gateway_matrix.py --scale {scale:g}` on {date or time.strftime('%Y-%m-%d')}. "
             "PASS\\* = passed although the intent is not expressible on that gateway; XFAIL = failed where the "
             "gateway cannot express the intent (see its limitations in the JSON); — = not judged; a link names the "
             "finding that explains the cell.", ""]
    lines += ["| drill | check | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for d in drills:
        checks: list[str] = []
        for g in cols:
            for v in at.get((g, d), {}).get("verdicts", []):
                if v["check"] not in checks:
                    checks.append(v["check"])
        if not checks:
            checks = ["(run)"]
        for chk in checks:
            row = []
            for g in cols:
                c = at.get((g, d))
                if c is None:
                    row.append("—")
                elif c["status"] != "ran":
                    row.append(c["status"])
                else:
                    v = next((v for v in c["verdicts"] if v["check"] == chk), None)
                    row.append(mark(v) + finding_links(g, d, chk) if v else "—")
            lines.append(f"| {d} | {chk} | " + " | ".join(row) + " |")
    lines += ["", "Key figures (split p-value, rollback detection, client errors, upstream attempts per request, "
              "overhead p50/p99 where the drill judges it):", "",
              "| drill | gateway | split p | detection | client errors | attempts/req | overhead p50 / p99 |",
              "|---|---|---|---|---|---|---|"]
    for d in drills:
        for g in cols:
            c = at.get((g, d))
            if c is None or c["status"] != "ran":
                continue
            f = c["figures"]
            over = "—" if f.get("overhead_p50_ms") is None else \
                f"{_fmt(f['overhead_p50_ms'])} / {_fmt(f.get('overhead_p99_ms'))} ms"
            if f.get("saturated_at") is not None:
                over += f" (saturated at about {f['saturated_at']:.0f} req/s: queueing)"
            lines.append(f"| {d} | {g} | {_fmt(f.get('split_p_value'))} | {_fmt(f.get('detection_s'), ' s')} | "
                         f"{errors_text(f)} | {_fmt(f['attempts_per_request'])} | {over} |")
    for g, why in skipped.items():
        lines.append(f"\nNot run: **{g}**: {why}.")
    errors = [c for c in cells if c["status"] not in ("ran",)]
    for c in errors:
        lines.append(f"\n{c['drill']} on {c['gateway']}: {c['status']}: {c.get('error', '')[:200]}")
    return "\n".join(lines) + "\n"


def errors_text(f: dict[str, Any]) -> str:
    """Client errors, with those the gateway answered itself (no upstream attempt: a cooldown's 429, say) named."""
    text = f"{f['client_errors']}/{f['requests']}"
    if f.get("own_errors"):
        statuses = ", ".join(sorted(f.get("own_error_statuses") or {}))
        text += f" ({f['own_errors']} the gateway's own {statuses}, no upstream attempt)"
    return text


def scorecard(cells: list[dict[str, Any]], gateways: list[str], skipped: dict[str, str], scale: float,
              page: Path, json_path: Path, history_path: Path = HISTORY) -> str:
    """Add this run's rows (one per gateway build) to the dated history; rewrite the scorecard page and JSON."""
    from gatedrill.harness import scorecard as card
    from gatedrill.harness.findings import published
    from gatedrill.harness.gateways.builds import gateway_build
    from gatedrill.harness.scenario import load_scenario
    from gatedrill.scenarios import resolve

    date = time.strftime("%Y-%m-%d", time.gmtime())
    checks_of = {d: load_scenario(resolve(d)).checks.names() for d in {c["drill"] for c in cells}}
    rows = []
    for g in gateways:
        build = vars(gateway_build(g))
        if g in skipped:
            rows.append(card.ScoreRow(date=date, gateway=g, version=build["version"], install=build["install"],
                                      dependencies=build["dependencies"], scale=scale, note=skipped[g]))
            continue
        mine = [c for c in cells if c["gateway"] == g]
        rows.append(card.row_from_cells(mine, build, date, scale, checks_of, published()))
    history = card.add_to_history(card.read_history(history_path), rows)
    card.write_history(history_path, history)
    text = card.scorecard_markdown(history, f"python bench/gateway_matrix.py --scale {scale:g}",
                                   card.release_comparisons(history))
    json_path.write_text(card.scorecard_json(history))
    write_page(page, text, CARD_BEGIN, CARD_END)
    return text


def write_page(page: Path, text: str, begin: str = BEGIN, end: str = END) -> bool:
    """Replace what is between the markers; False when the page has no markers (nothing written)."""
    doc = page.read_text()
    if begin not in doc or end not in doc:
        return False
    head, rest = doc.split(begin, 1)
    _, tail = rest.split(end, 1)
    page.write_text(f"{head}{begin}\n{text}{end}{tail}")
    return True


def knee(gateway: str, step_s: float, fresh: bool) -> dict[str, Any]:
    """canary-split swept on `gateway` (cached like the cells): knee, overhead below it, saturation rate."""
    from gatedrill.harness.sweep import DEFAULT_WARM_UP_S, sweep

    path = CELLS / f"knee--{gateway}--canary-split--{step_s:g}s-warm-{DEFAULT_WARM_UP_S:g}s.json"
    if path.exists() and not fresh:
        return dict(json.loads(path.read_text()))
    out = RUNS / f"sweep--{gateway}--{time.strftime('%Y%m%d-%H%M%S')}"
    result = sweep("canary-split", gateway, out, KNEE_RATES, step_s)
    data = result.to_json() | {"run": str(out), "lines": result.lines()}
    path.write_text(json.dumps(data, indent=2))
    return data


def _marks(step: dict[str, Any]) -> str:
    marks = (["abs."] if step.get("against") == "absolute" else []) + (["rough"] if "rough" in step.get("note", "")
                                                                       else [])
    return f" ({', '.join(marks)})" if marks else ""


def knee_markdown(knees: dict[str, dict[str, Any]], step_s: float) -> str:
    warm = max((float(k.get("warm_up_s") or 0.0) for k in knees.values()), default=0.0)
    lines = [f"Generated by `python bench/gateway_matrix.py --knees {','.join(knees)} --step-s {step_s:g}` on "
             f"{time.strftime('%Y-%m-%d')}: "
             f"canary-split swept at {', '.join(f'{r:g}' for r in KNEE_RATES)} req/s, {step_s:g} s judged per step "
             f"after {warm:g} s of warm-up (`gatedrill sweep`). Overhead is beyond the same-run control arm; "
             "\"abs.\" marks a step whose control arm had too few samples (under 20), judged on the gateway arm alone, "
             "and \"rough\" one with fewer samples than bound p99 (368).", "",
             "| gateway | knee | overhead below the knee, p50 / p99 | saturated at "
             "| steps (offered: achieved, overhead) |",
             "|---|---|---|---|---|"]
    for g, k in knees.items():
        steps = k["steps"]
        below = next((s for s in steps if s["rate"] == k["knee_rate"]), None)
        over = "—" if below is None or below["p50_ms"] is None else \
            f"{below['p50_ms']:.1f} / {below['p99_ms']:.1f} ms{_marks(below)}"
        sat = "—" if k["saturation_rate"] is None else f"about {k['saturation_rate']:.0f} req/s"
        trail = "; ".join(f"{s['rate']:g}: {s['achieved_rate']:.1f}/s, "
                          + ("—" if s["p99_ms"] is None else f"p50 {s['p50_ms']:.0f} / p99 {s['p99_ms']:.0f} ms")
                          + _marks(s) for s in steps)
        where = "none" if k["knee_rate"] is None else f"{k['knee_rate']:g} req/s"
        lines.append(f"| {g} | {where} | {over} | {sat} | {trail} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0, help="drill time scale (default 1.0: full drills)")
    ap.add_argument("--drills", default="", help="comma-separated drills (default: every built-in drill)")
    ap.add_argument("--gateways", default=",".join(GATEWAYS), help=f"comma-separated (default: {','.join(GATEWAYS)})")
    ap.add_argument("--seed", type=int, default=None, help="override every drill's seed")
    ap.add_argument("--fresh", action="store_true", help="run every cell again, ignoring cached ones")
    ap.add_argument("--page", type=Path, default=ROOT / "docs" / "behaviour-matrix.md",
                    help="markdown page to update between the markers")
    ap.add_argument("--json", type=Path, default=RESULTS / "gateway-matrix.json")
    ap.add_argument("--scorecard", type=Path, default=ROOT / "docs" / "scorecard.md",
                    help="scorecard page to update between the scorecard markers (history: "
                         "bench/results/scorecard-history.jsonl)")
    ap.add_argument("--scorecard-json", type=Path, default=RESULTS / "scorecard.json")
    ap.add_argument("--knees", default="", help="comma-separated gateways to sweep for their knee (e.g. litellm)")
    ap.add_argument("--knees-only", action="store_true", help="only the knees, not the drill matrix")
    ap.add_argument("--step-s", type=float, default=10.0, help="seconds per sweep step (default 10)")
    args = ap.parse_args(argv)
    knee_gateways = [g for g in args.knees.split(",") if g and not missing(g)]
    if knee_gateways:
        CELLS.mkdir(parents=True, exist_ok=True)
        knees = {g: knee(g, args.step_s, args.fresh) for g in knee_gateways}
        text = knee_markdown(knees, args.step_s)
        print(text)
        write_page(args.page, text, KNEE_BEGIN, KNEE_END)
    if args.knees_only:
        return 0
    drills = [d for d in args.drills.split(",") if d] or list(builtin_names())
    gateways = [g for g in args.gateways.split(",") if g]
    skipped = {g: why for g in gateways if (why := missing(g))}
    CELLS.mkdir(parents=True, exist_ok=True)
    cells = []
    for g in gateways:
        if g in skipped:
            print(f"skip {g}: {skipped[g]}", flush=True)
            continue
        for d in drills:
            path = cell_path(g, d, args.scale, args.seed)
            if path.exists() and not args.fresh:
                cell = json.loads(path.read_text())
                print(f"{g:10} {d:26} cached: {cell['status']} {cell.get('gate', '')}", flush=True)
            else:
                print(f"{g:10} {d:26} running...", flush=True)
                cell = run_cell(g, d, args.scale, args.seed)
                path.write_text(json.dumps(cell, indent=2))
                print(f"{g:10} {d:26} {cell['status']} {cell.get('gate', '')} ({cell['wall_s']} s)", flush=True)
            cells.append(cell)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"scale": args.scale, "seed": args.seed, "skipped": skipped, "cells": cells,
                                     "host": {"cpus": os.cpu_count()}}, indent=2))
    text = markdown(cells, gateways, skipped, args.scale)
    written = write_page(args.page, text)
    print(text)
    print(f"wrote {args.json}" + (f" and {args.page}" if written else f"; {args.page} has no matrix markers"))
    scorecard(cells, gateways, skipped, args.scale, args.scorecard, args.scorecard_json)
    print(f"wrote {args.scorecard}, {args.scorecard_json} and {HISTORY}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
