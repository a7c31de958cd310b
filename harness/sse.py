"""The one Server-Sent Events parser: bytes in as they arrive, whole events out. The load generator, the reference
gateway, the contract checks and the adapter kit all read streams through it.

Events end at a blank line; `event:` and `data:` fields are read (multi-line data joined with newlines),
comments and other fields are skipped. CRLF line ends are accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

DONE = "[DONE]"  # OpenAI's end-of-stream data


@dataclass(slots=True)
class SseEvent:
    event: str | None
    data: str  # the data lines joined with newlines ("" when there were none)
    raw: bytes  # the event's bytes, blank line included, as it arrived (line ends normalised to LF)
    has_data: bool = True  # False for an event with no data line at all


class SseParser:
    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> list[SseEvent]:
        buf = self._buf + chunk
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n")
        events = []
        start = 0
        while True:
            end = buf.find(b"\n\n", start)
            if end == -1:
                break
            raw = buf[start : end + 2]
            start = end + 2
            ev = _parse(raw)
            if ev is not None:
                events.append(ev)
        self._buf = buf[start:]
        return events

    def close(self) -> list[SseEvent]:
        """Events still buffered when the stream ended without their blank line (the stream was cut after them)."""
        rest, self._buf = self._buf, b""
        return self.feed(rest + b"\n\n") if rest.strip() else []

    @property
    def pending(self) -> bytes:
        """Bytes of an event not yet complete (non-empty at end of stream means it was cut)."""
        return self._buf


def _parse(raw: bytes) -> SseEvent | None:
    if raw.startswith(b"data:") and raw.find(b"\n") == len(raw) - 2:  # one data line: most events, so fast
        payload = raw[6:-2] if raw[5:6] == b" " else raw[5:-2]
        return SseEvent(None, payload.decode("utf-8", "replace"), raw, True)
    name: str | None = None
    data: list[str] = []
    for line in raw.decode("utf-8", "replace").split("\n"):
        if not line or line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
    if name is None and not data:
        return None
    return SseEvent(name, "\n".join(data), raw, bool(data))


def parse_sse(body: bytes | str) -> tuple[list[SseEvent], bytes]:
    """A whole SSE body: its events, and the bytes of a last event that never got its blank line (b"" if none)."""
    parser = SseParser()
    events = parser.feed(body.encode() if isinstance(body, str) else body)
    return events, parser.pending


def sse_data(body: bytes | str) -> list[dict[str, Any]]:
    """The JSON `data:` payloads of an SSE body, in order ([DONE] and events without data left out; a last event
    without its blank line counts)."""
    parser = SseParser()
    events = parser.feed(body.encode() if isinstance(body, str) else body) + parser.close()
    return [orjson.loads(e.data) for e in events if e.data and e.data != DONE]
