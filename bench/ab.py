"""Before and after in one run: `python bench/ab.py --base REV [--rounds 6 --seconds 3]`.

Two fakes side by side, both pinned to the server core: one runs the code of git revision REV (exported with
`git archive` into a temporary folder and put first on its PYTHONPATH), the other this working tree. wrk drives
them in turn (the order flips each round) with benchmarks a and b of `run.py`: a non-streamed chat completion,
and a zero-delay 50-chunk stream, journal on. It prints each one's CPU microseconds per request and the per-round
ratio after/before. On a shared, loaded machine the absolute figures move with the load; the same-run ratio is
the figure to read.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from procs import LOAD_CORE, SERVER_CORE, Processes, cpu_seconds, free_port, pin_self, run_main, tree, wait_ready
from run import CHAT, HEADERS, JSON_BODY, STREAM_BODY, STREAM_CHUNKS
from wrk import run_wrk, settle, write_script

from gatedrill.harness.processes import exit_on_sigterm

ROOT = Path(__file__).resolve().parent.parent


def export(rev: str, dest: Path) -> Path:
    """The tree of `rev` as an importable `gatedrill` package under `dest`."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True).stdout
    dest.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def start(procs: Processes, name: str, pythonpath: str | None,
          config: str | None) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    # -P: no current folder first on the path, or a checkout's own `gatedrill` would shadow PYTHONPATH
    argv = [sys.executable, "-P", "-m", "gatedrill", "fake", "serve", "openai", "--port", str(port)]
    argv += ["--config", config] if config else []
    proc = procs.start(argv, SERVER_CORE, f"{name}.log", env=env)
    url = f"http://127.0.0.1:{port}"
    wait_ready(url + "/_gatedrill/health", proc)
    return proc, url


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True, help="git revision to compare against (e.g. main, HEAD~3)")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--connections", type=int, default=64)
    args = p.parse_args(argv)
    exit_on_sigterm()
    pin_self(LOAD_CORE)
    with tempfile.TemporaryDirectory(prefix="gatedrill-ab-") as tmp, Processes(Path(tmp)) as procs:
        workdir = Path(tmp)
        base = export(args.base, workdir / "base")
        stream_cfg = workdir / "stream.yaml"
        stream_cfg.write_text(f"provider: openai\nreply:\n  output_tokens: {STREAM_CHUNKS}\n")
        print(f"before: {args.base}; after: the working tree", flush=True)
        for bench, body, cfg in (("json_post", JSON_BODY, None), ("stream_50", STREAM_BODY, str(stream_cfg))):
            script = write_script(workdir / f"{bench}.lua", body, HEADERS)
            fakes = {"before": start(procs, f"before-{bench}", str(base), cfg),
                     "after": start(procs, f"after-{bench}", None, cfg)}
            for _, url in fakes.values():  # warm-up, not measured
                run_wrk(procs, url + CHAT, script, 1, args.connections, log_name=f"wrk-warm-{bench}.log")
            figures: dict[str, list[float]] = {"before": [], "after": []}
            loads = []
            for r in range(args.rounds):
                for who in ("before", "after") if r % 2 == 0 else ("after", "before"):
                    proc, url = fakes[who]
                    cpu0 = cpu_seconds(tree(proc.pid))
                    res = run_wrk(procs, url + CHAT, script, args.seconds, args.connections,
                                  log_name=f"wrk-{bench}-{who}-{r}.log")
                    figures[who].append((cpu_seconds(tree(proc.pid)) - cpu0) * 1e6 / max(1, res.requests))
                    settle()
                loads.append(os.getloadavg()[0])
            ratios = [a / b for a, b in zip(figures["after"], figures["before"], strict=True)]
            print(f"{bench}: before {statistics.median(figures['before']):.1f} us/req, after "
                  f"{statistics.median(figures['after']):.1f} us/req; after/before per round "
                  f"{' '.join(f'{x:.2f}' for x in ratios)}, median {statistics.median(ratios):.2f} "
                  f"(load average {statistics.median(loads):.1f})", flush=True)
            for proc, _ in fakes.values():
                procs.stop(proc)
    return 0


if __name__ == "__main__":
    run_main(main)
