"""`Outcome`: what an adapter handed back for one unified request, in the unified (OpenAI chat) shape.

A JSON reply keeps its body; a stream keeps its chunks and the body they reassemble into, so both are judged
the same way; an error keeps its status and headers (retry-after is what clients act on).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The official SDKs retry these (and honour x-should-retry), so a gateway's error is retryable iff it is one.
RETRYABLE_STATUSES = frozenset({408, 409, 429})


@dataclass(slots=True)
class Outcome:
    status: int
    body: dict[str, Any] | None = None
    chunks: list[dict[str, Any]] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    done: bool | None = None  # over HTTP: did the stream end with `data: [DONE]`? (None: not applicable)
    error_body: Any = None  # over HTTP: the parsed error body (None for in-process adapters that raise)
    stream_error: Any = None  # an error reported inside a 200 stream (OpenAI's `data: {"error": ...}`)

    @property
    def retry_after(self) -> float | None:
        for key in ("retry-after-ms", "retry-after"):
            value = self.headers.get(key)
            if value is None:
                continue
            try:
                seconds = float(value)
            except ValueError:
                return None
            return seconds / 1000.0 if key == "retry-after-ms" else seconds
        return None

    @property
    def retryable(self) -> bool:
        hint = self.headers.get("x-should-retry")
        if hint in ("true", "false"):
            return hint == "true"
        return self.status in RETRYABLE_STATUSES or self.status >= 500

    def summary(self) -> str:
        if self.status != 200:
            return f"status {self.status}: {(self.error or '')[:200]}"
        return "stream" if self.chunks is not None else "reply"


def reassemble(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """The chat completion a list of `chat.completion.chunk`s adds up to (first choice, tool calls by index)."""
    text: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish = None
    usage = None
    for chunk in chunks:
        if chunk.get("usage"):
            usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if delta.get("content"):
                text.append(delta["content"])
            for call in delta.get("tool_calls") or ():
                slot = calls.setdefault(call.get("index", 0), {"id": None, "type": "function",
                                                                "function": {"name": None, "arguments": ""}})
                slot["id"] = slot["id"] or call.get("id")
                fn = call.get("function") or {}
                slot["function"]["name"] = slot["function"]["name"] or fn.get("name")
                slot["function"]["arguments"] += fn.get("arguments") or ""
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    return {"object": "chat.completion", "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage}
