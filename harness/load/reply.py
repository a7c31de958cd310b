"""Reading what a gateway answered: an OpenAI chat completion as JSON, an SSE stream, or an error body.

Pure parsing, no I/O, so the driver's network code stays small and this stays testable. A stream is
reassembled from `delta.content` and `delta.tool_calls` pieces; it finished cleanly only when a chunk
gave a `finish_reason` and `data: [DONE]` arrived with no error event, because a gateway that loses the
tail of a stream must not pass for a short, clean reply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from ..sse import DONE, SseEvent, SseParser


@dataclass(slots=True)
class Reply:
    """The parts of a response a client record keeps."""

    text: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    chunks: int = 0
    done: bool = False  # SSE: saw [DONE]
    error_class: str | None = None
    error: str | None = None

    @property
    def finished_cleanly(self) -> bool:
        return self.error_class is None and self.finish_reason is not None and self.done


def error_dialect(body: bytes) -> str:
    """Whose error envelope a body is: `openai` ({"error": {"message", "type", ...}} and nothing claiming another
    dialect), `anthropic` ({"type": "error", "error": {...}}), or `other` (not JSON, or neither shape). An OpenAI
    SDK reads only the first."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "other"
    if not isinstance(obj, dict) or not isinstance(obj.get("error"), dict):
        return "other"
    if obj.get("type") == "error":
        return "anthropic"
    err = obj["error"]
    return "openai" if isinstance(err.get("message"), str) and "type" in err else "other"


def error_message(body: bytes) -> str | None:
    """The message of an OpenAI (or Anthropic) error envelope, or the start of the raw body."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body[:200].decode("utf-8", "replace").strip()
        return text or None
    if isinstance(obj, dict):
        err = obj.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return str(err["message"])[:500]
        if isinstance(err, str):
            return err[:500]
    return None


def parse_completion(body: bytes) -> Reply:
    """A non-streamed `chat.completion` body."""
    reply = Reply(done=True)
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        reply.error_class, reply.error = "malformed_body", body[:200].decode("utf-8", "replace")
        return reply
    if not isinstance(obj, dict) or not isinstance(obj.get("choices"), list) or not obj["choices"]:
        reply.error_class = "malformed_body"
        reply.error = error_message(body) or "no choices in the completion"
        return reply
    choice = obj["choices"][0]
    msg = choice.get("message") or {}
    reply.text = msg.get("content") or ""
    for call in msg.get("tool_calls") or ():
        fn = call.get("function") or {}
        reply.tool_calls.append({"id": call.get("id"), "name": fn.get("name"), "arguments": fn.get("arguments")})
    reply.finish_reason = choice.get("finish_reason")
    reply.usage = obj.get("usage")
    reply.chunks = 0
    if reply.finish_reason is None:
        reply.error_class, reply.error = "malformed_body", "completion without finish_reason"
    return reply


class StreamReader:
    """Reads a `chat.completion.chunk` stream (harness.sse's parser) into a Reply. `feed` bytes as they arrive."""

    __slots__ = ("_calls", "_parts", "_sse", "reply")

    def __init__(self) -> None:
        self.reply = Reply()
        self._sse = SseParser()
        self._parts: list[str] = []
        self._calls: dict[int, dict[str, Any]] = {}

    def feed(self, data: bytes) -> bool:
        """Consume bytes; True when they carried the stream's first content (text or a tool call)."""
        had = bool(self._parts) or bool(self._calls)
        for event in self._sse.feed(data):
            self._dispatch(event)
        return not had and (bool(self._parts) or bool(self._calls))

    def _dispatch(self, event: SseEvent) -> None:
        r = self.reply
        if event.event == "error":
            r.error_class = "stream_error"  # its data line carries the envelope
        if not event.has_data:
            return
        if event.data == DONE:
            r.done = True
            return
        try:
            obj = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            r.error_class = r.error_class or "malformed_stream"
            r.error = r.error or event.data[:200]
            return
        r.chunks += 1
        if not isinstance(obj, dict):
            r.error_class = r.error_class or "malformed_stream"
            return
        if "error" in obj:
            r.error_class = "stream_error"
            err = obj["error"]
            r.error = str(err.get("message") if isinstance(err, dict) else err)[:500]
            return
        if obj.get("usage"):
            r.usage = obj["usage"]
        for choice in obj.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if content:
                self._parts.append(content)
            for tc in delta.get("tool_calls") or ():
                slot = self._calls.setdefault(int(tc.get("index", 0)), {"id": None, "name": None, "arguments": ""})
                if tc.get("id"):
                    slot["id"] = tc["id"]
                fn = tc.get("function") or {}
                if fn.get("name"):
                    slot["name"] = fn["name"]
                if fn.get("arguments"):
                    slot["arguments"] += fn["arguments"]
            if choice.get("finish_reason"):
                r.finish_reason = choice["finish_reason"]

    def close(self) -> Reply:
        """The reply so far, with any final event that lacked its blank line."""
        for event in self._sse.close():
            self._dispatch(event)
        r = self.reply
        r.text = "".join(self._parts)
        r.tool_calls = [self._calls[i] for i in sorted(self._calls)]
        return r
