"""The runner leaves no process behind: after a normal run, a run whose child (load worker, fakes, gateway) is
killed mid-run, Ctrl-C, a gateway that cannot be reached, and usage errors. Failures end with a clear one-line
error, the documented exit code, and a run record marked failed or interrupted.

Processes are found in /proc (through psutil, which Locust depends on): every child the runner starts names the
run folder on its command line (its config, spec or journal path), and a CLI run in its own session must leave
nothing in that session or process group.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from gatedrill.fakes.errors import ConfigError
from gatedrill.harness.processes import InfrastructureError
from gatedrill.harness.runner import RunOptions, RunOutcome, run
from gatedrill.scenarios import resolve

ROLES = {"fakes": "gatedrill.harness.fake_fleet", "gateway": "gatedrill.harness.reference",
         "load worker": "load_spec.json"}


def references(proc: psutil.Process, run_dir: Path, session: int | None) -> bool:
    """Does the process name the run folder (command line or environment) or live in the CLI's session/group?"""
    needle = str(run_dir)
    try:
        if needle in " ".join(proc.cmdline()):
            return True
        if session is not None and session in (os.getsid(proc.pid), os.getpgid(proc.pid)):
            return True
        return any(needle in v for v in proc.environ().values())
    except (psutil.Error, ProcessLookupError, PermissionError):
        return False


def lingering(run_dir: Path, session: int | None = None) -> list[str]:
    me = os.getpid()
    return [f"{p.pid} {p.info['name']} {p.info['cmdline']}" for p in psutil.process_iter(["name", "cmdline"])
            if p.pid != me and references(p, run_dir, session)]


def children_of_run(run_dir: Path) -> dict[str, psutil.Process]:
    """The run's child processes by role, found by what their command lines name."""
    out: dict[str, psutil.Process] = {}
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if str(run_dir) not in cmd or "-m gatedrill run" in cmd:
            continue
        for role, mark in ROLES.items():
            if mark in cmd:
                out[role] = p
    return out


