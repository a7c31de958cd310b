"""Upstream SSE streams turned into the OpenAI `chat.completion.chunk` stream the client gets.

`OpenAIRelay` passes an OpenAI upstream's events through byte for byte, reading each one to know what it is.
`AnthropicTranslator` rebuilds Anthropic's typed events (`message_start`, block deltas, `message_delta`,
`message_stop`) as OpenAI chunks, with a usage chunk when the client asked for one, and `[DONE]` at the end.
Both stop at the first sign of failure (an error event, bytes that are not JSON) and expose it as `error`,
so the gateway can end the client's stream with an error event instead of a clean, short reply.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from ..sse import SseEvent
from .errors import UpstreamError
from .translate import FINISH_REASON, openai_usage

DONE = b"data: [DONE]\n\n"
# Anthropic error types back to a status, for stream errors (which carry no status of their own).
_ANTHROPIC_STATUS = {"overloaded_error": 529, "api_error": 500, "rate_limit_error": 429, "timeout_error": 504,
                     "invalid_request_error": 400, "request_too_large": 413}


@dataclass(slots=True)
class OutEvent:
    """One event for the client. kind: role | content | finish | usage | done."""

    kind: str
    data: bytes


class StreamRelay:
    """Common state: the terminator seen, or the failure that ended the stream."""

    def __init__(self) -> None:
        self.done = False
        self.error: UpstreamError | None = None

    def feed(self, ev: SseEvent) -> list[OutEvent]:
        raise NotImplementedError

    def _json(self, ev: SseEvent) -> Any:
        try:
            return orjson.loads(ev.data)
        except orjson.JSONDecodeError:
            self.error = UpstreamError("malformed", 200, "upstream sent a stream event that is not valid JSON")
            return None

    def end_of_stream(self) -> None:
        """The upstream closed the stream: without a terminator or an error, it was cut short."""
        if not self.done and self.error is None:
            self.error = UpstreamError("reset", 200, "upstream stream ended before its last event")


class OpenAIRelay(StreamRelay):
    def feed(self, ev: SseEvent) -> list[OutEvent]:
        if self.done or self.error is not None:
            return []
        if ev.data == "[DONE]":
            self.done = True
            return [OutEvent("done", DONE)]
        obj = self._json(ev)
        if obj is None:
            return []
        if not isinstance(obj, dict):
            self.error = UpstreamError("malformed", 200, "upstream sent a stream event that is not an object")
            return []
        err = obj.get("error")
        if err is not None:
            err = err if isinstance(err, dict) else {"message": str(err)}
            etype = str(err.get("type") or "server_error")
            code = err.get("code")
            status = 429 if code == "rate_limit_exceeded" else 500
            self.error = UpstreamError("http", status, str(err.get("message") or "upstream stream error"), etype,
                                       code if isinstance(code, str) else None)
            return []
        choices = obj.get("choices") or []
        if not choices:  # a usage chunk, or Azure's prompt-filter annotations before any content
            return [OutEvent("usage" if obj.get("usage") else "role", ev.raw)]
        if any(c.get("finish_reason") for c in choices):
            return [OutEvent("finish", ev.raw)]
        if all(not (c.get("delta") or {}).get("content") and not (c.get("delta") or {}).get("tool_calls")
               for c in choices):
            return [OutEvent("role", ev.raw)]  # the opening chunk (role, empty content) is not content yet
        return [OutEvent("content", ev.raw)]


class AnthropicTranslator(StreamRelay):
    def __init__(self, model: str, include_usage: bool) -> None:
        super().__init__()
        self.model = model
        self.include_usage = include_usage
        self.cid = "chatcmpl-"
        self.created = int(time.time())
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self._tool_index = -1
        self._block_is_tool: dict[int, int] = {}  # Anthropic block index -> OpenAI tool_calls index

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        obj: dict[str, Any] = {"id": self.cid, "object": "chat.completion.chunk", "created": self.created,
                               "model": self.model,
                               "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if self.include_usage:
            obj["usage"] = None
        return b"data: " + orjson.dumps(obj) + b"\n\n"

    def feed(self, ev: SseEvent) -> list[OutEvent]:
        if self.done or self.error is not None:
            return []
        obj = self._json(ev)
        if not isinstance(obj, dict):
            if self.error is None:
                self.error = UpstreamError("malformed", 200, "upstream sent a stream event that is not an object")
            return []
        kind = ev.event or obj.get("type")
        if kind == "message_start":
            msg = obj.get("message") or {}
            self.cid = "chatcmpl-" + str(msg.get("id") or "")
            self.model = str(msg.get("model") or self.model)
            self.prompt_tokens = int((msg.get("usage") or {}).get("input_tokens") or 0)
            return [OutEvent("role", self._chunk({"role": "assistant", "content": ""}))]
        if kind == "content_block_start":
            block = obj.get("content_block") or {}
            if block.get("type") == "tool_use":
                self._tool_index += 1
                self._block_is_tool[int(obj.get("index") or 0)] = self._tool_index
                call = {"index": self._tool_index, "id": block.get("id"), "type": "function",
                        "function": {"name": block.get("name"), "arguments": ""}}
                return [OutEvent("content", self._chunk({"tool_calls": [call]}))]
            if block.get("type") == "text" and block.get("text"):
                return [OutEvent("content", self._chunk({"content": block["text"]}))]
            return []
        if kind == "content_block_delta":
            delta = obj.get("delta") or {}
            if delta.get("type") == "text_delta":
                return [OutEvent("content", self._chunk({"content": delta.get("text") or ""}))]
            if delta.get("type") == "input_json_delta" and delta.get("partial_json"):
                index = self._block_is_tool.get(int(obj.get("index") or 0), max(self._tool_index, 0))
                call = {"index": index, "function": {"arguments": delta["partial_json"]}}
                return [OutEvent("content", self._chunk({"tool_calls": [call]}))]
            return []
        if kind == "message_delta":
            usage = obj.get("usage") or {}
            self.completion_tokens = int(usage.get("output_tokens") or 0)
            if usage.get("input_tokens"):
                self.prompt_tokens = int(usage["input_tokens"])
            reason = (obj.get("delta") or {}).get("stop_reason")
            return [OutEvent("finish", self._chunk({}, FINISH_REASON.get(str(reason), "stop")))]
        if kind == "message_stop":
            self.done = True
            out = []
            if self.include_usage:
                usage_chunk = {"id": self.cid, "object": "chat.completion.chunk", "created": self.created,
                               "model": self.model, "choices": [],
                               "usage": openai_usage(self.prompt_tokens, self.completion_tokens)}
                out.append(OutEvent("usage", b"data: " + orjson.dumps(usage_chunk) + b"\n\n"))
            out.append(OutEvent("done", DONE))
            return out
        if kind == "error":
            err = obj.get("error") or {}
            etype = str(err.get("type") or "api_error")
            self.error = UpstreamError("http", _ANTHROPIC_STATUS.get(etype, 500),
                                       str(err.get("message") or "upstream stream error"), etype)
            return []
        return []  # ping, content_block_stop, and event types this gateway does not translate
