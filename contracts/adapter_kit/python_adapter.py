"""`AnthropicAdapter`: a small, correct Python adapter from the unified (OpenAI chat) shape to Anthropic
Messages and back, and `PythonAdapterTarget`, which runs any such adapter against an intercepted fake.

It is the kit's own baseline (it must pass every property) and the thing tests break on purpose, one
method at a time, to prove each property catches its bug. Vendors can read it as a worked example.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from gatedrill.fakes import Fake
from gatedrill.fakes.interception import Interception
from gatedrill.harness.sse import sse_data

from ..strategies import to_anthropic
from .outcome import Outcome, reassemble
from .target import Target

ANTHROPIC_URL = "https://api.anthropic.com/v1/messages"
FINISH_REASON = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}
ERROR_STATUS = {529: 503}  # Anthropic's overloaded has no OpenAI twin; 503 is what clients retry


class AnthropicAdapter:
    """Unified request -> Anthropic request; Anthropic reply, stream or error -> unified."""

    def request(self, unified: dict[str, Any], model: str) -> dict[str, Any]:
        return {**to_anthropic(unified), "model": model}

    def reply(self, message: dict[str, Any]) -> dict[str, Any]:
        text = "".join(b["text"] for b in message["content"] if b["type"] == "text")
        calls = [{"id": b["id"], "type": "function",
                  "function": {"name": b["name"], "arguments": orjson.dumps(b["input"]).decode()}}
                 for b in message["content"] if b["type"] == "tool_use"]
        msg: dict[str, Any] = {"role": "assistant", "content": text or None}
        if calls:
            msg["tool_calls"] = calls
        usage = message["usage"]
        return {"id": message["id"], "object": "chat.completion", "model": message["model"],
                "choices": [{"index": 0, "message": msg,
                             "finish_reason": FINISH_REASON.get(message["stop_reason"], "stop")}],
                "usage": self.usage(usage["input_tokens"], usage["output_tokens"])}

    def usage(self, prompt: int, completion: int) -> dict[str, int]:
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def chunks(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Anthropic stream events as chat.completion.chunk dicts (text, tool calls, finish, usage)."""
        out: list[dict[str, Any]] = []
        prompt = 0
        tool_index: dict[int, int] = {}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta,
                                                                   "finish_reason": finish}]}

        for ev in events:
            kind = ev.get("type")
            if kind == "message_start":
                prompt = ev["message"]["usage"]["input_tokens"]
            elif kind == "content_block_start" and ev["content_block"]["type"] == "tool_use":
                block = ev["content_block"]
                tool_index[ev["index"]] = len(tool_index)
                call = {"index": tool_index[ev["index"]], "id": block["id"], "type": "function",
                        "function": {"name": block["name"], "arguments": ""}}
                out.append(chunk({"tool_calls": [call]}))
            elif kind == "content_block_delta":
                d = ev["delta"]
                if d["type"] == "text_delta":
                    out.append(chunk({"content": d["text"]}))
                elif d["type"] == "input_json_delta":
                    out.append(chunk({"tool_calls": [{"index": tool_index[ev["index"]],
                                                      "function": {"arguments": d["partial_json"]}}]}))
            elif kind == "error":  # a mid-stream failure: OpenAI-style streams carry it as an error chunk
                out.append({"error": {"message": ev["error"]["message"], "type": ev["error"]["type"]}})
            elif kind == "message_delta":
                out.append(chunk({}, FINISH_REASON.get(ev["delta"].get("stop_reason"), "stop")))
                usage = self.usage(prompt, ev["usage"]["output_tokens"])
                out.append({"object": "chat.completion.chunk", "choices": [], "usage": usage})
        return out

    def error(self, status: int, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, str]]:
        """The unified status and headers for an upstream error (retry hints kept)."""
        kept = {k: v for k, v in headers.items() if k in ("retry-after", "retry-after-ms", "x-should-retry")}
        return ERROR_STATUS.get(status, status), kept


class PythonAdapterTarget(Target):
    """An `AnthropicAdapter` (or a subclass) called in-process, its httpx calls answered by a fake."""

    provider = "anthropic"

    def __init__(self, adapter: AnthropicAdapter | None = None, name: str = "python", fake: Fake | None = None) -> None:
        self.adapter = adapter or AnthropicAdapter()
        self.name = name
        self.fake = fake or Fake(provider="anthropic")
        self.request_model = "drill"
        self._interception: Interception | None = None
        self._client: httpx.Client | None = None

    def start(self) -> None:
        self._interception = Interception(self.fake).start()
        self._client = httpx.Client(timeout=30)

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._interception is not None:
            self._interception.stop()
            self._interception = None

    def send(self, request: dict[str, Any]) -> Outcome:
        assert self._client is not None, "start the target first"
        body = self.adapter.request(request, self.upstream_model)
        r = self._client.post(ANTHROPIC_URL, json=body, headers={"x-api-key": "sk-gatedrill",
                                                                 "anthropic-version": "2023-06-01"})
        if r.status_code != 200:
            status, headers = self.adapter.error(r.status_code, dict(r.headers), r.json())
            return Outcome(status, headers=headers, error=r.text)
        if body.get("stream"):
            out = self.adapter.chunks(sse_data(r.text))
            chunks = [c for c in out if "error" not in c]
            errors = [c["error"] for c in out if "error" in c]
            return Outcome(200, reassemble(chunks), chunks, stream_error=errors[0] if errors else None)
        return Outcome(200, self.adapter.reply(r.json()))
