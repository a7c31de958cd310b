"""Soak: paced streams against one fake for many minutes, journal on; does its timing hold as it ages?

    python bench/soak.py               # 10 minutes (the issue's figure), 500 streams, 20 ms TTFT and ITL
    python bench/soak.py --minutes 1   # a smoke run

One fake (`gatedrill fake serve`, pinned to the server core, its journal bounded in memory and appended to a
JSONL file, as in a drill) serves the paced client of `bench/run.py` back to back, one window a minute, on the
same process throughout. Per window: chunk lateness p50/p99 (arrival against request sent + TTFT + i x ITL), the
server's CPU share and RSS. The verdict compares the last window with the first: p99 may rise at most 0.5 ms,
and stays under 2 ms (that bound holds on a quiet machine only). Results go to bench/results/soak-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from paced import percentile, run_paced
from procs import LOAD_CORE, Processes, cpu_seconds, get_json, memory_kb, pin_self, run_main
from targets import start_fake

from gatedrill.harness.processes import exit_on_sigterm

HERE = Path(__file__).resolve().parent
CHAT = "/v1/chat/completions"
HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}
CHUNKS = 50
MAX_DRIFT_MS = 0.5  # last window's p99 minus the first's
MAX_P99_MS = 2.0  # on a quiet machine


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0, help="soak length (default 10)")
    p.add_argument("--window", type=float, default=60.0, help="seconds per measured window (default 60)")
    p.add_argument("--streams", type=int, default=500, help="concurrent paced streams (default 500)")
    p.add_argument("--ttft-ms", type=float, default=20.0)
    p.add_argument("--itl-ms", type=float, default=20.0)
    p.add_argument("--out", type=Path, default=HERE / "results", help="directory for the JSON result")
    args = p.parse_args(argv)
    if args.minutes <= 0 or args.window <= 0 or args.streams < 1:
        p.error("--minutes, --window and --streams must be positive")
    return args


def soak(procs: Processes, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    fake = start_fake(procs, workdir, "fake-soak", {
        "reply": {"output_tokens": CHUNKS},
        "latency": {"ttft_ms": args.ttft_ms, "itl_ms": args.itl_ms},
        "journal": {"path": str(workdir / "soak-journal.jsonl")},
    })
    port = int(fake.url.rsplit(":", 1)[1])
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello."}],
                       "stream": True}).encode()
    head = (f"POST {CHAT} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in HEADERS.items())
            + f"Content-Length: {len(body)}\r\n\r\n").encode()
    windows = []
    end = time.monotonic() + args.minutes * 60
    try:
        while time.monotonic() < end - args.window / 2:
            seconds = min(args.window, max(1.0, end - time.monotonic()))
            cpu0, t0 = cpu_seconds(fake.pids), time.perf_counter()
            st = run_paced(port, head + body, args.streams, args.ttft_ms, args.itl_ms, CHUNKS, seconds)
            wall = time.perf_counter() - t0
            journal = get_json(fake.url + "/_gatedrill/health")["journal"]
            row = {"window": len(windows) + 1, "seconds": round(wall, 1), "streams": st.streams,
                   "errors": st.errors + st.short_streams,
                   "lateness_p50_ms": percentile(st.lateness_ms, 50),
                   "lateness_p99_ms": percentile(st.lateness_ms, 99),
                   "gap_error_p99_ms": percentile(st.gap_error_ms, 99),
                   "client_lag_p99_ms": percentile(st.client_lag_ms, 99),
                   "server_cpu_share": (cpu_seconds(fake.pids) - cpu0) / wall,
                   "rss_mb": sum(memory_kb(p).get("VmRSS", 0) for p in fake.pids) / 1024,
                   "journal_total": journal["total"]}
            windows.append(row)
            print(f"  window {row['window']}: {st.streams} streams, lateness p50 {row['lateness_p50_ms']:.2f} "
                  f"p99 {row['lateness_p99_ms']:.2f} ms (client's own lag p99 {row['client_lag_p99_ms']:.2f}), "
                  f"server CPU {row['server_cpu_share']:.0%}, RSS {row['rss_mb']:.0f} MB, "
                  f"journal {row['journal_total']:,}", flush=True)
    finally:
        procs.stop(fake.proc)
    first, last = windows[0], windows[-1]
    drift = last["lateness_p99_ms"] - first["lateness_p99_ms"]
    return {"settings": {k: str(v) for k, v in vars(args).items()}, "windows": windows,
            "first_p99_ms": first["lateness_p99_ms"], "last_p99_ms": last["lateness_p99_ms"], "drift_ms": drift,
            "errors": sum(w["errors"] for w in windows),
            "verdicts": {"drift": {"value": drift, "limit": MAX_DRIFT_MS, "ok": drift <= MAX_DRIFT_MS},
                         "last_p99": {"value": last["lateness_p99_ms"], "limit": MAX_P99_MS,
                                      "ok": last["lateness_p99_ms"] < MAX_P99_MS}}}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_on_sigterm()
    pin_self(LOAD_CORE)
    print(f"soak: {args.minutes:g} min of {args.streams} paced streams against one fake, windows of "
          f"{args.window:g} s", flush=True)
    with tempfile.TemporaryDirectory(prefix="gatedrill-soak-") as tmp, Processes(Path(tmp)) as procs:
        result = soak(procs, Path(tmp), args)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"soak-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    for name, v in result["verdicts"].items():
        print(f"{name}: {v['value']:.2f} ms (limit {v['limit']} ms) {'ok' if v['ok'] else 'MISSED'}")
    print(f"results: {path}")
    return 0 if all(v["ok"] for v in result["verdicts"].values()) and not result["errors"] else 1


if __name__ == "__main__":
    run_main(main)
