"""The live view of a load run: a rich panel on an interactive terminal, throttled plain lines in CI and logs."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gatedrill.harness.load import PlainProgress, Progress, RichProgress, console_progress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _p(elapsed: float, phase: str = "running", **kw: object) -> Progress:
    return Progress(phase=phase, elapsed_s=elapsed, duration_s=12, target_rate=50, achieved_rate=49.0, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("stream", "env", "view"), [
    (_Tty(), {}, RichProgress),
    (_Tty(), {"CI": "true"}, PlainProgress),
    (_Tty(), {"CI": "0"}, RichProgress),
    (_Tty(), {"TERM": "dumb"}, PlainProgress),
    (io.StringIO(), {}, PlainProgress),  # piped or redirected
    (io.StringIO(), {"GATEDRILL_PROGRESS": "rich"}, RichProgress),
    (_Tty(), {"GATEDRILL_PROGRESS": "plain"}, PlainProgress),
])
def test_the_view_fits_the_stream(monkeypatch: pytest.MonkeyPatch, stream: io.StringIO, env: dict[str, str],
                                  view: type) -> None:
    for key in ("CI", "TERM", "GATEDRILL_PROGRESS"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert type(console_progress(stream)) is view


def test_off_shows_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEDRILL_PROGRESS", "off")
    out = _Tty()
    console_progress(out)(_p(1))
    assert out.getvalue() == ""


def test_plain_lines_are_throttled_but_keep_every_phase_change() -> None:
    out = io.StringIO()
    view = PlainProgress(out, every_s=5)
    view(_p(0.0, "starting"))
    for t in range(1, 12):
        view(_p(float(t)))
    view(_p(12.0, "draining"))
    view(_p(12.5, "done"))
    phases = [line.split("]")[0] for line in out.getvalue().splitlines()]
    assert phases == ["[load starting", "[load running", "[load running", "[load running", "[load draining",
                      "[load done"]  # running at 1, 6 and 11 s


def test_the_rich_panel_shows_time_rates_errors_latency_and_shares() -> None:
    out = io.StringIO()
    view = RichProgress(out)
    view(_p(3, sent=150, completed=140, errors=7, latency_p99_ms=88.5, upstream_share={"stable": 0.9, "canary": 0.1}))
    view.close()
    text = out.getvalue()
    for part in ("load: running", "3.0s / 12s (9.0s left)", "49.0/s achieved of 50.0/s", "7 (5.0% of done)",
                 "p99 88.5 ms", "stable", "90.0%", "canary", "10.0%"):
        assert part in text, part


def _run_in_terminal(args: list[str], cwd: Path, timeout: float = 90) -> str:
    """Run a command with a pseudo-terminal as stdout and stderr (an interactive user's shell); return its output."""
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GATEDRILL_PROGRESS")} | {"TERM": "xterm"}
    proc = subprocess.Popen(args, stdout=slave, stderr=slave, stdin=subprocess.DEVNULL, cwd=cwd, env=env)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        os.close(master)
    return b"".join(chunks).decode(errors="replace")


def test_gatedrill_run_shows_the_live_panel_in_a_terminal(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "gatedrill"
    cmd = [str(script)] if script.exists() else [sys.executable, "-P", "-m", "gatedrill"]
    text = _run_in_terminal([*cmd, "run", "canary-split", "--scale", "0.1", "--out", str(tmp_path / "run")], tmp_path)
    assert "load: running" in text and "achieved of 40.0/s" in text, text[-2000:]
    assert "stable" in text and "canary" in text
    assert "[load running]" not in text  # no plain lines on a terminal
