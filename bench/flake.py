"""Flake figures: each built-in drill N times on the correct reference gateway, on a quiet machine and with two
CPU-bound processes pinned on both cores: `python bench/flake.py [--runs 20] [--drills a,b] [--modes quiet,busy]`.

A gate CI can trust ends PASS on a quiet machine every time, and on a busy one PASS or INCONCLUSIVE with a
host-load reason, never FAIL. Each run is `gatedrill run NAME --seed K` in its own process (seeds 1..N, the drill's
default scale unless --scale), judged as CI would; its outcome is FAIL (a critical check failed), INCONCLUSIVE
(split into those whose reason names the host or the generator, and the rest) or PASS. Outcomes are cached per
run in bench/results/flake/, so an interrupted bench resumes; the counts go to bench/results/flake.json and a table.
It takes hours at 20 runs (about 7 drills x 40 runs x 30-60 s): run it on a machine with nothing else to do. Not a
timed test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE.parent / "tests"))  # the busy loops the tests use: one definition of "a busy CI host"

from busy_cores import busy_cores  # noqa: E402

HOST_REASONS = ("the host was saturated", "the load generator was the bottleneck")
RUN_TIMEOUT_S = 900

def outcome(verdicts: dict[str, Any]) -> str:
    """FAIL, INCONCLUSIVE_HOST, INCONCLUSIVE or PASS, as the gate would count the run."""
    vs = [v for v in verdicts.get("verdicts", []) if v.get("critical", True)]
    if any(v["status"] == "fail" and not v.get("expected_failure") for v in vs):
        return "FAIL"
    inconclusive = [v for v in vs if v["status"] == "inconclusive"]
    if inconclusive:
        host = all(str(v.get("summary", "")).startswith(HOST_REASONS) for v in inconclusive)
        return "INCONCLUSIVE_HOST" if host else "INCONCLUSIVE"
    return "PASS"


def _commit() -> str:
    """The checkout's commit, so cached outcomes say which code judged them."""
    try:
        out = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10)
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def one_run(drill: str, seed: int, mode: str, scale: float | None, work: Path) -> dict[str, Any]:
    out = work / f"{drill}-{mode}-{seed}"
    cache = RESULTS / "flake" / f"{drill}-{mode}-{seed}{'' if scale is None else f'-x{scale:g}'}.json"
    if cache.exists():
        return dict(json.loads(cache.read_text()))
    argv = [sys.executable, "-m", "gatedrill", "run", drill, "--seed", str(seed), "--out", str(out),
            "--json", str(out / "verdicts.json")]
    if scale is not None:
        argv += ["--scale", repr(scale)]
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    verdicts = json.loads((out / "verdicts.json").read_text()) if (out / "verdicts.json").exists() else {}
    result = {"drill": drill, "mode": mode, "seed": seed, "exit": proc.returncode, "commit": _commit(),
              "outcome": outcome(verdicts) if verdicts else f"ERROR exit {proc.returncode}",
              "seconds": round(time.monotonic() - started, 1),
              "not_passed": {v["check"]: v["summary"][:300] for v in verdicts.get("verdicts", [])
                             if v["status"] != "pass"}}
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(result, indent=2) + "\n")
    return result


def main() -> int:
    from gatedrill.harness.processes import exit_on_sigterm
    from gatedrill.scenarios import builtin_names

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--drills", default=",".join(builtin_names()))
    p.add_argument("--modes", default="quiet,busy")
    p.add_argument("--scale", type=float, default=None, help="default: each drill's own scale (1)")
    p.add_argument("--work", type=Path, default=None, help="where run records go (default: a temporary folder)")
    args = p.parse_args()
    exit_on_sigterm()
    import tempfile

    work = args.work or Path(tempfile.mkdtemp(prefix="gatedrill-flake-"))
    counts: dict[str, dict[str, dict[str, int]]] = {}
    for mode in args.modes.split(","):
        for drill in args.drills.split(","):
            tally = counts.setdefault(drill, {}).setdefault(mode, {})
            for seed in range(1, args.runs + 1):
                busy = busy_cores(RUN_TIMEOUT_S) if mode == "busy" else contextlib.nullcontext([])
                with busy:
                    r = one_run(drill, seed, mode, args.scale, work)
                tally[r["outcome"]] = tally.get(r["outcome"], 0) + 1
                print(f"{drill:24s} {mode:5s} seed {seed:2d}: {r['outcome']:18s} {r['seconds']:6.1f} s", flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "flake.json").write_text(json.dumps({"runs": args.runs, "scale": args.scale, "counts": counts},
                                                   indent=2) + "\n")
    print(f"\n{'drill':24s} {'mode':5s} {'PASS':>5s} {'INC(host)':>10s} {'INC':>5s} {'FAIL':>5s} {'ERROR':>6s}")
    for drill, modes in counts.items():
        for mode, t in modes.items():
            errors = sum(n for k, n in t.items() if k.startswith("ERROR"))
            print(f"{drill:24s} {mode:5s} {t.get('PASS', 0):5d} {t.get('INCONCLUSIVE_HOST', 0):10d} "
                  f"{t.get('INCONCLUSIVE', 0):5d} {t.get('FAIL', 0):5d} {errors:6d}")
    failed = any(t.get("FAIL") for modes in counts.values() for t in modes.values())
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
