"""A game day end to end in a real headless Chromium: `gatedrill gameday` runs a drill (fakes, the reference gateway,
load) and serves its console; the test presses a fault button, sees the error chart react, marks the incident,
clears the fault and stops the session from the page; the actions are in the run record, which is judged; the
exported YAML validates and replays as a drill whose fault windows and verdicts match the session's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gatedrill.harness.checks.fault_windows import fault_windows
from gatedrill.harness.record import RunRecord
from gatedrill.harness.report import judge_run

DRILL = Path(__file__).parent / "data" / "gameday-drill.yaml"
ROOT = Path(__file__).resolve().parent.parent
NOTE = "canary 500s <img src=x onerror=alert(1)>"
ERRORS_DRAWN = """() => {
  const svg = document.querySelector('#errors');
  const all = svg.querySelector('path.series[data-name="all causes"]');
  return Number(svg.dataset.peak) > 0 && all !== null && all.getBBox().height > 0;
}"""


@dataclass
class Session:
    run_dir: Path
    exit_code: int
    output: str
    seen: dict[str, list[str]]
    pressed_at: float  # the session's t (s after load start) shown when the fault button was pressed


def _gatedrill(*args: str, **kw: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "CI": "true", "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                                                    os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen([sys.executable, "-m", "gatedrill", *args], env=env, text=True, **kw)


def _read_output(proc: subprocess.Popen[str], lines: list[str]) -> str:
    """Read the command's output in a thread from now on (so its pipe never fills); return the console's URL."""
    assert proc.stdout is not None
    stdout = proc.stdout
    found: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in stdout:
            lines.append(line)
            if line.startswith("game-day console: ") and not found:
                found.append(line.split()[2])
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    ready.wait(60)
    if not found:
        raise AssertionError(f"no console URL in the output: {''.join(lines)}")
    return found[0]


def _t(page: Any) -> float:
    """The session's time as the page's header shows it ('running t+12s of 40s: ...')."""
    text = page.inner_text("#figs")
    return float(text.split("t+")[1].split("s")[0]) if "t+" in text else 0.0


@pytest.fixture(scope="module")
def session(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    run_dir = tmp_path_factory.mktemp("gameday") / "session"
    proc = _gatedrill("gameday", str(DRILL), "--port", "0", "--out", str(run_dir), stdout=subprocess.PIPE,
                      stderr=subprocess.STDOUT)
    lines: list[str] = []
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    seen: dict[str, list[str]] = {"errors": [], "requests": []}
    page.on("console", lambda m: seen["errors"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("request", lambda r: seen["requests"].append(r.url))
    try:
        page.goto(_read_output(proc, lines), wait_until="load")
        # predicates as functions: the page's CSP forbids eval, which Playwright uses for a bare expression
        page.wait_for_function("() => document.querySelectorAll('#upstream option').length === 2", timeout=15_000)
        # the load runs and both upstreams get traffic before anything is faulted
        page.wait_for_function("() => document.querySelectorAll('#traffic path.series').length === 2 && "
                               "document.querySelector('#figs').textContent.includes('t+3')", timeout=40_000)
        assert page.evaluate("Number(document.querySelector('#errors').dataset.peak)") == 0
        page.select_option("#upstream", "canary")
        page.fill("#note", NOTE)
        pressed_at = _t(page)
        page.click("form[data-kind=error_rate] button")
        page.wait_for_selector("#log li.manual >> text=set faults on canary", timeout=10_000)
        assert page.evaluate("document.querySelectorAll('#log img').length") == 0  # the note stays text
        page.wait_for_function(ERRORS_DRAWN, timeout=15_000)  # the chart reacts
        page.fill("#note", "")
        page.click("button[data-mark=incident_declared]")
        page.wait_for_selector("#log li.mark >> text=incident declared", timeout=10_000)
        time.sleep(1.0)
        page.click("button[data-mark=rollback_started]")
        time.sleep(2.0)
        page.click("form[data-kind=clear] button")
        page.wait_for_selector("#log li.manual >> text=clear faults canary", timeout=10_000)
        time.sleep(3.0)
        page.click("button[data-mark=resolved]")
        page.wait_for_selector("#log li.mark >> text=resolved", timeout=10_000)
        page.click("#stop")
        page.wait_for_selector("#ended.shown", timeout=60_000)
        assert "Session ended" in page.inner_text("#ended-title")
        proc.wait(timeout=90)
        time.sleep(0.2)  # the reader thread takes the last lines
        yield Session(run_dir, proc.returncode, "".join(lines), seen, pressed_at)
    finally:
        page.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # the command stops every process it started
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def test_a_game_day_is_driven_from_the_page_and_recorded_as_a_judged_run(session: Session) -> None:
    assert session.exit_code == 0, session.output  # the gate passed: the breaker shed the canary in time
    assert session.seen["errors"] == [], session.seen["errors"]
    assert all(u.startswith("http://127.0.0.1:") for u in session.seen["requests"]), session.seen["requests"]
    record = RunRecord.load(session.run_dir)
    assert record.meta.outcome == "completed" and record.load_summary.stop_reason == "stopped"
    manual = [e for e in record.timeline if e.source == "manual"]
    assert [(e.action, e.upstream, e.mark) for e in manual] == [
        ("set_faults", "canary", None), ("mark", None, "incident_declared"), ("mark", None, "rollback_started"),
        ("clear_faults", "canary", None), ("mark", None, "resolved")]
    fault = manual[0]
    assert fault.ok and fault.note == NOTE and fault.planned_s >= session.pressed_at
    [window] = fault_windows(record)
    assert window.upstream == "canary" and window.end - window.start > 3.0
    assert any(e.fault == "gameday-error_rate" for e in record.journals["canary"])  # the fake did inject it
    judged = judge_run(session.run_dir)
    assert judged.passed and {v.check for v in judged.verdicts} >= {"rollback", "accounting"}
    report = (session.run_dir / "report.html").read_text()
    assert 'id="gameday"' in report and "time to detect" in report and "by hand" in report


def test_the_exported_session_replays_as_a_drill_with_the_same_fault_windows_and_verdicts(session: Session,
                                                                                         tmp_path: Path) -> None:
    drill = tmp_path / "rehearsed.yaml"
    export = _gatedrill("gameday", "--export", str(session.run_dir), "-o", str(drill), stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT)
    out, _ = export.communicate(timeout=60)
    assert export.returncode == 0, out
    validate = _gatedrill("scenarios", "validate", str(drill), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = validate.communicate(timeout=60)
    assert validate.returncode == 0 and "5 timeline actions" in out, out
    replay_dir = tmp_path / "replay"
    replay = _gatedrill("run", str(drill), "--out", str(replay_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = replay.communicate(timeout=180)
    assert replay.returncode == 0, out
    session_rec, replay_rec = RunRecord.load(session.run_dir), RunRecord.load(replay_dir)
    assert all(e.source == "scenario" for e in replay_rec.timeline)
    assert [e.mark for e in replay_rec.timeline if e.mark] == ["incident_declared", "rollback_started", "resolved"]
    ours = [(w.upstream, w.start - session_rec.load_start(), w.end - session_rec.load_start(), w.faults)
            for w in fault_windows(session_rec)]
    theirs = [(w.upstream, w.start - replay_rec.load_start(), w.end - replay_rec.load_start(), w.faults)
              for w in fault_windows(replay_rec)]
    assert len(ours) == len(theirs) == 1
    for a, b in zip(ours, theirs, strict=True):
        assert a[0] == b[0] and a[3] == b[3]
        assert abs(a[1] - b[1]) < 0.3 and abs(a[2] - b[2]) < 0.3, (ours, theirs)
    verdicts = {v.check: v.status for v in judge_run(session.run_dir).verdicts}
    assert {v.check: v.status for v in judge_run(replay_dir).verdicts} == verdicts
