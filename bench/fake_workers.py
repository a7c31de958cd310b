"""Benchmark f: one fake served by one and by two worker processes (`--workers`), on benchmark a's request.

Three setups, interleaved round by round (the order flips each round), each warmed up first:

- `n1`: one process on the server core (benchmark a's fake);
- `n2_one_core`: two workers on that same one core. On a 2-core machine whose other core runs wrk, one core is what
  the server has, so "throughput scales 0.85 x N up to the cores available" means: two workers hold at least 0.85 of
  one process's req/s there, i.e. serving a fake from a group costs at most about 15% more CPU per request;
- `n2_two_cores`: two workers free on both cores, sharing one with wrk: what this machine gives, not a scaling figure.

Per setup: req/s, CPU us per request of the whole fake (parent, workers and the reaper), each worker's CPU over the
requests it journaled and its share of them, and the journal's loss (wrk's completed requests against the journals'
growth, which must be 0). The load average is recorded with each round: a loaded machine moves req/s, less so CPU.
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path
from typing import Any

from procs import LOAD_CORE, SERVER_CORE, Processes, cpu_seconds, get_json
from targets import Target, start_fake
from wrk import run_wrk, settle

CHAT = "/v1/chat/completions"
SETUPS: list[tuple[str, int, int | str]] = [("n1", 1, SERVER_CORE), ("n2_one_core", 2, SERVER_CORE),
                                            ("n2_two_cores", 2, f"{SERVER_CORE},{LOAD_CORE}")]


def _served(fake: Target, n: int) -> tuple[list[int], list[int]]:
    """The processes that serve requests and how many each has journaled."""
    if n == 1:
        return [fake.proc.pid], [int(get_json(fake.url + "/_gatedrill/health")["journal"]["total"])]
    workers = get_json(fake.url + "/_gatedrill/workers")
    return [w["pid"] for w in workers], [int(w["journal"]["total"]) for w in workers]


def _measure(procs: Processes, fake: Target, n: int, script: Path, args: argparse.Namespace,
             label: str) -> dict[str, Any]:
    pids, before = _served(fake, n)
    cpu0 = [cpu_seconds([p]) for p in pids]
    total0 = cpu_seconds(fake.pids)
    res = run_wrk(procs, fake.url + CHAT, script, args.seconds, args.connections, log_name=f"wrk-{label}.log")
    total = cpu_seconds(fake.pids) - total0
    cpu = [cpu_seconds([p]) - c for p, c in zip(pids, cpu0, strict=True)]
    _, after = _served(fake, n)
    settle()
    served = [a - b for a, b in zip(after, before, strict=True)]
    return {"requests": res.requests, "rate": res.rate, "errors": res.errors, "p99_ms": res.p99_ms,
            "us_per_req": total * 1e6 / res.requests if res.requests else float("nan"),
            "lost": max(0, res.requests - sum(served)),
            "workers": [{"requests": s, "share": s / max(1, sum(served)),
                         "us_per_req": c * 1e6 / s if s else float("nan")} for s, c in zip(served, cpu, strict=True)]}


def workers_benchmark(procs: Processes, workdir: Path, script: Path, args: argparse.Namespace) -> dict[str, Any]:
    print(f"f) workers: 1 vs 2 processes, {args.rounds} rounds of {args.seconds:.0f} s", flush=True)
    fakes: dict[str, Target] = {}
    rounds: list[dict[str, Any]] = []
    try:
        for key, n, core in SETUPS:
            fakes[key] = start_fake(procs, workdir, f"fake-{key}", {"workers": n} if n > 1 else None, core)
            run_wrk(procs, fakes[key].url + CHAT, script, 1, args.connections, log_name=f"wrk-warm-{key}.log")
        settle()
        for r in range(args.rounds):
            row: dict[str, Any] = {"round": r + 1, "loadavg": list(os.getloadavg())}
            for key, n, _ in (SETUPS if r % 2 == 0 else SETUPS[::-1]):
                row[key] = _measure(procs, fakes[key], n, script, args, f"{key}-{r}")
            rounds.append(row)
            print(f"  workers round {r + 1} (load average {row['loadavg'][0]:.2f}): " + " | ".join(
                f"{key} {row[key]['rate']:,.0f}/s {row[key]['us_per_req']:.1f} us ["
                + ", ".join(f"{w['us_per_req']:.1f} us x {w['share']:.0%}" for w in row[key]["workers"]) + "]"
                for key, _, _ in SETUPS), flush=True)
    finally:
        for fake in fakes.values():
            procs.stop(fake.proc)

    def med(key: str, field: str) -> float:
        return statistics.median(row[key][field] for row in rounds)

    out: dict[str, Any] = {"rounds": rounds, "loadavg": statistics.median(row["loadavg"][0] for row in rounds)}
    for key, n, _ in SETUPS:
        out[key] = {"rate": med(key, "rate"), "us_per_req": med(key, "us_per_req"),
                    "worker_us_per_req": [statistics.median(row[key]["workers"][i]["us_per_req"] for row in rounds)
                                          for i in range(n)],
                    "worker_share": [statistics.median(row[key]["workers"][i]["share"] for row in rounds)
                                     for i in range(n)]}
    out["rate_ratio_one_core"] = statistics.median(row["n2_one_core"]["rate"] / row["n1"]["rate"] for row in rounds)
    out["rate_ratio_two_cores"] = statistics.median(row["n2_two_cores"]["rate"] / row["n1"]["rate"] for row in rounds)
    out["cpu_ratio"] = statistics.median(row["n1"]["us_per_req"] / row["n2_one_core"]["us_per_req"] for row in rounds)
    out["lost"] = sum(row[key]["lost"] for row in rounds for key, _, _ in SETUPS)
    return out


def table_rows(f: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(label, figure, target, verdict key) rows for run.py's table."""
    def setup(key: str) -> str:
        s = f[key]
        per = ", ".join(f"{u:.1f}" for u in s["worker_us_per_req"])
        return f"{s['rate']:,.0f} req/s, {s['us_per_req']:.1f} us/req (per worker {per})"

    return [(f"f) workers (load avg {f['loadavg']:.1f})", f"N=1: {setup('n1')}", "", ""),
            ("", f"N=2, same core: {setup('n2_one_core')}", "", ""),
            ("", f"N=2 / N=1 on one core: {f['rate_ratio_one_core']:.2f}x req/s", ">= 0.85",
             "workers.rate_ratio_one_core"),
            ("", f"N=1 / N=2 CPU per request: {f['cpu_ratio']:.2f}x", ">= 0.85", "workers.cpu_ratio"),
            ("", f"N=2, both cores (one shared with wrk): {setup('n2_two_cores')}, "
                 f"{f['rate_ratio_two_cores']:.2f}x N=1", "", ""),
            ("", f"journal: lost {f['lost']}", "0", "workers.lost")]
