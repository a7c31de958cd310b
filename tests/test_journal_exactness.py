"""The journal is ground truth: under concurrent load it holds exactly one entry per request served.

Eight threads drive raw keep-alive sockets at one fake with a mix of JSON replies, SSE streams, resets and
HTTP errors; every request carries its own correlation id. The journal's count, its in-memory entries and
its JSONL spill must each account for every request exactly once, with secrets redacted.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from rawhttp import AUTH, ConnectionEnded, RawConnection, chat_body, request_bytes

from gatedrill.fakes import CORRELATION_HEADER, FAULT_HEADER, FakeServer
from gatedrill.fakes.journal import REDACTED

THREADS = 8
PER_THREAD = 200
TOTAL = THREADS * PER_THREAD
KINDS = ("json", "stream", "reset", "http_error", "json")
_FAULTS = {"reset": '{"kind": "reset"}', "http_error": '{"kind": "http_error", "status": 503}'}


@dataclass
class Load:
    server: FakeServer
    journal_path: Path
    sent: list[str] = field(default_factory=list)  # correlation ids, one per request sent
    seen: Counter[str] = field(default_factory=Counter)  # what the clients observed, by kind
    errors: list[BaseException] = field(default_factory=list)


def _client(port: int, thread: int, load: Load, lock: threading.Lock, start: threading.Barrier) -> None:
    ids, seen = [], Counter[str]()
    start.wait()
    conn = RawConnection(port)
    try:
        for i in range(PER_THREAD):
            kind = KINDS[i % len(KINDS)]
            cid = f"t{thread}-r{i}"
            headers = [(CORRELATION_HEADER, cid)]
            if kind in _FAULTS:
                headers.append((FAULT_HEADER, _FAULTS[kind]))
            conn.send(request_bytes(body=chat_body(stream=kind == "stream"), headers=headers))
            ids.append(cid)
            if kind == "reset":
                try:
                    conn.read_response()
                except ConnectionEnded:
                    seen["reset"] += 1
                conn.close()
                conn = RawConnection(port)
                continue
            resp = conn.read_response()
            expected = 503 if kind == "http_error" else 200
            assert resp.status == expected, (cid, resp.status, resp.body[:200])
            assert kind != "stream" or resp.terminated
            seen[kind] += 1
    except BaseException as exc:
        with lock:
            load.errors.append(exc)
    finally:
        conn.close()
        with lock:
            load.sent.extend(ids)
            load.seen.update(seen)


@pytest.fixture(scope="module")
def load(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Load]:
    """Run the concurrent load once, stop the server (flushing the JSONL), and hand the results over."""
    path = tmp_path_factory.mktemp("journal") / "journal.jsonl"
    server = FakeServer(provider="openai", journal={"path": str(path)})
    result = Load(server, path)
    lock = threading.Lock()
    start = threading.Barrier(THREADS)
    with server:
        threads = [threading.Thread(target=_client, args=(server.port, t, result, lock, start))
                   for t in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    yield result


def test_every_client_saw_the_answer_its_request_asked_for(load: Load) -> None:
    assert not load.errors, load.errors[:3]
    assert len(load.sent) == TOTAL
    assert sum(load.seen.values()) == TOTAL
    assert load.seen["reset"] == TOTAL // len(KINDS)


def test_journal_total_equals_requests_served_exactly(load: Load) -> None:
    stats = load.server.journal.stats()
    assert stats["total"] == TOTAL
    assert stats["finished"] == TOTAL
    assert stats["open"] == 0


def test_every_correlation_id_is_journaled_exactly_once(load: Load) -> None:
    entries = load.server.entries()
    counts = Counter(e.correlation_id for e in entries)
    assert len(entries) == TOTAL
    assert set(counts) == set(load.sent)
    assert max(counts.values()) == 1
    assert Counter(e.outcome for e in entries) == {"complete": TOTAL - TOTAL // len(KINDS),
                                                   "reset": TOTAL // len(KINDS)}


def test_jsonl_spill_has_one_redacted_line_per_request(load: Load) -> None:
    lines = load.journal_path.read_bytes().splitlines()
    assert len(lines) == TOTAL
    records = [json.loads(line) for line in lines]
    assert Counter(r["correlation_id"] for r in records) == Counter(load.sent)
    for r in records:
        assert r["headers"]["authorization"] == REDACTED
        assert AUTH[1] not in json.dumps(r)
