"""Synthetic run records for testing checks: client records and journal entries built to a recipe, no processes.

They are the run record's own models (`harness.record`), so a synthetic record has the shape a real run writes.
Times: wall = T0_WALL + t, monotonic = T0_MONO + t, for t seconds into the load.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from ..record import COMPLETED, ClientRecord, JournalEntry, LoadSummary, RunMeta, RunRecord, TimelineEvent
from ..scenario import Scenario

T0_WALL = 1_700_000_000.0
T0_MONO = 1_000.0


def scenario_with(weights: dict[str, float], sticky: str = "none", checks: dict[str, dict[str, Any]] | None = None,
                  timeline: list[dict[str, Any]] | None = None, duration_s: float = 60.0) -> Scenario:
    """The built-in canary-split drill with one OpenAI upstream per weight (all alike)."""
    from gatedrill.scenarios import resolve

    from ..scenario import load_scenario

    base = load_scenario(resolve("canary-split")).model_dump(mode="json")
    proto = base["upstreams"]["stable"]
    base["upstreams"] = {u: {**proto, "name": u} for u in weights}
    base["gateway"]["routing"]["targets"] = [{"upstream": u, "model": "gpt-4o-mini", "weight": w}
                                             for u, w in weights.items()]
    base["gateway"]["routing"]["sticky"] = sticky
    base["timeline"] = timeline or []
    base["checks"] = checks if checks is not None else {}
    base["duration_s"] = duration_s
    return Scenario.model_validate(base)


def client_record(cid: str, t: float, *, session: str | None = None, turn: int = 1, upstream: str | None = None,
                  status: int = 200, attempts: int | None = 1, stream: bool = False, service_s: float = 0.1,
                  ttft_s: float | None = None, fallback: bool = False,
                  error_class: str | None = None) -> ClientRecord:
    """A client record sent at `t` s into the load, finishing `service_s` later (first content at `ttft_s`)."""
    headers = {"content-type": "application/json"}
    if upstream is not None:
        headers["x-gatedrill-upstream"] = upstream
        headers["x-gatedrill-fallback"] = "true" if fallback else "false"
    if attempts is not None:
        headers["x-gatedrill-attempts"] = str(attempts)
    ttft = None if ttft_s is None else t + ttft_s
    ok = 200 <= status < 300 and error_class is None
    return ClientRecord(
        correlation_id=cid, session_id=session or cid.rsplit("-t", 1)[0], turn=turn, model="drill",
        stream=stream, intended_s=T0_WALL + t, intended_mono=T0_MONO + t, sent_s=T0_WALL + t,
        sent_mono=T0_MONO + t, headers_s=T0_WALL + t + (ttft_s or service_s),
        headers_mono=T0_MONO + t + (ttft_s or service_s),
        ttft_s=None if ttft is None else T0_WALL + ttft, ttft_mono=None if ttft is None else T0_MONO + ttft,
        end_s=T0_WALL + t + service_s, end_mono=T0_MONO + t + service_s, status=status,
        error_class=error_class if error_class or ok else "http_status", error=None,
        finished_cleanly=ok, upstream=upstream, attempts=attempts, headers=headers,
    )


def journal_entry(cid: str, t: float, duration_s: float, *, status: int = 200, first_byte_s: float | None = None,
                  stream: bool = False, seq: int = 0, session: str | None = None) -> JournalEntry:
    """A fake's journal entry: arrived at `t` s into the load, last byte `duration_s` later."""
    first = duration_s if first_byte_s is None else first_byte_s
    return JournalEntry(
        seq=seq, method="POST", path="/v1/chat/completions", endpoint="chat", model="gpt-4o-mini",
        stream=stream, correlation_id=cid, session_id=session or cid.rsplit("-t", 1)[0], turn=1,
        arrival_wall=T0_WALL + t, arrival_mono=T0_MONO + t,
        first_byte_mono=T0_MONO + t + first, last_byte_mono=T0_MONO + t + duration_s,
        first_byte_wall=T0_WALL + t + first, last_byte_wall=T0_WALL + t + duration_s,
        status=status, fault=None, error=None, outcome="complete" if status < 400 else "error",
        headers={"x-gatedrill-correlation-id": cid},
    )


