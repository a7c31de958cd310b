"""The load generator alone against a fake: does it hold 2,000 req/s within 1% on one core, and where is its
ceiling (the rate at which it stops sending on time)?

```bash
python bench/load_ceiling.py                  # hold 2,000/s for 60 s, then a 20 s ramp to find the ceiling
python bench/load_ceiling.py --seconds 5      # a smoke run (5 s hold, 5 s ramp)
```

Method. The fake (`gatedrill fake serve openai`, journal on, zero latency, seeded replies) runs pinned to
core 0; this script pins itself to core 1, so the generator's worker process (which it starts) runs there
alone. With fewer than two cores nothing is pinned and the JSON says so.

- **Hold.** Constant arrivals at `--rate` for `--seconds`, single-shot non-streamed requests. Achieved
  rate = requests started / seconds; it passes when that is within 1% of the target *and* the send-lag
  p99 (sent minus intended) is at most 50 ms, the generator's own saturation rule (`run.judge_generator`).
  Also reported: the share sent within 10 ms of its intended time, latency percentiles (from the intended
  time), and the generator's CPU microseconds per request.
- **Ceiling.** Poisson arrivals ramping from `--ramp-from` to `--ramp-to` over `--ramp-seconds`. Records
  are binned by intended time into 1 s windows; the ceiling is the scheduled rate of the last window
  before the first one whose send-lag p99 exceeds 50 ms or whose arrivals were not all sent.

- **Workers.** `--workers 1,2` ramps again once per count of Locust workers (`run_load(load_workers=N)`: a master
  plus N worker processes, each sending its share of the schedule), and reports each ceiling and the ratio of the
  largest count's ceiling to the smallest's. Nothing is pinned then but the target (the workers need the cores),
  and `--target nginx` answers a canned completion from memory instead of the fake, so the target is not the limit.
  The 1-minute load average before and after each ramp is kept: other work on the machine lowers a ceiling.

```bash
python bench/load_ceiling.py --workers 1,2 --target nginx --no-hold   # one worker's ceiling against two workers'
```

It writes `bench/results/load_ceiling-<time>.json` and exits 1 when the hold target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from procs import LOAD_CORE, Processes, pin_self, pinning_available
from targets import start_fake, start_nginx

from gatedrill.harness.load import LoadSpec, RequestMix, read_records, run_load
from gatedrill.harness.load.histogram import LatencyHistogram

MAX_LAG_P99_MS = 50.0
ON_TIME_S = 0.010


def _spec(arrivals: dict[str, Any]) -> LoadSpec:
    return LoadSpec(arrivals=arrivals, mix=RequestMix(model="gpt-4o-mini", max_tokens=16),
                    max_requests=10_000_000, request_timeout_s=10)


def hold(url: str, rate: float, seconds: float, work: Path) -> dict[str, Any]:
    result = run_load(_spec({"profile": "constant", "rate": rate}), url, seconds, 1, work / "hold", drain_s=5)
    s = result.summary()
    records = read_records(result.records_path)
    on_time = sum(1 for r in records if r.send_lag_s <= ON_TIME_S) / max(1, len(records))
    achieved = s["started_arrivals"] / seconds
    lag_p99 = s["tally"]["send_lag"]["p99_ms"]
    ok = abs(achieved - rate) <= 0.01 * rate and lag_p99 <= MAX_LAG_P99_MS
    return {
        "target_rate": rate, "seconds": seconds, "achieved_rate": round(achieved, 2),
        "achieved_share": round(achieved / rate, 5), "requests": s["tally"]["requests"],
        "errors": s["tally"]["errors"], "on_time_share_10ms": round(on_time, 5),
        "send_lag_ms": _pcts(s["tally"]["send_lag"]), "latency_ms": _pcts(s["tally"]["latency"]),
        "service_ms": _pcts(s["tally"]["service"]),
        "generator_cpu_us_per_request": round(s["cpu_s"] / max(1, s["tally"]["requests"]) * 1e6, 1),
        "generator_cpu_share": round(s["cpu_s"] / seconds, 3),
        "warnings": s["warnings"], "ok": ok,
    }


def ceiling(url: str, start: float, end: float, seconds: float, work: Path, workers: int = 0) -> dict[str, Any]:
    spec = _spec({"profile": "ramp", "from_rate": start, "to_rate": end})
    result = run_load(spec, url, seconds, 2, work / f"ramp-{workers}", drain_s=5, load_workers=workers)
    s = result.summary()
    t0 = s["t0_mono"]
    windows: dict[int, list[float]] = {}
    sent_per_s: dict[int, int] = {}
    for r in read_records(result.records_path):
        windows.setdefault(int(r.intended_mono - t0), []).append(r.send_lag_s)
        sent_per_s[int(r.sent_mono - t0)] = sent_per_s.get(int(r.sent_mono - t0), 0) + 1
    rows, found = [], None
    for w in range(int(seconds)):
        lags = windows.get(w, [])
        h = LatencyHistogram()
        for lag in lags:
            h.record(max(0.0, lag))
        scheduled_rate = start + (end - start) * (w + 0.5) / seconds
        p99 = h.percentile(99) * 1e3
        rows.append({"window_s": w, "scheduled_rate": round(scheduled_rate), "sent": len(lags),
                     "send_lag_p99_ms": round(p99, 2)})
        if found is None and (p99 > MAX_LAG_P99_MS or not lags):
            found = w
    unsent = s["unsent_arrivals"]
    if found is None and unsent:
        found = int(seconds) - 1
    if found is None:
        value, note = end, f"held the whole ramp: the ceiling is above {end:g}/s"
    elif found == 0:
        value, note = start, f"late from the first window: the ceiling is below {start:g}/s"
    else:
        value, note = rows[found - 1]["scheduled_rate"], "the last on-time window's scheduled rate"
    return {"ramp": [start, end, seconds], "ceiling_rate": value, "note": note, "unsent_arrivals": unsent,
            "load_workers": s.get("load_workers", 0), "generator_cpu_share": round(s["cpu_s"] / seconds, 3),
            "generator_cpu_us_per_request": round(s["cpu_s"] / max(1, s["tally"]["requests"]) * 1e6, 1),
            "master_cpu_us_per_request": round((s.get("master") or {}).get("cpu_s", 0.0) / max(1, s["tally"][
                "requests"]) * 1e6, 1),
            "peak_sent_per_s": max((n for w, n in sent_per_s.items() if 0 <= w < seconds), default=0),
            "errors": s["tally"]["errors"], "windows": rows}


def per_worker_count(url: str, counts: list[int], start: float, end: float, seconds: float,
                     work: Path) -> dict[str, Any]:
    """The ceiling with each count of Locust workers, with the machine's load average around each ramp."""
    rows = []
    for n in counts:
        before = os.getloadavg()[0]
        c = ceiling(url, start, end, seconds, work, workers=n)
        c["loadavg_1m"] = [round(before, 2), round(os.getloadavg()[0], 2)]
        rows.append(c)
        print(f"workers {n}: ceiling {c['ceiling_rate']:g}/s ({c['note']}; peak {c['peak_sent_per_s']} sent/s, "
              f"unsent {c['unsent_arrivals']}, load average {c['loadavg_1m'][0]:.2f} -> {c['loadavg_1m'][1]:.2f})")
    ref = rows[counts.index(1)] if 1 in counts else rows[0]
    return {"ramps": rows, "reference": ref["load_workers"],
            "ceiling_ratio": {str(c["load_workers"]): round(c["ceiling_rate"] / ref["ceiling_rate"], 3)
                              for c in rows if ref["ceiling_rate"]},
            "peak_sent_ratio": {str(c["load_workers"]): round(c["peak_sent_per_s"] / ref["peak_sent_per_s"], 3)
                                for c in rows if ref["peak_sent_per_s"]}}


