"""The journal: one entry per request that reached a fake, the ground truth every check reads.

It keeps counts exactly, holds recent entries in memory within a bound (entries and request bytes), and
appends every finished entry to a JSONL file when a path is set, so nothing is lost however long the run.
Credentials (`redaction`) are redacted before an entry is stored.

A finished entry is kept as a compact tuple (`Entry.freeze`) and turned into its JSON record only when someone
reads it or the spill file is written: most entries of a load run are never read one by one, and building and
serialising the record cost a sixth of a request's CPU.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import IO, Any

import orjson

from .config import JournalSpec
from .redaction import REDACTED, redact_headers


def reply_dict(reply: Any) -> dict[str, Any] | None:
    """What the fake answered, for checks: text, finish and tool calls per choice, and the conversation digest."""
    if reply is None or isinstance(reply, dict):
        return reply
    return {
        "choices": [
            {"text": ch.text, "finish": ch.finish, "chunks": len(ch.pieces),
             "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in ch.tool_calls]}
            for ch in reply.choices
        ],
        "digest": reply.digest,
    }


__all__ = ["REDACTED", "Entry", "Frozen", "Journal", "frozen_dict", "frozen_line", "reply_dict"]


class Entry:
    """One request as the fake saw it and answered it. Times: wall (epoch s) and monotonic (s)."""

    __slots__ = (
        "arrival_mono",
        "arrival_wall",
        "body",
        "body_bytes",
        "body_json",
        "correlation_id",
        "endpoint",
        "error",
        "fake",
        "fault",
        "first_byte_mono",
        "headers",
        "last_byte_mono",
        "latency_injected_ms",
        "method",
        "model",
        "outcome",
        "path",
        "reply",
        "seq",
        "session_id",
        "status",
        "stream",
        "tokens_in",
        "tokens_out",
        "turn",
    )

    def __init__(self, seq: int, fake: str, method: str, path: str, headers: dict[str, str],
                 body_bytes: int, arrival_mono: float, arrival_wall: float) -> None:
        self.seq = seq
        self.fake = fake
        self.method = method
        self.path = path
        self.headers = headers
        self.body: Any = None
        self.body_json: bytes | None = None  # `body` as JSON text (the request's own bytes when nothing was redacted)
        self.body_bytes = body_bytes
        self.arrival_mono = arrival_mono
        self.arrival_wall = arrival_wall
        self.first_byte_mono: float | None = None
        self.last_byte_mono: float | None = None
        self.endpoint: str | None = None
        self.model: str | None = None
        self.correlation_id: str | None = None
        self.session_id: str | None = None
        self.turn: int | None = None
        self.fault: str | None = None
        self.status: int | None = None
        self.error: str | None = None
        self.stream = False
        self.tokens_in = 0
        self.tokens_out = 0
        self.latency_injected_ms = 0.0
        self.outcome: str | None = None
        self.reply: Any = None  # a content.Reply; serialised by to_dict

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Entry:
        e = cls.__new__(cls)
        for k in cls.__slots__:
            setattr(e, k, d.get(k))
        return e

    def to_dict(self) -> dict[str, Any]:
        """The journal record (one JSONL line): every field, plus wall-clock first and last byte times."""
        offset = self.arrival_wall - self.arrival_mono
        first, last = self.first_byte_mono, self.last_byte_mono
        return {
            "seq": self.seq, "fake": self.fake, "method": self.method, "path": self.path,
            "endpoint": self.endpoint, "model": self.model, "stream": self.stream,
            "correlation_id": self.correlation_id, "session_id": self.session_id, "turn": self.turn,
            "arrival_wall": self.arrival_wall, "arrival_mono": self.arrival_mono,
            "first_byte_mono": first, "last_byte_mono": last,
            "first_byte_wall": None if first is None else first + offset,
            "last_byte_wall": None if last is None else last + offset,
            "status": self.status, "fault": self.fault, "error": self.error, "outcome": self.outcome,
            "tokens_in": self.tokens_in, "tokens_out": self.tokens_out,
            "latency_injected_ms": self.latency_injected_ms,
            "headers": self.headers, "body_bytes": self.body_bytes, "body": self.body,
            "reply": reply_dict(self.reply),
        }

    def freeze(self) -> Frozen:
        """The finished entry as a flat tuple of atoms (the headers and the reply's summary as JSON bytes, the body as
        its JSON text): small, and untracked by the garbage collector at the first collection that sees it, so a full
        journal adds nothing to collection pauses (paced streams stay on time). A nested tuple would not do: the
        collector untracks one level per pass."""
        body = self.body_json
        if body is None and self.body is not None:
            body = _exact(orjson.dumps(self.body, default=str))
        headers = _exact(orjson.dumps(self.headers))
        reply: Any = self.reply
        if reply is not None:
            if not isinstance(reply, dict):
                reply = [reply.digest, [[ch.text, ch.finish, len(ch.pieces),
                                         [[c.id, c.name, c.arguments] for c in ch.tool_calls]]
                                        for ch in reply.choices]]
            reply = _exact(orjson.dumps(reply, default=str))
        size = _RECORD_BYTES + len(headers) + (len(body) if body is not None else 0) + \
            (len(reply) if reply is not None else 0) + (len(self.error) if self.error else 0)
        return (self.seq, self.fake, self.method, self.path, self.endpoint, self.model, self.stream,
                self.correlation_id, self.session_id, self.turn, self.arrival_wall, self.arrival_mono,
                self.first_byte_mono, self.last_byte_mono, self.status, self.fault, self.error, self.outcome,
                self.tokens_in, self.tokens_out, self.latency_injected_ms, headers, self.body_bytes, body, reply,
                size)


def _exact(data: bytes) -> bytes:
    """An exact-size copy: orjson hands back bytes on an ~8 KiB allocation whatever their length, so a kept 1 KiB
    line held 8 KiB (issue 15: the heap grew ~8 KiB a request until the journal was full)."""
    return bytes(memoryview(data))


# A frozen entry: the fields of `Entry.to_dict` in order, then its estimated size in memory (bytes).
Frozen = tuple[Any, ...]
_SIZE = 25  # index of the size in a frozen entry
# Estimated memory of a frozen entry beyond its JSON bytes: the tuple, its strings and numbers (measured with
# tracemalloc; `tests/test_journal_memory.py` holds the estimate to the truth).
_RECORD_BYTES = 600


def frozen_dict(f: Frozen) -> dict[str, Any]:
    """A frozen entry's journal record (one JSONL line's object), as `Entry.to_dict` gives it."""
    (seq, fake, method, path, endpoint, model, stream, correlation_id, session_id, turn, arrival_wall, arrival_mono,
     first, last, status, fault, error, outcome, tokens_in, tokens_out, injected, headers, body_bytes, body,
     reply, _) = f
    offset = arrival_wall - arrival_mono
    if reply is not None:
        reply = orjson.loads(reply)
        if isinstance(reply, list):
            reply = {"choices": [{"text": text, "finish": finish, "chunks": chunks,
                                  "tool_calls": [{"id": i, "name": n, "arguments": a} for i, n, a in calls]}
                                 for text, finish, chunks, calls in reply[1]],
                     "digest": reply[0]}
    return {
        "seq": seq, "fake": fake, "method": method, "path": path, "endpoint": endpoint, "model": model,
        "stream": stream, "correlation_id": correlation_id, "session_id": session_id, "turn": turn,
        "arrival_wall": arrival_wall, "arrival_mono": arrival_mono, "first_byte_mono": first, "last_byte_mono": last,
        "first_byte_wall": None if first is None else first + offset,
        "last_byte_wall": None if last is None else last + offset,
        "status": status, "fault": fault, "error": error, "outcome": outcome,
        "tokens_in": tokens_in, "tokens_out": tokens_out, "latency_injected_ms": injected,
        "headers": orjson.loads(headers), "body_bytes": body_bytes,
        "body": None if body is None else orjson.loads(body),
        "reply": reply,
    }


def frozen_line(f: Frozen) -> bytes:
    """A frozen entry as its JSONL line (without the newline)."""
    return orjson.dumps(frozen_dict(f), default=str)


class Journal:
    """Bounded in memory, exact in count, optionally spilled to JSONL (in the order entries finish).

    A finished entry is kept frozen (`Entry.freeze`) and made into its record when read; the spill file gets
    the same records, serialised when its buffer is written. Entries still in flight stay objects until they
    finish.
    """

    def __init__(self, spec: JournalSpec, fake: str) -> None:
        self.spec = spec
        self.fake = fake
        self._records: OrderedDict[int, Entry | Frozen] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.total = 0
        self._next_seq = 0
        self.finished = 0
        self.evicted = 0
        self._open = 0  # requests in flight, also those that arrived before a `clear`
        self._epoch_start = 0  # the first seq after the last `clear`: older entries no longer count
        self._buf: list[Frozen] = []  # finished entries not yet written to the file
        self._buf_size = 0
        self._file: IO[bytes] | None = None
        if spec.path:
            os.makedirs(os.path.dirname(os.path.abspath(spec.path)), exist_ok=True)
            self._file = open(spec.path, "ab")  # noqa: SIM115 - closed in close()

    def open(self, method: str, path: str, headers: dict[str, str], body_bytes: int,
             arrival_mono: float, arrival_wall: float) -> Entry:
        """Record an arriving request and return its entry, to be filled in and then `finish`ed."""
        with self._lock:
            e = Entry(self._next_seq, self.fake, method, path, redact_headers(headers), body_bytes,
                      arrival_mono, arrival_wall)
            self.total += 1
            self._next_seq += 1
            self._open += 1
            records = self._records
            records[e.seq] = e
            if len(records) > self.spec.max_entries:
                self._evict_locked()
            return e

    def _evict_locked(self) -> None:
        spec = self.spec
        records = self._records
        while len(records) > spec.max_entries or (self._bytes > spec.max_bytes and len(records) > 1):
            _, old = records.popitem(last=False)
            if isinstance(old, tuple):
                self._bytes -= old[_SIZE]
            self.evicted += 1

    def finish(self, e: Entry, outcome: str) -> None:
        """Close an entry once its response is over: freeze it, keep it, and queue it for the file if one is set."""
        if e.outcome is not None:
            return
        e.outcome = outcome
        frozen = e.freeze()
        with self._lock:
            self._open -= 1
            if e.seq >= self._epoch_start:
                self.finished += 1
            records = self._records
            if e.seq in records:
                records[e.seq] = frozen
                self._bytes += frozen[_SIZE]
                if len(records) > self.spec.max_entries or self._bytes > self.spec.max_bytes:
                    self._evict_locked()
            if self._file is not None:
                self._buf.append(frozen)
                self._buf_size += frozen[_SIZE]
                if self._buf_size > 1 << 16:
                    self._flush_locked()

    def _flush_locked(self) -> None:
        if self._file is not None and self._buf:
            self._file.write(b"".join([frozen_line(f) + b"\n" for f in self._buf]))
            self._file.flush()
            self._buf.clear()
            self._buf_size = 0

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    @property
    def dropped(self) -> int:
        """Entries no longer in memory and not written to a file (0 when a path is set)."""
        return 0 if self._file is not None else self.evicted

    def records(self, since: int = 0, limit: int | None = None, **filters: Any) -> list[dict[str, Any]]:
        """Entries in memory with seq >= since, as dicts, matching every filter given (key == value)."""
        with self._lock:
            snapshot = [v for k, v in self._records.items() if k >= since]
        active = {k: v for k, v in filters.items() if v is not None}
        out = []
        for item in snapshot:
            d = frozen_dict(item) if isinstance(item, tuple) else item.to_dict()
            if all(d.get(k) == v for k, v in active.items()):
                out.append(d)
                if limit is not None and len(out) >= limit:
                    break
        return out

    def page(self, since: int, limit: int, **filters: Any) -> tuple[list[dict[str, Any]], int]:
        """A cursor reader's page: finished entries from `since` on that match `filters`, and the cursor to resume
        at. The page stops before the first entry still in flight, and the cursor points at it, so a reader sees
        every entry once, finished, with its outcome (a request still open holds the cursor until it ends)."""
        with self._lock:
            snapshot = [(k, v) for k, v in self._records.items() if k >= since]
            end = max(since, self._next_seq)
        active = {k: v for k, v in filters.items() if v is not None}
        out: list[dict[str, Any]] = []
        for seq, item in snapshot:
            if isinstance(item, Entry):  # in flight
                return out, seq
            d = frozen_dict(item)
            if all(d.get(k) == v for k, v in active.items()):
                out.append(d)
                if len(out) >= limit:
                    return out, seq + 1
        return out, end

    def entries(self, since: int = 0, limit: int | None = None, **filters: Any) -> list[Entry]:
        """Like `records`, as `Entry` objects (finished ones rebuilt from their JSON; `reply` is a dict)."""
        return [Entry.from_dict(d) for d in self.records(since, limit, **filters)]

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries())

    def __len__(self) -> int:
        return self.total

    @property
    def next_seq(self) -> int:
        return self._next_seq

    def stats(self) -> dict[str, int]:
        return {"total": self.total, "finished": self.finished, "in_memory": len(self._records),
                "evicted": self.evicted, "dropped": self.dropped, "open": self._open}

    def clear(self) -> None:
        """Forget every entry and count; requests in flight stay counted as open until they end (then they are
        written to the file, if any, but not kept or counted as finished)."""
        with self._lock:
            self._flush_locked()
            self._records.clear()
            self._bytes = 0
            self.total = self.finished = self.evicted = 0
            self._epoch_start = self._next_seq

    def close(self) -> None:
        """Finish entries still open (e.g. hung requests) and flush the file."""
        with self._lock:
            still_open = [v for v in self._records.values() if isinstance(v, Entry)]
        for e in still_open:
            self.finish(e, "open_at_shutdown")
        with self._lock:
            self._flush_locked()
            if self._file is not None:
                self._file.close()
                self._file = None
