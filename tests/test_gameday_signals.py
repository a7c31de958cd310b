"""Ctrl-C in a game day: the first ends the session as Stop does (the load drains, the record is complete and
judged); a second interrupts at once (exit 130, as `gatedrill run`). Either way every process it started is gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
from test_runner_cleanup import assert_all_stopped, children_of_run, meta, wait_for

from gatedrill.harness.record import RunRecord

DRILL = Path(__file__).parent / "data" / "gameday-drill.yaml"


def start(out: Path) -> tuple[subprocess.Popen[str], list[str]]:
    """`gatedrill gameday` in its own session (a terminal's foreground group), its output read in a thread."""
    proc = subprocess.Popen([sys.executable, "-m", "gatedrill", "gameday", str(DRILL), "--port", "0", "--out",
                             str(out)], text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, env={**os.environ, "CI": "true"})
    lines: list[str] = []
    assert proc.stdout is not None
    stdout = proc.stdout
    threading.Thread(target=lambda: lines.extend(stdout), daemon=True).start()
    return proc, lines


def running(proc: subprocess.Popen[str], lines: list[str], out: Path) -> dict[str, psutil.Process]:
    try:
        wait_for(lambda: any(line.startswith("[load running]") for line in lines), 45, "the load to run")
        wait_for(lambda: len(children_of_run(out)) == 3, 10, "fakes, gateway and load worker")
    except AssertionError:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError("".join(lines)) from None
    return children_of_run(out)


def test_a_first_ctrl_c_ends_the_session_gracefully_and_judges_it(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc, lines = start(out)
    try:
        seen = running(proc, lines, out)
        time.sleep(1.0)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the foreground group
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    time.sleep(0.2)
    output = "".join(lines)
    assert proc.returncode in (0, 1), output  # the gate's code (nothing was faulted: rollback cannot pass)
    assert "gate:" in output and "Traceback" not in output
    record = RunRecord.load(out)
    assert record.meta.outcome == "completed" and record.load_summary.stop_reason == "stopped"
    assert "aborted" not in {c.error_class for c in record.clients}
    assert (out / "report.html").is_file()
    assert_all_stopped(seen, out, session=proc.pid)


def test_a_second_ctrl_c_interrupts_at_once(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc, lines = start(out)
    try:
        seen = running(proc, lines, out)
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    time.sleep(0.2)
    output = "".join(lines)
    assert proc.returncode == 130, output
    assert "gatedrill: interrupted;" in output and "Traceback" not in output
    assert meta(out)["outcome"] == "interrupted"
    assert_all_stopped(seen, out, session=proc.pid)
