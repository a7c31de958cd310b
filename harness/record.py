"""The run record: one folder that holds everything a drill produced. Checks read only this.

Layout (all JSON / JSONL, UTF-8):

    meta.json          scenario name, seed, scale, config hash, versions, gateway and fake URLs, warm-up status,
                       wall-clock load start (the load's t0) and end, outcome: completed, failed (with
                       `error`) or interrupted; "running" if the runner itself was killed
    scenario.json      the resolved scenario (after --scale and --seed), exactly what ran
    timeline.jsonl     timeline actions as executed: planned and actual time (s after load start), result
    clients.jsonl      one client record per request (intended/sent/ttft/end times, status, ids, gateway headers)
    journal/NAME.jsonl every request each fake received (the fakes' journals, ground truth)
    load.json          the load generator's summary (achieved rate, latency percentiles, saturation warning)
    host.jsonl         the machine's condition, sampled every 0.25 s: cores busy and stolen, runnable tasks, load,
                       and the CPU of each process gatedrill started (`harness.host`)

A record can be re-judged offline, for example after a threshold changes (`gatedrill check RUN_DIR`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import platform
import sys
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import orjson

from gatedrill.fakes.errors import ConfigError

from .scenario import Scenario

FORMAT_VERSION = 1


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with path.open("rb") as f:
        return [orjson.loads(line) for line in f if line.strip()]


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


@dataclass
class RunRecord:
    """A loaded run record."""

    path: Path
    meta: dict[str, Any]
    scenario: Scenario
    timeline: list[dict[str, Any]]
    clients: list[dict[str, Any]]
    journals: dict[str, list[dict[str, Any]]]
    load_summary: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> RunRecord:
        p = Path(path)
        if not (p / "meta.json").exists():
            raise ConfigError(f"{p} is not a gatedrill run record (no meta.json)")
        meta = json.loads((p / "meta.json").read_text())
        if meta.get("format") != FORMAT_VERSION:
            raise ConfigError(f"{p}: run record format {meta.get('format')} is not supported (expected "
                              f"{FORMAT_VERSION})")
        scenario = Scenario.model_validate_json((p / "scenario.json").read_text())
        journals = {f.stem: read_jsonl(f) for f in sorted((p / "journal").glob("*.jsonl"))}
        summary = json.loads((p / "load.json").read_text()) if (p / "load.json").exists() else {}
        return cls(p, meta, scenario, read_jsonl(p / "timeline.jsonl"), read_jsonl(p / "clients.jsonl"),
                   journals, summary)

    def journal_by_correlation(self) -> dict[str, list[dict[str, Any]]]:
        """Every upstream attempt per client request, across all fakes, in arrival order."""
        out: dict[str, list[dict[str, Any]]] = {}
        for name, entries in self.journals.items():
            for e in entries:
                cid = e.get("correlation_id")
                if cid:
                    out.setdefault(cid, []).append({**e, "upstream": name})
        for attempts in out.values():
            attempts.sort(key=lambda e: e["arrival_wall"])
        return out


class RecordWriter:
    """Writes a run record as the run goes: meta first (so a crashed run is recognisable), the rest after."""

    def __init__(self, path: Path, scenario: Scenario, scale: float, gateway: dict[str, Any]) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        (path / "journal").mkdir(exist_ok=True)
        self.meta: dict[str, Any] = {
            "format": FORMAT_VERSION, "scenario": scenario.name, "seed": scenario.seed, "scale": scale,
            "config_hash": config_hash(scenario), "versions": versions(), "gateway": gateway,
            "outcome": "running",
        }
        (path / "scenario.json").write_text(scenario.model_dump_json(indent=2))
        self.write_meta()
        self._timeline = (path / "timeline.jsonl").open("ab")

    def journal_path(self, upstream: str) -> Path:
        return self.path / "journal" / f"{upstream}.jsonl"

    def timeline_event(self, event: dict[str, Any]) -> None:
        self._timeline.write(orjson.dumps(event) + b"\n")
        self._timeline.flush()

    def write_meta(self, **updates: Any) -> None:
        self.meta.update(updates)
        (self.path / "meta.json").write_text(json.dumps(self.meta, indent=2, sort_keys=True))

    def write_load(self, summary: dict[str, Any]) -> None:
        (self.path / "load.json").write_text(json.dumps(summary, indent=2, sort_keys=True, default=str))

    def close(self, outcome: str) -> None:
        self._timeline.close()
        self.write_meta(outcome=outcome)
