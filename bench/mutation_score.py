"""Mutation score: every reference-gateway mutant on its drill (which checks fail, against the ones that must), and
the correct reference gateway's false alarms on every built-in drill. One command; sequential runs, each bounded by
its drill's duration.

    python bench/mutation_score.py                 # every mutant, then the false-alarm table
    python bench/mutation_score.py --skip-mutants  # the false-alarm table only

The correct gateway's runs are the flake bench's quiet runs (`python bench/flake.py --modes quiet --runs 20`, cached
in bench/results/flake/): one set of runs answers both "no false alarm" and "PASS 20 of 20 on a quiet machine", so
this bench reads them instead of running the drills again, and says how many seeds each drill has so far.
Writes bench/results/mutation-score-TIME.json and prints two Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gatedrill.harness.checks import Status, judge  # noqa: E402
from gatedrill.harness.mutation import MUTATION_TABLE  # noqa: E402
from gatedrill.harness.record import RunRecord  # noqa: E402
from gatedrill.harness.runner import RunOptions, run  # noqa: E402
from gatedrill.scenarios import builtin_names  # noqa: E402

FLAKE = ROOT / "bench" / "results" / "flake"


def _statuses(drill: str, opts: RunOptions, overrides: dict[str, dict[str, Any]] | None = None) -> dict[str, str]:
    out = run(drill, opts)
    return {v.check: v.status.value for v in judge(RunRecord.load(out.path), overrides or {})}


def mutants(work: Path) -> list[dict[str, Any]]:
    rows = []
    for name, case in MUTATION_TABLE.items():
        t = time.monotonic()
        got = _statuses(case.drill, RunOptions(scale=case.scale, mutant=name, out=work / f"m-{name}"), case.overrides)
        failed = sorted(c for c, s in got.items() if s == Status.FAIL.value)
        rows.append({"mutant": name, "drill": case.drill, "scale": case.scale, "expected": sorted(case.catches),
                     "failed": failed, "exact": set(failed) == set(case.catches), "source": case.source,
                     "seconds": round(time.monotonic() - t, 1)})
        print(f"{name:34} {case.drill:24} failed {', '.join(failed) or '-':40} "
              f"{'exact' if rows[-1]['exact'] else 'MISMATCH'}", flush=True)
    return rows


def false_alarms(drills: list[str]) -> list[dict[str, Any]]:
    """Per drill, the correct gateway's quiet flake runs at its default scale: PASS, FAIL, INCONCLUSIVE counts."""
    rows = []
    for drill in drills:
        runs = [json.loads(p.read_text()) for p in sorted(FLAKE.glob(f"{drill}-quiet-*.json"))
                if p.stem.removeprefix(f"{drill}-quiet-").isdigit()]
        counts = {"pass": 0, "fail": 0, "inconclusive": 0, "error": 0}
        failures: dict[str, int] = {}
        for r in runs:
            key = {"PASS": "pass", "FAIL": "fail"}.get(r["outcome"], "inconclusive" if r["outcome"].startswith(
                "INCONCLUSIVE") else "error")
            counts[key] += 1
            if key == "fail":
                for check in r.get("not_passed", {}):
                    failures[check] = failures.get(check, 0) + 1
        rows.append({"drill": drill, "seeds": len(runs), **counts, "failed_checks": failures,
                     "commits": sorted({str(r.get("commit", "unknown")) for r in runs})})
        print(f"{drill:26} seeds {len(runs):3} pass {counts['pass']:3} fail {counts['fail']:3} "
              f"inconclusive {counts['inconclusive']:3} {failures or ''}", flush=True)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--drills", nargs="*", default=None, help="drills for the false-alarm table (default: all)")
    ap.add_argument("--skip-mutants", action="store_true")
    ap.add_argument("--skip-correct", action="store_true")
    args = ap.parse_args()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    result: dict[str, Any] = {"when": stamp}
    with tempfile.TemporaryDirectory(prefix="gd-mutation-") as tmp:
        work = Path(tmp)
        if not args.skip_mutants:
            result["mutants"] = mutants(work)
        if not args.skip_correct:
            result["correct"] = false_alarms(args.drills or builtin_names())
    path = ROOT / "bench" / "results" / f"mutation-score-{stamp}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten: {path.relative_to(ROOT)}")
    if "mutants" in result:
        print("\n| mutant | drill | must fail | failed | exact |\n|---|---|---|---|---|")
        for r in result["mutants"]:
            print(f"| `{r['mutant']}` | {r['drill']} | {', '.join(r['expected'])} | {', '.join(r['failed']) or '-'} "
                  f"| {'yes' if r['exact'] else '**no**'} |")
    if "correct" in result:
        print("\n| drill (correct gateway, quiet) | seeds | PASS | FAIL | INCONCLUSIVE | failing checks |")
        print("|---|---|---|---|---|---|")
        for r in result["correct"]:
            print(f"| {r['drill']} | {r['seeds']} | {r['pass']} | {r['fail']} | {r['inconclusive']} | "
                  f"{', '.join(f'{k} x{v}' for k, v in r['failed_checks'].items()) or '-'} |")
    exact = all(r["exact"] for r in result.get("mutants", []))
    no_alarm = all(r["fail"] == 0 for r in result.get("correct", []))
    return 0 if exact and no_alarm else 1


if __name__ == "__main__":
    raise SystemExit(main())
