"""Writes a run record as the run goes: meta first (so a crashed run is recognisable), the rest as it happens.

Each file is written from its model (`RunMeta`, `TimelineEvent`, `LoadSummary`), the same ones `RunRecord.load`
reads; client records and journals are written by the load generator and the fakes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from gatedrill.fakes.redaction import redact_body

from ..scenario import Scenario
from .load_summary import LoadSummary
from .meta import GatewayMeta, RunMeta
from .phases import Outcome
from .timeline import TimelineEvent


def config_hash(scenario: Scenario) -> str:
    """A stable hash of the resolved scenario: two runs with the same hash ran the same drill."""
    raw = json.dumps(scenario.model_dump(mode="json"), sort_keys=True).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for pkg in ("gatedrill", "locust", "openai", "anthropic", "litellm", "pydantic"):
        with contextlib.suppress(PackageNotFoundError):
            out[pkg] = version(pkg)
    return out


class RecordWriter:
    """The runner's side of a run record: meta.json, scenario.json, timeline.jsonl and load.json."""

    def __init__(self, path: Path, scenario: Scenario, scale: float, gateway: GatewayMeta) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        (path / "journal").mkdir(exist_ok=True)
        self.meta = RunMeta(scenario=scenario.name, seed=scenario.seed, scale=scale,
                            config_hash=config_hash(scenario), versions=versions(), gateway=gateway)
        (path / "scenario.json").write_text(json.dumps(redact_body(scenario.model_dump(mode="json")), indent=2))
        self.write_meta()
        self._timeline = (path / "timeline.jsonl").open("a", encoding="utf-8")

    def journal_path(self, upstream: str) -> Path:
        return self.path / "journal" / f"{upstream}.jsonl"

    def timeline_event(self, event: TimelineEvent) -> None:
        self._timeline.write(event.model_dump_json() + "\n")
        self._timeline.flush()

    def rewrite_timeline(self, events: list[TimelineEvent]) -> None:
        """Replace timeline.jsonl with `events` (the same actions, with what was learnt after the run added)."""
        self._timeline.close()
        tmp = self.path / "timeline.jsonl.tmp"
        tmp.write_text("".join(e.model_dump_json() + "\n" for e in events), encoding="utf-8")
        tmp.replace(self.path / "timeline.jsonl")
        self._timeline = (self.path / "timeline.jsonl").open("a", encoding="utf-8")

    def write_meta(self, **updates: Any) -> None:
        """Update meta fields (validated against RunMeta) and rewrite meta.json."""
        self.meta = RunMeta.model_validate({**self.meta.model_dump(), **updates})
        data = self.meta.model_dump(mode="json")
        (self.path / "meta.json").write_text(json.dumps(data, indent=2, sort_keys=True))

    def write_load(self, summary: LoadSummary) -> None:
        (self.path / "load.json").write_text(json.dumps(summary.model_dump(mode="json"), indent=2, sort_keys=True,
                                                        default=str))

    def close(self, outcome: Outcome) -> None:
        self._timeline.close()
        self.write_meta(outcome=outcome)
