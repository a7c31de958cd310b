"""Drive a target with wrk (pinned to the load core) and read back what it counted.

The Lua script sets the POST body and headers and prints wrk's own summary as one JSON line, so nothing
is scraped from its human-readable output.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from procs import LOAD_CORE, Processes

WRK = "wrk"
_MARK = "WRKJSON "

_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass
class WrkResult:
    requests: int
    seconds: float
    errors: int  # socket errors plus non-2xx/3xx answers
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def write_script(path: Path, body: bytes, headers: dict[str, str]) -> Path:
    lines = ['wrk.method = "POST"', f"wrk.body = [==[{body.decode()}]==]"]
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    path.write_text("\n".join(lines) + "\n" + _DONE)
    return path


def run_wrk(procs: Processes, url: str, script: Path, seconds: float, connections: int,
            log_name: str = "wrk.log") -> WrkResult:
    """One wrk run of `seconds` with one thread; raises if wrk fails or prints no summary."""
    argv = [WRK, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "-s", str(script), url]
    out_path = procs.workdir / f"{log_name}.out"
    with open(out_path, "wb") as out:
        proc = procs.start(argv, LOAD_CORE, log_name, stdout=out)
        try:
            proc.wait(seconds + 30)
        except subprocess.TimeoutExpired:
            procs.stop(proc)
            raise RuntimeError(f"wrk did not finish: {argv}") from None
        procs.stop(proc)
    text = out_path.read_text()
    for line in text.splitlines():
        if line.startswith(_MARK):
            d = json.loads(line[len(_MARK):])
            errors = sum(d[k] for k in ("connect", "read", "write", "status", "timeout"))
            return WrkResult(d["requests"], d["duration_us"] / 1e6, errors, d["p50_us"] / 1e3, d["p99_us"] / 1e3)
    raise RuntimeError(f"wrk printed no summary (exit {proc.returncode}):\n{text[-2000:]}")


def settle(seconds: float = 0.3) -> None:
    """Let sockets from the previous run drain before the next measurement starts."""
    time.sleep(seconds)
