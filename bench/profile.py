"""Profile a fake's request path under load: `python bench/profile.py [--seconds 8] [--top 25]`.

Two runs, each a fresh `gatedrill fake serve openai` (journal on, default config) pinned to the server core and
driven by wrk from the load core, as benchmarks a and b of `run.py`: a non-streamed chat completion, and a zero-delay
50-chunk stream. The profiler is py-spy (sampling, `--nonblocking`, so it does not slow the fake it watches) when
it is installed (`pip install py-spy`), else cProfile (deterministic, so it inflates small functions: read its
shares as a rough guide). Only samples taken inside the event loop's callbacks count (the request path: parsing,
the fake's decisions, rendering, journaling, writing), not start-up or idle waits. It prints each function's share
of those samples, self (its own code) and inclusive (with what it calls).
"""

from __future__ import annotations

import argparse
import collections
import pstats
import re
import shutil
import signal
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from procs import SERVER_CORE, Processes, free_port, pin_self, pinning_available, run_main, wait_ready
from run import CHAT, HEADERS, JSON_BODY, STREAM_BODY, STREAM_CHUNKS
from wrk import run_wrk, write_script

from gatedrill.harness.processes import exit_on_sigterm

# A frame as py-spy writes it: "function (path/to/file.py:line)"
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>.*?)(?::\d+)?\)$")
_REQUEST_PATH = "Handle._run"  # the event loop running a callback: a read, a timer, a write


def _short(frame: str) -> str:
    m = _FRAME.match(frame)
    if not m:
        return frame
    file = m["file"]
    for marker in ("site-packages/", "/gatedrill/", "python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{m['func']} ({file})"


def shares_from_pyspy(raw: Path) -> tuple[int, list[tuple[str, float]], list[tuple[str, float]]]:
    """(samples, self shares, inclusive shares) over the samples whose stack runs a loop callback."""
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not any(_REQUEST_PATH in f for f in frames):
            continue
        n = int(count)
        total += n
        names = [_short(f) for f in frames]
        own[names[-1]] += n
        for name in set(names[names.index(next(x for x in names if _REQUEST_PATH in x)) + 1:]):
            incl[name] += n
    if not total:
        return 0, [], []
    return total, [(k, v / total) for k, v in own.most_common()], [(k, v / total) for k, v in incl.most_common()]


def shares_from_cprofile(path: Path) -> tuple[int, list[tuple[str, float]], list[tuple[str, float]]]:
    stats = pstats.Stats(str(path))
    table = stats.stats  # type: ignore[attr-defined]
    run = [v for k, v in table.items() if k[2] == "_run" and k[0].endswith("events.py")]
    total = run[0][3] if run else sum(v[2] for v in table.values())  # cumulative time of Handle._run
    calls = sum(v[1] for v in table.values())

    def name(k: tuple[str, int, str]) -> str:
        return _short(f"{k[2]} ({k[0]})")

    own = sorted(((name(k), v[2] / total) for k, v in table.items()), key=lambda x: -x[1])
    incl = sorted(((name(k), v[3] / total) for k, v in table.items() if v[3] <= total * 1.0001),
                  key=lambda x: -x[1])
    return calls, own, incl


def profile(procs: Processes, workdir: Path, name: str, config: str | None, body: bytes, seconds: float,
            connections: int, use_pyspy: bool) -> tuple[int, list[tuple[str, float]], list[tuple[str, float]], float]:
    port = free_port()
    serve = ["fake", "serve", "openai", "--port", str(port)] + (["--config", config] if config else [])
    gatedrill = shutil.which("gatedrill")
    fake = [gatedrill, *serve] if gatedrill else [sys.executable, "-m", "gatedrill", *serve]
    out = workdir / f"{name}.{'raw' if use_pyspy else 'prof'}"
    if pinning_available():
        fake = ["taskset", "-c", str(SERVER_CORE), *fake]
    if use_pyspy:
        argv = ["py-spy", "record", "--nonblocking", "-r", "1000", "-f", "raw", "-o", str(out), "--", *fake]
    else:
        python = [sys.executable, "-m", "cProfile", "-o", str(out)]
        argv = [*fake[:3], *python, "-m", "gatedrill", *serve] if pinning_available() else \
            [*python, "-m", "gatedrill", *serve]
    proc = procs.start(argv, None, f"profile-{name}.log")
    try:
        wait_ready(f"http://127.0.0.1:{port}/_gatedrill/health", proc, timeout=60)
        script = write_script(workdir / f"{name}.lua", body, HEADERS)
        res = run_wrk(procs, f"http://127.0.0.1:{port}{CHAT}", script, seconds, connections,
                      log_name=f"wrk-profile-{name}.log")
    finally:
        procs.stop(proc, grace=30, sig=signal.SIGINT)  # Ctrl-C: py-spy writes its samples, cProfile its stats
    if not out.exists():
        raise RuntimeError(f"the profiler wrote nothing; see {workdir / f'profile-{name}.log'}")
    return (*(shares_from_pyspy(out) if use_pyspy else shares_from_cprofile(out)), res.rate)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=8.0, help="wrk run length (default 8)")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--top", type=int, default=25, help="entries to print (default 25)")
    p.add_argument("--cprofile", action="store_true", help="use cProfile even when py-spy is installed")
    args = p.parse_args(argv)
    exit_on_sigterm()
    pin_self(1)
    use_pyspy = not args.cprofile and shutil.which("py-spy") is not None
    print(f"profiler: {'py-spy (sampling)' if use_pyspy else 'cProfile (deterministic)'}")
    with tempfile.TemporaryDirectory(prefix="gatedrill-profile-") as tmp, Processes(Path(tmp)) as procs:
        workdir = Path(tmp)
        stream_cfg = workdir / "stream.yaml"
        stream_cfg.write_text(f"provider: openai\nreply:\n  output_tokens: {STREAM_CHUNKS}\n")
        for name, cfg, body in (("json", None, JSON_BODY), ("stream_50", str(stream_cfg), STREAM_BODY)):
            samples, own, incl, rate = profile(procs, workdir, name, cfg, body, args.seconds, args.connections,
                                               use_pyspy)
            print(f"\n{name}: {rate:,.0f}/s under the profiler, {samples:,} "
                  f"{'samples' if use_pyspy else 'calls'} on the request path")
            print("  self                                                          inclusive")
            for i in range(args.top):
                left = f"{own[i][1]:6.1%}  {own[i][0]}" if i < len(own) else ""
                right = f"{incl[i][1]:6.1%}  {incl[i][0]}" if i < len(incl) else ""
                print(f"  {left[:62]:<62}  {right}")
    return 0


if __name__ == "__main__":
    run_main(main)