def wait_for(cond: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def assert_all_stopped(seen: dict[str, psutil.Process], run_dir: Path, session: int | None = None) -> None:
    """Every child seen is gone (an unreaped zombie counts as left behind), and nothing names the run folder."""
    deadline = time.monotonic() + 3  # slack for a process that is exiting right now
    while time.monotonic() < deadline:
        if not any(p.is_running() for p in seen.values()) and not lingering(run_dir, session):
            break
        time.sleep(0.1)
    assert not [role for role, p in seen.items() if p.is_running()], "a child is still running (or unreaped)"
    assert not lingering(run_dir, session)


def meta(run_dir: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((run_dir / "meta.json").read_text())
    return data


def start_in_thread(name: str, out: Path, scale: float, **opts: Any) -> Future[RunOutcome]:
    pool = ThreadPoolExecutor(1)
    fut = pool.submit(run, name, RunOptions(out=out, scale=scale, **opts))
    pool.shutdown(wait=False)
    return fut


def wait_until_load_runs(out: Path) -> dict[str, psutil.Process]:
    """All three children up and the load sending (client records being written)."""
    wait_for(lambda: len(children_of_run(out)) == 3, 30, "fakes, gateway and load worker")
    kids = children_of_run(out)
    wait_for(lambda: (out / "clients.jsonl").exists() and (out / "clients.jsonl").stat().st_size > 0, 15,
             "client records")
    return kids


def cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "gatedrill", "run", *args], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def error_lines(stderr: str) -> list[str]:
    """stderr without the live progress lines and the pre-run plan warnings (`gatedrill plan`'s shortfalls)."""
    return [ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith(("[load ", "warning: "))]


# -- (a) a normal run -----------------------------------------------------------------------------------------


def test_normal_run_stops_fakes_gateway_and_load_worker(tmp_path: Path) -> None:
    out = tmp_path / "run"
    fut = start_in_thread("canary-split", out, 0.05)
    seen = wait_until_load_runs(out)
    assert set(seen) == set(ROLES)
    outcome = fut.result(timeout=60)
    assert outcome.path == out and meta(out)["outcome"] == "completed"
    assert_all_stopped(seen, out)


# -- (b) a child killed mid-run -------------------------------------------------------------------------------


@pytest.mark.parametrize("victim", ["load worker", "gateway"])
def test_killed_child_fails_the_run_and_every_other_child_stops(victim: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    fut = start_in_thread("canary-split", out, 0.5)  # 15 s of load: the kill lands well inside it
    seen = wait_until_load_runs(out)
    seen[victim].send_signal(signal.SIGKILL)
    t = time.monotonic()
    with pytest.raises(InfrastructureError) as info:
        fut.result(timeout=30)
    assert time.monotonic() - t < 10, "the run noticed the dead child promptly"
    assert "killed by signal 9" in str(info.value) or "exit -9" in str(info.value), str(info.value)
    m = meta(out)
    assert m["outcome"] == "failed" and "InfrastructureError" in str(m["error"])
    assert_all_stopped(seen, out)


def test_killed_fakes_end_the_cli_run_with_exit_3_and_one_line(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = cli("canary-split", "--scale", "0.5", "--out", str(out), cwd=tmp_path)
    try:
        seen = wait_until_load_runs(out)
        seen["fakes"].send_signal(signal.SIGKILL)
        _, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 3, stderr
    (line,) = error_lines(stderr)
    assert line.startswith("gatedrill: error: the fakes (pid ") and "died during the run" in line, line
    assert meta(out)["outcome"] == "failed"
    assert_all_stopped(seen, out, session=proc.pid)


# -- (c) Ctrl-C -----------------------------------------------------------------------------------------------


def _gateway_started(out: Path) -> bool:
    return "gateway" in children_of_run(out)


@pytest.mark.parametrize("when", ["while starting up", "while the load runs"])
def test_ctrl_c_stops_everything_and_marks_the_record_interrupted(when: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = cli("canary-split", "--scale", "0.3", "--out", str(out), cwd=tmp_path)
    seen: dict[str, psutil.Process] = {}
    try:
        if when == "while starting up":
            wait_for(lambda: _gateway_started(out), 30, "the gateway process")
            time.sleep(0.1)  # past the gateway's exec: the runner now waits for its ready line
        else:
            wait_until_load_runs(out)
            time.sleep(0.5)  # about 2 s after the command started
        seen = children_of_run(out)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the foreground group
        t = time.monotonic()
        _, stderr = proc.communicate(timeout=15)
        took = time.monotonic() - t
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, stderr
    assert took < 8, f"took {took:.1f} s to stop"
    assert "Traceback" not in stderr
    (line,) = error_lines(stderr)
    assert line.startswith("gatedrill: interrupted;") and str(out) in line, line
    assert meta(out)["outcome"] == "interrupted"
    assert seen, "children were running when Ctrl-C came"
    assert_all_stopped(seen, out, session=proc.pid)


# -- (d) infrastructure that cannot start ------------------------------------------------------------------------


def test_unreachable_gateway_fails_the_warm_up_with_exit_3_and_one_line(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = cli("canary-split", "--scale", "0.1", "--out", str(out), "--gateway", "url:http://127.0.0.1:9",
               cwd=tmp_path)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 3, stderr
    (line,) = error_lines(stderr)
    assert line.startswith("gatedrill: error: the gateway at http://127.0.0.1:9 did not answer a warm-up request")
    m = meta(out)
    assert m["outcome"] == "failed"
    assert m["gateway"] == {"kind": "url", "url": "http://127.0.0.1:9", "mutant": None, "limitations": [],
                            "claims": {}, "version": None, "install": None}
    assert_all_stopped({}, out, session=proc.pid)


def test_fake_port_in_use_is_a_config_error_with_exit_2_and_one_line(tmp_path: Path) -> None:
    data = yaml.safe_load(resolve("canary-split").read_text())
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        data["upstreams"]["canary"]["port"] = port
        scenario = tmp_path / "busy.yaml"
        scenario.write_text(yaml.safe_dump(data))
        out = tmp_path / "run"
        proc = cli(str(scenario), "--scale", "0.1", "--out", str(out), cwd=tmp_path)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2, stderr
    (line,) = error_lines(stderr)
    assert line.startswith("gatedrill: error: the fakes exited during start-up") and f"port {port}" in line, line
    assert meta(out)["outcome"] == "failed"
    assert_all_stopped({}, out, session=proc.pid)


# -- (e) usage errors --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "expected"), [
    (["no-such-drill"], "no scenario file 'no-such-drill' and no built-in drill of that name"),
    (["canary-split", "--mutant", "no_such_bug"], "unknown mutant 'no_such_bug'"),
    (["canary-split", "--gateway", "bogus"], "unknown --gateway 'bogus'"),
    (["canary-split", "--set", "nope.alpha=1"], "unknown check 'nope'"),
    (["canary-split", "--set", "canary_split.alpha=abc"], "check canary_split: alpha: Input should be a valid number"),
    (["canary-rollback", "--set", "rollback.max_detection_s=-1"],
     "check rollback: max_detection_s: Input should be greater than 0"),
    (["canary-rollback", "--set", "rollback.max_detection=1"], "check rollback: max_detection: unknown parameter"),
], ids=["scenario", "mutant", "gateway", "set-check", "set-value", "set-merged-value", "set-param"])
def test_unknown_scenario_mutant_gateway_or_check_setting_exits_2_with_one_line(args: list[str], expected: str,
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = cli(*args, "--out", str(out), cwd=tmp_path)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 2, stderr
    assert stderr.splitlines() == [stderr.strip()] and stderr.startswith(f"gatedrill: error: {expected}"), stderr
    assert not out.exists(), "no run record for a run that never started"


def test_an_existing_run_record_is_not_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "meta.json").write_text("{}")
    with pytest.raises(ConfigError, match="already holds a run record"):
        run("canary-split", RunOptions(out=out, scale=0.05))
    assert (out / "meta.json").read_text() == "{}"


def test_a_non_empty_folder_that_is_not_a_run_record_is_refused_as_out(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my own file")
    with pytest.raises(ConfigError, match="is not empty and holds no run record"):
        run("canary-split", RunOptions(out=out, scale=0.05))
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


# -- (f) the runner itself killed with SIGKILL ----------------------------------------------------------------------


def _gone(p: psutil.Process) -> bool:
    """Exited: no such process, or a zombie its new parent (PID 1 or a subreaper) has yet to reap."""
    try:
        return p.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_sigkilled_runner_takes_its_children_along_and_the_next_run_marks_it_abandoned(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    killed = runs / "killed"
    proc = cli("failover-drill", "--scale", "0.5", "--out", str(killed), cwd=tmp_path)  # 30 s of load
    try:
        seen = wait_until_load_runs(killed)
        assert set(seen) == set(ROLES)
        time.sleep(1.0)  # a few seconds into the drill
        proc.send_signal(signal.SIGKILL)  # the runner alone: no finally, no signal handler runs
        proc.wait(5)
        t = time.monotonic()
        wait_for(lambda: all(_gone(p) for p in seen.values()), 3, "every child of the killed runner to exit")
        took = time.monotonic() - t
    finally:
        for p in children_of_run(killed).values():
            with contextlib.suppress(psutil.Error):
                p.kill()
    assert took < 3
    assert meta(killed)["outcome"] == "running"  # nothing closed it
    assert (killed / "journal").is_dir() and any((killed / "journal").glob("*.jsonl")), "the fakes flushed"
    nxt = cli("canary-split", "--scale", "0.05", "--out", str(runs / "next"), cwd=tmp_path)
    _, stderr = nxt.communicate(timeout=90)
    assert nxt.returncode in (0, 1), stderr
    m = meta(killed)
    assert m["outcome"] == "abandoned" and "runner died" in str(m["error"])
    assert meta(runs / "next")["outcome"] == "completed"
