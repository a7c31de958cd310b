"""Run records for the report tests: real drills (run once per test process and reused) and a hostile synthetic
record whose content carries markup and secrets, to prove reports escape and redact what they show."""

from __future__ import annotations

import atexit
import copy
import functools
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

from gatedrill.fakes.conversation import digest, openai_atoms
from gatedrill.harness.checks.synthetic import T0_MONO, T0_WALL, record_of
from gatedrill.harness.record import GatewayMeta, JournalEntry, RunRecord, TimelineEvent
from gatedrill.harness.record.clients import CLIENT_RECORD
from gatedrill.harness.runner import RunOptions, run
from gatedrill.harness.scenario import Scenario, load_scenario
from gatedrill.scenarios import resolve

_ROOT = Path(tempfile.mkdtemp(prefix="gd-report-runs-"))
atexit.register(shutil.rmtree, _ROOT, True)

XSS = "<script>alert('xss')</script><img src=x onerror=alert(1)>"
SECRET = "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX0123"


@functools.cache
def real_run(drill: str, scale: float, mutant: str | None = None) -> Path:
    """A real run record (fakes, reference gateway, load), made once per process for these arguments."""
    out = _ROOT / f"{drill}-{scale}-{mutant or 'correct'}"
    return run(drill, RunOptions(scale=scale, mutant=mutant, out=out)).path


@functools.cache
def rollback_cli_run() -> tuple[Path, int, str]:
    """`gatedrill run canary-rollback --scale 0.3 --html/--junit/--json` (CI=true): ~13 s of load, a fault window
    on the canary, rollback and recovery. Returns the record folder (reports inside it), exit code and output."""
    from click.testing import CliRunner

    from gatedrill.cli import main

    out = _ROOT / "canary-rollback-cli"
    args = ["run", "canary-rollback", "--scale", "0.3", "--out", str(out), "--html", str(out / "report.html"),
            "--junit", str(out / "junit.xml"), "--json", str(out / "report.json")]
    result = CliRunner().invoke(main, args, env={"CI": "true"})
    assert (out / "meta.json").exists(), result.output
    return out, result.exit_code, result.output


def rollback_run() -> Path:
    """The canary-rollback run record made by `rollback_cli_run`."""
    return rollback_cli_run()[0]


def failing_split_run() -> Path:
    """canary-split with the ignore_weights mutant at scale 0.15: canary_split fails (judged for a 15% deviation)."""
    return real_run("canary-split", 0.15, "ignore_weights")


SPLIT_SETS = ["canary_split.min_detectable=0.15"]


def hostile_record(sessions: int = 8, turns: int = 4) -> RunRecord:
    """A context-continuity record (OpenAI/Anthropic turns, history dropped on every provider switch) whose user
    messages, timeline note and response headers carry markup and an API key."""
    scenario: Scenario = load_scenario(resolve("context-continuity"))
    data = scenario.model_dump(mode="json")
    data["description"] = f"hostile {XSS}"
    scenario = Scenario.model_validate(data)
    system = "You are a careful travel agent."
    rng = random.Random(7)
    clients: list[dict[str, Any]] = []
    journals: dict[str, list[dict[str, Any]]] = {"openai": [], "anthropic": []}
    t = 0.0
    for s in range(sessions):
        history: list[dict[str, Any]] = []
        last = None
        for turn in range(1, turns + 1):
            t += 0.25
            history.append({"role": "user", "content": f"turn {turn} {XSS} key {SECRET} {rng.random():.3f}"})
            up = "openai" if (s + turn) % 2 else "anthropic"
            sent = [{"role": "system", "content": system}, *history]
            got = history[-1:] if last is not None and up != last else history
            body: dict[str, Any] = ({"model": "gpt-4o-mini", "messages": [{"role": "system", "content": system},
                                                                          *copy.deepcopy(got)]}
                                    if up == "openai" else
                                    {"model": "claude-haiku-4-5", "system": system, "messages": copy.deepcopy(got)})
            cid = f"s{s}-t{turn}"
            received = openai_atoms([{"role": "system", "content": system}, *got])
            journals[up].append({
                "correlation_id": cid, "session_id": f"s{s}", "turn": turn, "arrival_wall": T0_WALL + t,
                "arrival_mono": T0_MONO + t, "status": 200, "outcome": "complete", "endpoint":
                "chat" if up == "openai" else "messages", "body": body,
                "headers": {"authorization": f"Bearer {SECRET}"},
                "reply": {"choices": [{"text": XSS}], "digest": digest(received)}})
            clients.append({
                "correlation_id": cid, "session_id": f"s{s}", "turn": turn, "model": "drill", "stream": False,
                "intended_s": T0_WALL + t, "intended_mono": T0_MONO + t, "sent_s": T0_WALL + t,
                "sent_mono": T0_MONO + t, "end_s": T0_WALL + t + 0.1, "end_mono": T0_MONO + t + 0.1,
                "status": 200 if turn < turns else 500, "error_class": None if turn < turns else "http_status",
                "error": XSS if turn == turns else None, "text": XSS, "sent_digest": digest(openai_atoms(sent)),
                "messages": len(sent), "headers": {"x-api-key": SECRET, "x-gatedrill-upstream": up}})
            history.append({"role": "assistant", "content": f"reply {s}.{turn} {XSS}"})
            last = up
    timeline = [{"action": "set_faults", "upstream": "openai", "note": f"{XSS} by {SECRET}", "planned_s": 1.0,
                 "applied_s": 1.0, "applied_wall": T0_WALL + 1.0, "ok": True, "detail": "",
                 "spec": {"action": "set_faults", "at_s": 1.0, "upstream": "openai",
                          "faults": [{"name": XSS, "fault": {"kind": "http_error", "status": 500}}]}},
                {"action": "clear_faults", "upstream": "openai", "note": "fixed", "planned_s": 3.0, "applied_s": 3.0,
                 "applied_wall": T0_WALL + 3.0, "ok": True, "detail": ""}]
    rec = record_of(scenario, [CLIENT_RECORD.validate_python(c) for c in clients],
                    {name: [JournalEntry.model_validate(e) for e in entries] for name, entries in journals.items()},
                    [TimelineEvent.model_validate(e) for e in timeline])
    rec.meta = rec.meta.model_copy(update={"end_wall": T0_WALL + t + 1.0, "config_hash": XSS, "seed": 5,
                                           "gateway": GatewayMeta(kind="url", url=f"http://127.0.0.1:1/?key={SECRET}")})
    return rec
