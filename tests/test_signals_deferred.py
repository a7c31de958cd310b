"""A Ctrl-C never loses a child: `Processes.start` holds SIGINT/SIGTERM until the child it started is tracked, then
delivers them (CI once sent Ctrl-C to `fake serve` while it started its workers, and the fake did not stop)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from ctrl_c import python_sigint_handler, sigint_default

from gatedrill.deferred_signals import signals_deferred


def test_a_signal_in_the_block_is_delivered_after_it_to_the_handler_in_place() -> None:
    steps: list[str] = []
    with python_sigint_handler():
        with pytest.raises(KeyboardInterrupt), signals_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            steps.append("after the signal")
        assert steps == ["after the signal"]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_ignored_signal_stays_ignored() -> None:
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with signals_deferred():
            os.kill(os.getpid(), signal.SIGHUP)
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)


HARNESS = """
import pathlib, sys
from gatedrill.harness.processes import Processes
procs = Processes(pathlib.Path(sys.argv[1]))
started, held = [], 0
for _ in range(int(sys.argv[2])):
    try:  # the child sends Ctrl-C to us as soon as it runs: often while Popen still waits for its exec
        started.append(procs.start(["sh", "-c", "kill -INT $PPID; exec sleep 60"], None).pid)
    except KeyboardInterrupt:
        pass
    held = len(procs._procs)
print(" ".join(map(str, [held] + [p.pid for p in procs._procs])), flush=True)
procs.close()
"""


def test_every_child_started_under_ctrl_c_is_held_and_stopped(tmp_path: Path) -> None:
    runs = 20
    out = subprocess.run([sys.executable, "-c", HARNESS, str(tmp_path), str(runs)], capture_output=True, text=True,
                         timeout=120, preexec_fn=sigint_default)
    assert out.returncode == 0, out.stderr
    held, *pids = map(int, out.stdout.split())
    assert held == runs, f"{runs - held} of {runs} children were started but not tracked"
    alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert not alive


# the `gatedrill` script's own code, saying on stdout when the guarded import of the command line begins (an audit
# hook, run inside that import): a Ctrl-C before it falls in the interpreter's own start-up (CPython's
# "init_sys_streams", or runpy), where no program's code has run yet
SCRIPT = """
import sys
def _say(event, args):
    if event == "import" and args[0] == "gatedrill.cli" and not said:
        said.append(1)
        print("importing", flush=True)
said = []
sys.addaudithook(_say)
from gatedrill.entry import run
sys.argv[0] = "gatedrill"
sys.exit(run())
"""


def test_ctrl_c_while_the_command_line_imports_ends_without_a_traceback(tmp_path: Path) -> None:
    """The command line takes half a second or more to import; a Ctrl-C in that time printed Python's traceback (or
    crashed the interpreter), and one just after it click's "Aborted!" with exit code 1."""
    import time

    config = tmp_path / "fake.yaml"
    config.write_text("provider: openai\n")
    codes = set()
    for i in range(16):  # from the import's start into the fake's first moments
        p = subprocess.Popen([sys.executable, "-c", SCRIPT, "fake", "serve", "--config", str(config)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=sigint_default)
        assert p.stdout is not None
        assert p.stdout.readline() == "importing\n"
        time.sleep(0.05 * i)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=30)
        assert "Traceback" not in err and "Aborted" not in err, err
        codes.add(p.returncode)
    assert codes <= {0, 130}, codes  # 0: the fake was up and stopped as asked
