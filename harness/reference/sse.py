"""An incremental Server-Sent Events parser: bytes in as they arrive, whole events out.

Events end at a blank line; `event:` and `data:` fields are read (multi-line data joined with newlines),
comments and other fields are skipped. CRLF line ends are accepted.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class SseEvent:
    event: str | None
    data: str
    raw: bytes  # the event's bytes, blank line included, as it arrived (line ends normalised to LF)


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

    @property
    def pending(self) -> bytes:
        """Bytes of an event not yet complete (non-empty at end of stream means it was cut)."""
        return self._buf


def _parse(raw: bytes) -> SseEvent | None:
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
    return SseEvent(name, "\n".join(data), raw)
