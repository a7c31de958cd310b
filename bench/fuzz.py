"""Fuzz the fakes: spec-generated requests plus malformed HTTP, judged for crashes, non-injected 5xx, hangs and
spec violations.

    python bench/fuzz.py                      # 100,000 requests (the issue's figure), 2 worker processes
    python bench/fuzz.py --requests 5000      # a smoke run

One `gatedrill fake serve` process runs an OpenAI and an Anthropic fake, journals on. The budget is split:
70% Schemathesis cases from OpenAI's official OpenAPI document (github.com/openai/openai-openapi, vendored trimmed
with its MIT licence in contracts/openapi/), 10% from the curated Anthropic document (Anthropic publishes none),
20% raw malformed HTTP (a hand-written corpus, then seeded mutations). Workers split each share. Afterwards the
fake process must still be alive and healthy. Spec findings that `contracts.fake_fuzz.quirks` documents are counted
apart; the run passes with 0 crashes, 0 non-injected 5xx, 0 hangs and 0 other spec violations.
Results go to bench/results/fuzz-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import yaml
from procs import Processes, free_port, get_json, run_main, wait_ready

from gatedrill.contracts.documents import document
from gatedrill.contracts.fake_fuzz import (
    Finding,
    FuzzTally,
    SpecTarget,
    fuzz_raw,
    fuzz_spec,
    healthy,
    official_openai,
)
from gatedrill.harness.processes import exit_on_sigterm

HERE = Path(__file__).resolve().parent
SHARES = {"openai-official": 0.7, "anthropic-curated": 0.1, "raw": 0.2}
OPENAI_MODELS = {"POST /chat/completions": "gpt-4o-mini", "POST /responses": "gpt-4o-mini",
                 "POST /embeddings": "text-embedding-3-small"}
ANTHROPIC_MODELS = {"POST /v1/messages": "claude-haiku-4-5", "POST /v1/messages/count_tokens": "claude-haiku-4-5"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=100_000, help="total requests (default 100,000)")
    p.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-minutes", type=float, default=180.0, help="stop sending after this long (default 180)")
    p.add_argument("--out", type=Path, default=HERE / "results", help="directory for the JSON result")
    # internal: one worker's share
    p.add_argument("--worker", choices=sorted(SHARES), help=argparse.SUPPRESS)
    p.add_argument("--openai-url", help=argparse.SUPPRESS)
    p.add_argument("--anthropic-url", help=argparse.SUPPRESS)
    p.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.requests < 1 or args.workers < 1:
        p.error("--requests and --workers must be positive")
    return args


def run_worker(args: argparse.Namespace) -> int:
    """One share of one part, written to --result as a tally."""
    tally = FuzzTally()
    deadline = args.deadline
    if args.worker == "raw":
        fuzz_raw(int(args.openai_url.rsplit(":", 1)[1]), args.requests, args.seed, tally)
    elif args.worker == "openai-official":
        target = SpecTarget("openai-official", official_openai(), args.openai_url + "/v1",
                            {"authorization": "Bearer sk-fuzz"}, OPENAI_MODELS)
        fuzz_spec(target, args.requests, args.seed, tally, deadline)
    else:
        target = SpecTarget("anthropic-curated", document("anthropic"), args.anthropic_url,
                            {"x-api-key": "sk-ant-fuzz", "anthropic-version": "2023-06-01"}, ANTHROPIC_MODELS)
        fuzz_spec(target, args.requests, args.seed, tally, deadline)
    args.result.write_text(json.dumps(tally.to_dict()))
    return 0


def _start_fakes(procs: Processes, workdir: Path) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    ports = {"openai": free_port(), "anthropic": free_port()}
    fakes = [{"name": name, "provider": name, "port": port, "journal": {"path": str(workdir / f"{name}.jsonl")}}
             for name, port in ports.items()]
    (workdir / "fakes.yaml").write_text(yaml.safe_dump({"fakes": fakes}))
    proc = procs.start([sys.executable, "-m", "gatedrill", "fake", "serve", "--config", str(workdir / "fakes.yaml")],
                       None, "fakes.log")
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    for url in urls.values():
        wait_ready(url + "/_gatedrill/health", proc)
    return proc, urls


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return run_worker(args)
    exit_on_sigterm()
    t0 = time.monotonic()
    deadline = time.time() + args.max_minutes * 60
    print(f"fuzz: {args.requests:,} requests, {args.workers} workers", flush=True)
    total = FuzzTally()
    with tempfile.TemporaryDirectory(prefix="gatedrill-fuzz-") as tmp, Processes(Path(tmp)) as procs:
        workdir = Path(tmp)
        fake, urls = _start_fakes(procs, workdir)
        jobs = []
        for part, share in SHARES.items():
            n = round(args.requests * share)
            for w in range(args.workers):
                k = n // args.workers + (1 if w < n % args.workers else 0)
                if not k:
                    continue
                result = workdir / f"{part}-{w}.json"
                argv_w = [sys.executable, str(Path(__file__).resolve()), "--worker", part, "--requests", str(k),
                          "--seed", str(args.seed * 100 + w), "--openai-url", urls["openai"],
                          "--anthropic-url", urls["anthropic"], "--result", str(result),
                          "--deadline", repr(time.monotonic() + args.max_minutes * 60)]
                jobs.append((part, result, argv_w))
        # parts run one after another, their workers side by side
        for part in SHARES:
            running = [(result, procs.start(argv_w, None, f"worker-{result.stem}.log"))
                       for p, result, argv_w in jobs if p == part]
            for result, proc in running:
                proc.wait(max(1.0, deadline - time.time() + 60))
                if result.exists():
                    total.merge(FuzzTally.from_dict(json.loads(result.read_text())))
                else:
                    log = (workdir / f"worker-{result.stem}.log").read_text(errors="replace").strip().splitlines()
                    print(f"  worker {result.stem} failed (exit {proc.returncode}):", *log[-12:], sep="\n    ",
                          flush=True)
                    total.found(Finding("generator_error", f"worker {result.stem} failed", "", "\n".join(log[-30:])))
            print(f"  {part}: done, {total.requests:,} requests so far, {time.monotonic() - t0:.0f} s", flush=True)
        alive = fake.poll() is None and all(healthy(int(u.rsplit(":", 1)[1])) for u in urls.values())
        journals = ({name: get_json(url + "/_gatedrill/health")["journal"] for name, url in urls.items()}
                    if alive else {})
        procs.stop(fake)
    report: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                              "settings": {k: str(v) for k, v in vars(args).items() if v is not None},
                              "seconds": round(time.monotonic() - t0, 1), "fake_alive_after": alive,
                              "journals": journals, **total.to_dict()}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"fuzz-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    counts = report["counts"]
    print(f"\n{total.requests:,} requests in {report['seconds']:.0f} s: " + ", ".join(
        f"{k} {v}" for k, v in counts.items()) + f"; fake alive after: {alive}")
    for f in report["findings"][:25]:
        if not f["finding"].startswith("quirk"):
            print(f"  {f['count']:6d}  {f['finding'][:150]}")
    print(f"results: {path}")
    ok = alive and total.hard == 0 and total.violations == 0 and not total.counts["generator_error"]
    return 0 if ok else 1


if __name__ == "__main__":
    run_main(main)