def _pcts(h: dict[str, Any]) -> dict[str, float]:
    return {k.removesuffix("_ms"): v for k, v in h.items() if k.endswith("_ms")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=2000.0)
    ap.add_argument("--seconds", type=float, default=60.0, help="hold length; also shortens the ramp")
    ap.add_argument("--ramp-from", type=float, default=1000.0)
    ap.add_argument("--ramp-to", type=float, default=12000.0)
    ap.add_argument("--ramp-seconds", type=float, default=None, help="default: 20, or --seconds if shorter")
    ap.add_argument("--no-ceiling", action="store_true")
    ap.add_argument("--no-hold", action="store_true")
    ap.add_argument("--workers", default=None, metavar="N,M",
                    help="also find the ceiling with each of these counts of Locust workers (0: one process)")
    ap.add_argument("--target", choices=["fake", "nginx"], default="fake",
                    help="what answers: the fake (journal on) or nginx returning a canned completion")
    args = ap.parse_args()
    counts = [int(n) for n in args.workers.split(",")] if args.workers else []
    ramp_s = args.ramp_seconds or min(20.0, args.seconds)
    pinned = pinning_available()
    with tempfile.TemporaryDirectory(prefix="gd-load-bench-") as tmp:
        work = Path(tmp)
        with Processes(work) as procs:
            fake = start_fake(procs, work, "fake")
            target = fake
            if args.target == "nginx":
                body = fetch_completion(fake.url)
                target = start_nginx(procs, work, {"/v1/chat/completions": ("application/json", body)})
            out: dict[str, Any] = {"pinned": pinned and not counts, "cpus": os.cpu_count(),
                                   "python": sys.version.split()[0], "target": args.target,
                                   "loadavg_start": [round(x, 2) for x in os.getloadavg()]}
            if counts:
                out["workers"] = per_worker_count(target.url, counts, args.ramp_from, args.ramp_to, ramp_s, work)
                w = out["workers"]
                print(f"against {w['reference']} worker(s): ceiling ratios {w['ceiling_ratio']}, "
                      f"peak sent ratios {w['peak_sent_ratio']}")
            else:
                pin_self(LOAD_CORE)
            if not args.no_hold:
                out["hold"] = hold(target.url, args.rate, args.seconds, work)
                h = out["hold"]
                print(f"hold {h['target_rate']:g}/s for {h['seconds']:g}s: achieved {h['achieved_rate']:.1f}/s "
                      f"({h['achieved_share']:.2%}), on time (10 ms) {h['on_time_share_10ms']:.2%}, "
                      f"send lag p99 {h['send_lag_ms']['p99']:.2f} ms, latency p50/p99 {h['latency_ms']['p50']:.2f}/"
                      f"{h['latency_ms']['p99']:.2f} ms, {h['generator_cpu_us_per_request']:.0f} us CPU/request "
                      f"-> {'OK' if h['ok'] else 'MISSED'} (within 1% and lag p99 <= {MAX_LAG_P99_MS:g} ms)")
            if not args.no_ceiling and not counts:
                out["ceiling"] = ceiling(target.url, args.ramp_from, args.ramp_to, ramp_s, work)
                c = out["ceiling"]
                print(f"ceiling: {c['ceiling_rate']:g}/s ({c['note']}; ramp {args.ramp_from:g}->{args.ramp_to:g}/s "
                      f"over {ramp_s:g}s, unsent {c['unsent_arrivals']})")
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    path = results / f"load_ceiling-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(out, indent=2))
    print(f"wrote {path}")
    return 0 if out.get("hold", {"ok": True})["ok"] else 1


def fetch_completion(url: str) -> bytes:
    """One non-streamed completion from the fake, for nginx to answer with."""
    body = json.dumps({"model": "gpt-4o-mini", "max_tokens": 16,
                       "messages": [{"role": "user", "content": "hello"}]}).encode()
    req = urllib.request.Request(url + "/v1/chat/completions", data=body,
                                 headers={"content-type": "application/json", "authorization": "Bearer sk-bench"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return bytes(r.read())


if __name__ == "__main__":
    raise SystemExit(main())
