"""How a request names its correlation id, session and turn: headers first, then a marker in the body.

Gateways often drop client headers, so clients also put a marker `gd:<correlation>:<session>:<turn>` in
the OpenAI `user` field, Anthropic `metadata.user_id`, or the message text. The fakes read whichever
arrives; the harness writes both.
"""

from __future__ import annotations

import re

CORRELATION_HEADER = "x-gatedrill-correlation-id"
SESSION_HEADER = "x-gatedrill-session-id"
TURN_HEADER = "x-gatedrill-turn"
FAULT_HEADER = "x-gatedrill-fault"

_MARKER = re.compile(r"gd:([A-Za-z0-9_.-]+)(?::([A-Za-z0-9_.-]*))?(?::(\d+))?")


def make_marker(correlation_id: str, session_id: str | None = None, turn: int | None = None) -> str:
    out = f"gd:{correlation_id}"
    if session_id is not None or turn is not None:
        out += f":{session_id or ''}"
    if turn is not None:
        out += f":{turn}"
    return out


def parse_marker(text: str | None) -> tuple[str | None, str | None, int | None]:
    """(correlation, session, turn) from the first marker in text, or Nones."""
    if not text or "gd:" not in text:
        return None, None, None
    m = _MARKER.search(text)
    if not m:
        return None, None, None
    return m.group(1), (m.group(2) or None), (int(m.group(3)) if m.group(3) else None)
