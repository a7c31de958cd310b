"""The run record: one folder that holds everything a drill produced. Checks read only this.

Layout (all JSON / JSONL, UTF-8), one typed model per file (the JSON Schema: `gatedrill record schema`):

    meta.json          RunMeta: scenario name, seed, scale, config hash, versions, gateway and fake URLs, warm-up
                       status, the load's t0 and end, outcome (completed, failed with `error`, interrupted; "running"
                       if the runner itself was killed), record_version
    scenario.json      Scenario: the resolved scenario (after --scale and --seed), exactly what ran
    timeline.jsonl     TimelineEvent: timeline actions as executed (planned and actual time, result)
    clients.jsonl      ClientRecord: one per request (intended/sent/ttft/end times, status, ids, gateway headers)
    journal/NAME.jsonl JournalEntry: every request the fake NAME received (ground truth)
    load.json          LoadSummary: the load generator's summary (achieved rate, counts, saturation warnings, the
                       control arm's count)
    host.jsonl         HostSample: the machine's condition, sampled every 0.25 s: cores busy and stolen, runnable
                       tasks, load, and the CPU of each process gatedrill started (`harness.host`)
    control/           the same-run control arm: clients.jsonl (ClientRecord) and the control fake's journal.jsonl
                       (JournalEntry), kept apart from the gateway arm's (`harness.control_arm`)

A record can be re-judged offline, for example after a threshold changes (`gatedrill check RUN_DIR`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from gatedrill.fakes.errors import ConfigError

from ..check_params import PARAMS
from ..scenario import Scenario
from .clients import CLIENT_RECORD, ClientRecord
from .control import CONTROL, CONTROL_CLIENTS, CONTROL_JOURNAL
from .host import HOST_FILE, HostSample
from .journal import JournalEntry
from .load_summary import LoadSummary
from .meta import RECORD_VERSION, RunMeta
from .phases import WARM_UP, is_load
from .timeline import TimelineEvent


def _lines(path: Path) -> Iterator[bytes]:
    if not path.exists():
        return
    with path.open("rb") as f:
        yield from (line for line in f if line.strip())


M = TypeVar("M", bound=BaseModel)


def _model(cls: type[M], value: M | dict[str, Any]) -> M:
    return value if isinstance(value, cls) else cls.model_validate(value)


def _client(value: ClientRecord | dict[str, Any]) -> ClientRecord:
    return value if isinstance(value, ClientRecord) else CLIENT_RECORD.validate_python(value)


@dataclass
class RunRecord:
    """A loaded run record. Parts may also be given as JSON-shaped dicts (synthetic records in tests); they are
    validated into the models here, so checks and reports only ever see the models."""

    path: Path
    meta: RunMeta
    scenario: Scenario
    timeline: list[TimelineEvent]
    clients: list[ClientRecord]
    journals: dict[str, list[JournalEntry]]
    load_summary: LoadSummary = field(default_factory=LoadSummary)
    unknown_checks: list[str] = field(default_factory=list)  # named by the scenario, unknown to this version
    host: list[HostSample] = field(default_factory=list)  # [] for a record made before there was a sampler
    control_clients: list[ClientRecord] = field(default_factory=list)  # [] for a run without a control arm
    control_journal: list[JournalEntry] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.meta = _model(RunMeta, self.meta)
        self.load_summary = _model(LoadSummary, self.load_summary)
        self.timeline = [_model(TimelineEvent, e) for e in self.timeline]
        self.clients = [_client(c) for c in self.clients]
        self.journals = {name: [_model(JournalEntry, e) for e in entries]
                         for name, entries in self.journals.items()}
        self.host = [_model(HostSample, s) for s in self.host]
        self.control_clients = [_client(c) for c in self.control_clients]
        self.control_journal = [_model(JournalEntry, e) for e in self.control_journal]
        for e in self.control_journal:
            e.upstream = CONTROL

    @classmethod
    def load(cls, path: str | Path) -> RunRecord:
        p = Path(path)
        if not (p / "meta.json").exists():
            raise ConfigError(f"{p} is not a gatedrill run record (no meta.json)")
        try:
            meta = RunMeta.model_validate_json((p / "meta.json").read_bytes())
            if meta.record_version != RECORD_VERSION:
                raise ConfigError(f"{p}: run record version {meta.record_version} is not supported (expected "
                                  f"{RECORD_VERSION})")
            raw = orjson.loads((p / "scenario.json").read_bytes())
            checks = raw.get("checks") or {}
            unknown = [name for name in checks if name not in PARAMS]
            raw["checks"] = {k: v for k, v in checks.items() if k not in unknown}
            scenario = Scenario.model_validate(raw)
            journals = {f.stem: [JournalEntry.model_validate_json(line) for line in _lines(f)]
                        for f in sorted((p / "journal").glob("*.jsonl"))}
            timeline = [TimelineEvent.model_validate_json(line) for line in _lines(p / "timeline.jsonl")]
            clients = [CLIENT_RECORD.validate_json(line) for line in _lines(p / "clients.jsonl")]
            summary = (LoadSummary.model_validate_json((p / "load.json").read_bytes())
                       if (p / "load.json").exists() else LoadSummary())
            host = [HostSample.model_validate_json(line) for line in _lines(p / HOST_FILE)]
            control_clients = [CLIENT_RECORD.validate_json(line) for line in _lines(p / CONTROL_CLIENTS)]
            control_journal = [JournalEntry.model_validate_json(line) for line in _lines(p / CONTROL_JOURNAL)]
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"])
            raise ConfigError(f"{p}: not a readable run record: {exc.title} {where}: {first['msg']}") from None
        return cls(p, meta, scenario, timeline, clients, journals, summary, unknown, host, control_clients,
                   control_journal)

    def entries(self) -> Iterator[JournalEntry]:
        """Every journal entry of every fake, each knowing its upstream (the journal's name)."""
        for name, entries in self.journals.items():
            for e in entries:
                e.upstream = name
                yield e

    def control_attempts(self) -> dict[str, list[JournalEntry]]:
        """The control fake's journal entries per correlation id, in arrival order ({} without a control arm)."""
        out: dict[str, list[JournalEntry]] = {}
        for e in self.control_journal:
            if e.correlation_id:
                out.setdefault(e.correlation_id, []).append(e)
        for attempts in out.values():
            attempts.sort(key=lambda e: e.arrival_wall)
        return out

    def upstream_attempts(self, upstream: str) -> list[JournalEntry]:
        """The drill's requests (warm-up excluded) as the fake `upstream` journalled them, by arrival time."""
        out = [e for e in self.journals.get(upstream, []) if e.correlation_id != WARM_UP]
        for e in out:
            e.upstream = upstream
        out.sort(key=lambda e: e.arrival_wall)
        return out

    def load_clients(self) -> list[ClientRecord]:
        """Client records of the drill's own requests (the runner's warm-up request excluded)."""
        return [c for c in self.clients if is_load(c.correlation_id)]

    def journal_by_correlation(self) -> dict[str, list[JournalEntry]]:
        """Every upstream attempt per client request, across all fakes, in arrival order (warm-up included)."""
        out: dict[str, list[JournalEntry]] = {}
        for e in self.entries():
            if e.correlation_id:
                out.setdefault(e.correlation_id, []).append(e)
        for attempts in out.values():
            attempts.sort(key=lambda e: e.arrival_wall)
        return out

    def load_start(self) -> float:
        """The load's t0 (epoch s): from meta, else the first client send time."""
        if self.meta.load_start_wall is not None:
            return self.meta.load_start_wall
        sent = [c.sent_s for c in self.load_clients() if c.sent_s]
        return min(sent) if sent else 0.0

    def run_end(self) -> float:
        """When the run ended (epoch s): from meta, else the last client record's end."""
        if self.meta.end_wall is not None:
            return self.meta.end_wall
        return max((c.end_s or 0.0 for c in self.clients), default=self.load_start())
