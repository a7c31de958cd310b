"""What a fake decided to send, independent of how it is sent: the HTTP server and the respx transport
both execute the same `Plan`.

Times are offsets in seconds from the request's arrival; executors pace against absolute deadlines
(arrival + offset) so streams do not drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# How a plan ends: a clean finish, a TCP reset, a close without finishing the body, or silence.
END_COMPLETE = "complete"
END_RESET = "reset"
END_CLOSE = "close"
END_HANG = "hang"


@dataclass(slots=True)
class Plan:
    status: int
    headers: list[tuple[str, str]]
    chunks: list[tuple[float, bytes]] = field(default_factory=list)
    stream: bool = False
    content_length: int | None = None  # non-stream: declared length (may exceed what is sent, on truncation)
    end: str = END_COMPLETE
    hang_s: float = 0.0
    drip: tuple[int, float] | None = None  # (bytes per write, seconds between writes)
    entry: Any = None  # the journal entry to stamp with first/last byte times
    on_finish: Any = None  # called once with the outcome, by the executor
    error_event: bool = False  # a 200 stream that carries the provider's error event: not a success, whole or not



@dataclass(slots=True)
class ApiError(Exception):
    """A provider-neutral error reply; each dialect renders it in its own envelope."""

    status: int
    message: str
    error_type: str | None = None
    param: str | None = None
    code: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    details: list[dict[str, Any]] = field(default_factory=list)  # provider detail objects, e.g. google.rpc RetryInfo

    def __str__(self) -> str:
        return f"{self.status} {self.message}"


@dataclass(slots=True)
class HttpRequest:
    """A request as an executor received it: names lower-cased, body fully read (unless too large)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    arrival_mono: float
    arrival_wall: float
    body_size: int = 0  # declared or counted size; may exceed len(body) when the body was refused
