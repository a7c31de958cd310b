"""Client records: what the load generator saw of each request, one JSON line per request.

Times come in pairs: `*_s` is wall-clock (epoch seconds, as `time.time()`) and `*_mono` is
`time.monotonic()`. The monotonic clock is system-wide on Linux, so a record's `*_mono` times compare
directly with a fake journal's `arrival_mono`; wall times are derived from one wall/monotonic offset
taken when the generator starts, so they never jump within a run.

`intended` is when the schedule said to send (latency counts from it, so a stalled generator or gateway
cannot hide behind coordinated omission); `sent` is when the request went out; `headers` when the
response head arrived; `ttft` when the first content arrived (streams only); `end` when the response was
complete or failed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import IO, Any, Protocol

import orjson

from gatedrill.fakes.redaction import redact_headers

# Response headers a record keeps (besides every `x-*` header): what checks read about retries and limits.
KEPT_HEADERS = frozenset({"retry-after", "retry-after-ms", "request-id", "content-type"})


@dataclass(slots=True)
class ClientRecord:
    correlation_id: str
    session_id: str
    turn: int
    model: str
    stream: bool
    intended_s: float
    intended_mono: float
    sent_s: float = 0.0
    sent_mono: float = 0.0
    headers_s: float | None = None
    headers_mono: float | None = None
    ttft_s: float | None = None
    ttft_mono: float | None = None
    end_s: float = 0.0
    end_mono: float = 0.0
    status: int = 0  # 0: no HTTP response at all
    error_class: str | None = None  # None when the request succeeded and (for streams) finished cleanly
    error: str | None = None
    error_dialect: str | None = None  # error responses: whose envelope the body was (openai, anthropic, other)
    bytes: int = 0  # response body bytes received
    chunks: int = 0  # SSE data events received, [DONE] excluded
    finished_cleanly: bool = False  # JSON: a complete body with choices; SSE: a finish_reason and [DONE]
    done: bool = False  # SSE: `data: [DONE]` arrived (judged apart from the finish reason)
    finish_reason: str | None = None
    text: str = ""  # the assistant content, reassembled from the stream for SSE
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    upstream: str | None = None  # x-gatedrill-upstream
    attempts: int | None = None  # x-gatedrill-attempts
    headers: dict[str, str] = field(default_factory=dict)
    tools: bool = False
    near_window: bool = False
    prompt_tokens: int = 0  # the whole prompt by the fakes' recipe
    max_tokens: int | None = None
    sent_digest: str = ""  # fakes.conversation.digest of the messages sent
    messages: int = 0
    reused: bool = False  # sent on a kept-alive connection that had served an earlier request

    @property
    def ok(self) -> bool:
        return self.error_class is None

    @property
    def latency_s(self) -> float:
        """End minus intended send time: coordinated-omission-correct latency."""
        return self.end_mono - self.intended_mono

    @property
    def service_s(self) -> float:
        """End minus actual send time: what the gateway took."""
        return self.end_mono - self.sent_mono

    @property
    def send_lag_s(self) -> float:
        """How late the generator sent, against the schedule."""
        return self.sent_mono - self.intended_mono

    @property
    def ttft_latency_s(self) -> float | None:
        return None if self.ttft_mono is None else self.ttft_mono - self.intended_mono

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClientRecord:
        return cls(**{k: v for k, v in d.items() if k in _FIELDS})


_FIELDS = frozenset(f.name for f in fields(ClientRecord))


class RecordSink(Protocol):
    """Where a generator's records go: a JSONL file (`RecordWriter`) or, on a distributed run's worker, the master."""

    count: int

    def write(self, record: ClientRecord) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class RecordWriter:
    """Appends records as JSON lines, buffered; `flush` often enough that a killed run loses little."""

    def __init__(self, path: str | os.PathLike[str], buffer_bytes: int = 1 << 16) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] | None = open(self.path, "ab")  # noqa: SIM115 - closed in close()
        self._buf: list[bytes] = []
        self._size = 0
        self._limit = buffer_bytes
        self.count = 0

    def write(self, record: ClientRecord) -> None:
        line = orjson.dumps(record)
        self._buf.append(line)
        self._buf.append(b"\n")
        self._size += len(line) + 1
        self.count += 1
        if self._size >= self._limit:
            self.flush()

    def flush(self) -> None:
        if self._file is not None and self._buf:
            self._file.write(b"".join(self._buf))
            self._file.flush()
            self._buf.clear()
            self._size = 0

    def close(self) -> None:
        self.flush()
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_records(path: str | os.PathLike[str]) -> Iterator[ClientRecord]:
    """Records from a JSONL file; a torn last line (a killed writer) is skipped."""
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                d = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            yield ClientRecord.from_dict(d)


def read_records(path: str | os.PathLike[str]) -> list[ClientRecord]:
    return list(iter_records(path))


def kept_headers(items: Any) -> dict[str, str]:
    """The response headers a record keeps: every `x-*` header and `KEPT_HEADERS`, lower-cased, redacted."""
    out: dict[str, str] = {}
    for k, v in items:
        key = k.lower()
        if key.startswith("x-") or key in KEPT_HEADERS:
            out[key] = v if isinstance(v, str) else ",".join(v)
    return redact_headers(out)
