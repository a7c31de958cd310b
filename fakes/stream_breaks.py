"""Stream-break faults, provider-neutral: a close after partial content, an error as a stream's only
message, a stall before the headers or mid-stream; and the content filter's effect on a reply.

Each works on a dialect's rendered events, so every dialect that streams gets them with no code of its own
beyond `stream_error_event` and `prompt_filtered`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .content import Reply
from .faults import CloseMidStream, ContentFilter, ErrorOnlyStream, Fault, Stall, StreamError
from .plan import END_CLOSE, Plan

if TYPE_CHECKING:
    from .providers.base import Dialect, Rendered

STREAM_BREAKS = (CloseMidStream, ErrorOnlyStream, Stall)


def _cut_index(events: list[tuple[float, bytes, bool]], after_chunks: int) -> int:
    """How many events go out before the break: every event before the (`after_chunks` + 1)-th content event
    (with 0, only what precedes the first content: a role chunk, message_start, or nothing)."""
    seen = 0
    for i, (_, _, is_content) in enumerate(events):
        if is_content:
            if seen >= after_chunks:
                return i
            seen += 1
    return len(events)


def _with_head(r: Rendered, chunks: list[tuple[float, bytes]]) -> list[tuple[float, bytes]]:
    """An empty first chunk makes the executor send the status line and headers at the first event's time,
    even when no event precedes the break."""
    t0 = r.events[0][0] if r.events else 0.0
    return [(t0, b""), *chunks]


def shape_stream_break(fault: Fault, r: Rendered, dialect: Dialect, endpoint: str, request_id: str) -> Plan:
    """The plan for a reply under one of `STREAM_BREAKS`."""
    if isinstance(fault, CloseMidStream):
        if r.stream:
            kept = r.events[: _cut_index(r.events, fault.after_chunks)]
            return Plan(r.status, r.headers, _with_head(r, [(t, b) for t, b, _ in kept]), stream=True, end=END_CLOSE)
        t, body, _ = r.events[0]
        return Plan(r.status, r.headers, [(t, body[: max(1, len(body) // 2)])], content_length=len(body),
                    end=END_CLOSE)
    if isinstance(fault, ErrorOnlyStream):
        err = StreamError(kind="stream_error", status=fault.status, message=fault.message, after_chunks=0)
        t0 = r.events[0][0] if r.events else 0.0
        return Plan(r.status, r.headers, [(t0, dialect.stream_error_event(endpoint, err, request_id, 0))],
                    stream=True, error_event=True)
    assert isinstance(fault, Stall)
    events = [(t, b) for t, b, _ in r.events]
    if fault.after_chunks is None:
        shifted = [(t + fault.seconds, b) for t, b in events]
    elif r.stream:
        cut = _cut_index(r.events, fault.after_chunks)
        shifted = _with_head(r, events[:cut] + [(t + fault.seconds, b) for t, b in events[cut:]])
    else:  # one body: half of it, then silence, then the rest
        t, body = events[0]
        half = max(1, len(body) // 2)
        return Plan(r.status, r.headers, [(t, body[:half]), (t + fault.seconds, body[half:])],
                    content_length=len(body))
    if r.stream:
        return Plan(r.status, r.headers, shifted, stream=True)
    return Plan(r.status, r.headers, shifted, content_length=len(shifted[0][1]))


def filter_reply(reply: Reply, fault: ContentFilter) -> None:
    """Stop each choice where the filter fired: a prompt-stage block keeps nothing."""
    keep = fault.after_chunks if fault.stage == "completion" else 0
    for ch in reply.choices:
        ch.pieces = ch.pieces[:keep]
        ch.tool_calls = []
        ch.finish, ch.stop_sequence, ch.tokens = "content_filter", None, len(ch.pieces)
