"""A game-day session as a scenario: the record's resolved scenario with every action taken by hand (and every mark)
added to its timeline at the time it was pressed, so a rehearsed incident replays as a repeatable CI drill.

Only what the record holds is used (scenario.json, timeline.jsonl, load.json), never a live process. A session
stopped early becomes a drill of the length that ran; actions that failed to apply are left out (they changed
nothing), and so are scheduled ones that never came due.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from gatedrill.fakes.errors import ConfigError
from gatedrill.fakes.redaction import REDACTED

from ..record import RunRecord, TimelineEvent
from ..scenario import Scenario, TimelineAction

BY_HAND = "game day (by hand)"  # the note of a manual action exported without a note of its own
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def manual_actions(record: RunRecord) -> list[TimelineEvent]:
    """The session's actions taken by hand that took effect, in the order they were sent."""
    events = [e for e in record.timeline if e.source == "manual" and e.ok and e.spec is not None]
    return sorted(events, key=lambda e: e.planned_s)


def _duration(record: RunRecord) -> float:
    """The scenario's duration, or the part that ran when the session was stopped early (whole seconds)."""
    summary = record.load_summary
    ran = (summary.model_extra or {}).get("ran_s")
    if summary.stop_reason == "stopped" and isinstance(ran, int | float) and ran > 0:
        return float(min(record.scenario.duration_s, max(1, math.ceil(ran))))
    return record.scenario.duration_s


def session_scenario(record: RunRecord, name: str | None = None) -> Scenario:
    """The drill that replays the session (see the module's docstring). Raises ConfigError for a bad name."""
    base = record.scenario
    name = name or f"{base.name}-gameday"
    if not _NAME.match(name):
        raise ConfigError(f"--name {name!r}: use lower-case letters, digits and dashes, starting with a letter or "
                          "digit")
    duration = _duration(record)
    timeline: list[TimelineAction] = [a for a in base.timeline if a.at_s <= duration]
    for e in manual_actions(record):
        assert e.spec is not None
        at = min(duration, round(max(0.0, e.planned_s), 2))
        timeline.append(e.spec.model_copy(update={"at_s": at, "note": e.note or BY_HAND}))
    timeline.sort(key=lambda a: a.at_s)
    when = datetime.fromtimestamp(record.load_start(), UTC).strftime("%Y-%m-%d %H:%M UTC")
    told = (f"Replays the game day of {when} (run record {record.path.name}): "
            f"{len(manual_actions(record))} actions taken by hand, at the times they were taken.")
    data = base.model_dump(mode="json") | {
        "name": name, "duration_s": duration, "timeline": [a.model_dump(mode="json") for a in timeline],
        "description": f"{base.description.strip()}\n{told}".strip()}
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"the session does not make a valid scenario: {'.'.join(map(str, first['loc']))}: "
                          f"{first['msg']}") from None


def scenario_yaml(scenario: Scenario) -> str:
    """The scenario as YAML, defaults left out where that reads back as the same scenario (else written whole)."""
    data: dict[str, Any] = scenario.model_dump(mode="json", exclude_defaults=True)
    try:
        if Scenario.model_validate(data) != scenario:
            data = scenario.model_dump(mode="json")
    except ValidationError:
        data = scenario.model_dump(mode="json")
    head = ["# yaml-language-server: $schema=scenario.schema.json",
            "# Written by `gatedrill gameday --export`: a game-day session as a repeatable drill.",
            f"# Run it: gatedrill run {scenario.name}.yaml (add --gateway as for the session)."]
    text = yaml.safe_dump(data, sort_keys=False, width=110, allow_unicode=True)
    if REDACTED in text:
        head.append(f"# The record held credentials as {REDACTED}: put the real values back before running it.")
    return "\n".join(head) + "\n" + text


def export_session(run_dir: str | Path, out: str | Path | None = None, name: str | None = None) -> tuple[str, int]:
    """Write (or, with no `out`, return) the session's scenario YAML; returns (YAML text, actions by hand)."""
    path = Path(run_dir)
    if not (path / "meta.json").is_file():
        raise ConfigError(f"{path} is not a run record (no meta.json); give the folder a game day printed")
    record = RunRecord.load(path)
    text = scenario_yaml(session_scenario(record, name))
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text, encoding="utf-8")
    return text, len(manual_actions(record))
