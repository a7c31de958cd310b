"""The runner's fakes start through a Python API (`start_fleet`) in a child of their own that reports its URLs
over a private pipe, stops with the run, and exits when the process that started it dies. Each upstream draws
from its own seed stream."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import psutil

from gatedrill.harness.fake_fleet import start_fleet, upstream_configs
from gatedrill.harness.processes import Processes
from gatedrill.harness.scenario import load_scenario
from gatedrill.harness.seeds import derive
from gatedrill.scenarios import resolve


def test_the_fleet_serves_every_upstream_and_stops_with_its_processes(tmp_path: Path) -> None:
    configs = list(upstream_configs(load_scenario(resolve("canary-split"))).values())
    with Processes(tmp_path) as procs:
        fleet = start_fleet(procs, configs, tmp_path)
        assert set(fleet.urls) == {c.name for c in configs}
        for url in fleet.urls.values():
            assert url.startswith("http://127.0.0.1:")
            assert httpx.get(f"{url}/_gatedrill/health", timeout=5).status_code == 200
        procs.stop(fleet.proc, sig=signal.SIGINT)
        assert fleet.proc.returncode == 0
    fleet.lifeline.close()


def test_the_fleet_exits_when_the_process_that_started_it_is_killed(tmp_path: Path) -> None:
    starter = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from gatedrill.harness.fake_fleet import start_fleet, upstream_configs
        from gatedrill.harness.processes import Processes
        from gatedrill.harness.scenario import load_scenario
        from gatedrill.scenarios import resolve
        configs = list(upstream_configs(load_scenario(resolve("canary-split"))).values())
        procs = Processes(Path({str(tmp_path)!r}))
        fleet = start_fleet(procs, configs, Path({str(tmp_path)!r}))
        print(fleet.proc.pid, flush=True)
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", starter], stdout=subprocess.PIPE, text=True)
    fleet_pid = 0
    try:
        assert parent.stdout is not None
        fleet_pid = int(parent.stdout.readline())
        fleet = psutil.Process(fleet_pid)
        assert fleet.is_running()
        os.kill(parent.pid, signal.SIGKILL)  # no finally, no atexit: only the kernel closes its end of the pipe
        parent.wait(10)
        deadline = time.monotonic() + 10
        while fleet.is_running() and fleet.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not fleet.is_running() or fleet.status() == psutil.STATUS_ZOMBIE, "the fakes outlived their parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
        if fleet_pid:  # when the test fails, the fleet it leaves behind is its own to stop
            with contextlib.suppress(ProcessLookupError):
                os.killpg(fleet_pid, signal.SIGKILL)


def test_each_upstream_gets_its_own_seed_stream_from_the_drill_seed() -> None:
    sc = load_scenario(resolve("canary-split"))
    seeds = {name: cfg.seed for name, cfg in upstream_configs(sc).items()}
    assert len(set(seeds.values())) == len(seeds)  # the same fault rules on two fakes draw different coins
    assert seeds == {name: cfg.seed for name, cfg in upstream_configs(sc).items()}  # and the same ones every run
    assert seeds == {name: derive(sc.seed, f"upstream:{name}") for name in sc.upstreams}
    other = sc.model_copy(update={"seed": sc.seed + 1})
    assert not set(seeds.values()) & {cfg.seed for cfg in upstream_configs(other).values()}
    assert derive(sc.seed, "router") not in seeds.values()