def record_of(scenario: Scenario, clients: list[ClientRecord], journals: dict[str, list[JournalEntry]],
              timeline: list[TimelineEvent] | None = None, path: Path | None = None) -> RunRecord:
    """A RunRecord in memory (not written) from its parts; every upstream gets a journal, if empty."""
    full: dict[str, list[JournalEntry]] = {u: [] for u in scenario.upstreams} | journals
    for name, entries in full.items():
        for i, e in enumerate(entries):
            e.fake = e.fake or name
            e.seq = i
    meta = RunMeta(scenario=scenario.name, seed=scenario.seed, outcome=COMPLETED, load_start_wall=T0_WALL)
    summary = LoadSummary(t0_wall=T0_WALL, t0_mono=T0_MONO, started_arrivals=len(clients), records=len(clients))
    return RunRecord(path or Path("/nonexistent/synthetic"), meta, scenario, timeline or [], clients, full, summary)


def split_record(scenario: Scenario, shares: dict[str, float], n: int, rng: random.Random, *, rate: float = 40.0,
                 overhead_ms: float = 2.0, overhead_jitter_ms: float = 0.0, upstream_ms: float = 50.0,
                 stream_share: float = 0.0, slow: dict[str, float] | None = None,
                 with_journal: bool = True) -> RunRecord:
    """`n` successful single-attempt requests, Poisson at `rate`, each routed by drawing from `shares`.

    The client sees upstream time (exponential around `upstream_ms`, times `slow[upstream]`) plus a gateway
    overhead of `overhead_ms` (plus uniform jitter up to `overhead_jitter_ms`), half before the upstream call and
    half after."""
    names, weights = list(shares), list(shares.values())
    clients: list[ClientRecord] = []
    journals: dict[str, list[JournalEntry]] = {u: [] for u in scenario.upstreams}
    t = 0.0
    for i in range(n):
        t += rng.expovariate(rate)
        u = rng.choices(names, weights)[0]
        cid = f"gd1-s{i}-t1"
        up = (slow or {}).get(u, 1.0) * upstream_ms / 1000 * (0.5 + rng.expovariate(2.0))
        stream = rng.random() < stream_share
        first = up * 0.4 if stream else None
        half = (overhead_ms + rng.uniform(0, overhead_jitter_ms)) / 2000
        clients.append(client_record(cid, t, upstream=u, stream=stream, service_s=up + 2 * half,
                                     ttft_s=None if first is None else first + 2 * half))
        if with_journal:
            journals[u].append(journal_entry(cid, t + half, up, first_byte_s=first, stream=stream))
    return record_of(scenario, clients, journals)


def shuffle_record(record: RunRecord, seed: int) -> RunRecord:
    """Shuffle a record's client records and every journal in place (seeded): a verdict must not depend on
    the order records were written in."""
    rng = random.Random(seed)
    rng.shuffle(record.clients)
    for entries in record.journals.values():
        rng.shuffle(entries)
    return record


def partial_record(meta: dict[str, Any], scenario: Scenario, timeline: list[dict[str, Any]],
                   clients: list[dict[str, Any]], journals: dict[str, list[dict[str, Any]]]) -> RunRecord:
    """A RunRecord from JSON-shaped parts that give only the fields a test is about: a client record's identity
    (session, turn, model, stream, intended times) is filled in from its correlation id and send time, and a
    timeline event's `spec` gets the event's own action, upstream and time."""
    full = []
    for c in clients:
        cid = c["correlation_id"]
        t = c.get("intended_s", c.get("sent_s", T0_WALL))
        full.append({"session_id": cid.rsplit("-t", 1)[0], "turn": 1, "model": "drill", "stream": False,
                     "intended_s": t, "intended_mono": t - T0_WALL + T0_MONO, **c})
    events = []
    for e in timeline:
        spec = e.get("spec")
        if isinstance(spec, dict):
            own = {"action": e["action"], "at_s": e.get("planned_s", 0.0), "upstream": e.get("upstream")}
            spec = {k: v for k, v in own.items() if v is not None} | spec
        events.append(TimelineEvent.model_validate({**e, "spec": spec}))
    return RunRecord(Path("/synthetic"), RunMeta.model_validate(meta), scenario, events,
                     full, journals)  # type: ignore[arg-type]
