"""The JSON payloads of a server-sent-events body, for adapters and gateways read over HTTP."""

from __future__ import annotations

from typing import Any

import orjson


def sse_data(text: str) -> list[dict[str, Any]]:
    """The JSON `data:` payloads of an SSE body, in order (`[DONE]` and comments left out)."""
    out = []
    for event in text.replace("\r\n", "\n").split("\n\n"):
        data = "\n".join(line[5:].lstrip(" ") for line in event.split("\n") if line.startswith("data:"))
        if data and data != "[DONE]":
            out.append(orjson.loads(data))
    return out
