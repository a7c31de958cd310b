"""The reference gateway's Gemini upstream: OpenAI chat requests as `generateContent` bodies, Gemini replies and
SSE streams back as OpenAI chat completions and chunks.

Gemini has no tool-call ids: the gateway names each function call `call_<n>` for its client and, on the next
turn, finds a tool result's function name through the assistant message that made the call. Roles are `user`
and `model`; consecutive turns of one role are merged; system messages become `systemInstruction`.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import orjson

from ..sse import SseEvent
from .errors import UpstreamError
from .streams import DONE, OutEvent, StreamRelay
from .translate import _arguments, _content_blocks, _joined_text, _texts, openai_usage

FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter", "RECITATION": "content_filter",
          "BLOCKLIST": "content_filter", "PROHIBITED_CONTENT": "content_filter", "SPII": "content_filter"}
_STATUS = {"RESOURCE_EXHAUSTED": 429, "UNAVAILABLE": 503, "INTERNAL": 500, "DEADLINE_EXCEEDED": 504,
           "INVALID_ARGUMENT": 400}


def to_gemini(body: dict[str, Any], default_max_tokens: int | None = None) -> dict[str, Any]:
    """An OpenAI chat request body as a Gemini `generateContent` body (the model travels in the URL)."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool call id -> function name, for the results that answer them
    for m in body.get("messages") or []:
        role, content = m.get("role"), m.get("content")
        if role in ("system", "developer"):
            system.extend({"text": t} for t in _texts(content))
        elif role == "tool":
            name = names.get(str(m.get("tool_call_id")), "")
            _append(turns, "user", [{"functionResponse": {"name": name,
                                                          "response": {"content": _joined_text(content)}}}])
        elif role == "assistant":
            parts: list[dict[str, Any]] = [{"text": t} for t in _texts(content)]
            for call in m.get("tool_calls") or ():
                fn = call.get("function") or {}
                names[str(call.get("id"))] = str(fn.get("name"))
                parts.append({"functionCall": {"name": fn.get("name"), "args": _arguments(fn.get("arguments"))}})
            _append(turns, "model", parts)
        else:
            _append(turns, "user", [{"text": b["text"]} for b in _content_blocks(content) if b["type"] == "text"])
    out: dict[str, Any] = {"contents": turns}
    if system:
        out["systemInstruction"] = {"parts": system}
    gen: dict[str, Any] = {}
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or default_max_tokens
    if isinstance(max_tokens, int) and max_tokens > 0:
        gen["maxOutputTokens"] = max_tokens
    for key, name in (("temperature", "temperature"), ("top_p", "topP"), ("seed", "seed"), ("n", "candidateCount")):
        if body.get(key) is not None:
            gen[name] = body[key]
    stop = body.get("stop")
    if stop:
        gen["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if gen:
        out["generationConfig"] = gen
    tools = body.get("tools")
    if tools:
        decls = []
        for t in tools:
            fn = t.get("function") or {}
            decl: dict[str, Any] = {"name": fn.get("name"),
                                    "parametersJsonSchema": fn.get("parameters") or {"type": "object",
                                                                                     "properties": {}}}
            if fn.get("description"):
                decl["description"] = fn["description"]
            decls.append(decl)
        out["tools"] = [{"functionDeclarations": decls}]
        config = _tool_config(body.get("tool_choice"))
        if config is not None:
            out["toolConfig"] = {"functionCallingConfig": config}
    return out


def _tool_config(choice: Any) -> dict[str, Any] | None:
    if choice == "none":
        return {"mode": "NONE"}
    if choice == "required":
        return {"mode": "ANY"}
    if isinstance(choice, dict) and (choice.get("function") or {}).get("name"):
        return {"mode": "ANY", "allowedFunctionNames": [choice["function"]["name"]]}
    return None


def _append(turns: list[dict[str, Any]], role: str, parts: list[dict[str, Any]]) -> None:
    if not parts:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1]["parts"].extend(parts)
    else:
        turns.append({"role": role, "parts": parts})


def _call_id() -> str:
    return "call_" + secrets.token_hex(12)


def _choice(candidate: dict[str, Any], index: int) -> dict[str, Any]:
    texts, calls = [], []
    for part in (candidate.get("content") or {}).get("parts") or ():
        if isinstance(part.get("text"), str) and not part.get("thought"):
            texts.append(part["text"])
        elif "functionCall" in part:
            fc = part["functionCall"]
            calls.append({"id": _call_id(), "type": "function",
                          "function": {"name": fc.get("name"), "arguments": orjson.dumps(fc.get("args") or {})
                                       .decode()}})
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None, "refusal": None}
    if calls:
        message["tool_calls"] = calls
    finish = "tool_calls" if calls else FINISH.get(str(candidate.get("finishReason")), "stop")
    return {"index": index, "message": message, "logprobs": None, "finish_reason": finish}


def from_gemini(data: dict[str, Any], model: str) -> dict[str, Any] | None:
    """A Gemini reply as an OpenAI chat completion; None when it is neither candidates nor a blocked prompt."""
    candidates = data.get("candidates")
    if candidates:
        choices = [_choice(c, i) for i, c in enumerate(candidates)]
    elif (data.get("promptFeedback") or {}).get("blockReason"):
        choices = [{"index": 0, "message": {"role": "assistant", "content": "", "refusal": None}, "logprobs": None,
                    "finish_reason": "content_filter"}]
    else:
        return None
    usage = data.get("usageMetadata") or {}
    return {"id": "chatcmpl-" + str(data.get("responseId") or ""), "object": "chat.completion",
            "created": int(time.time()), "model": data.get("modelVersion") or model, "choices": choices,
            "usage": openai_usage(int(usage.get("promptTokenCount") or 0),
                                  int(usage.get("candidatesTokenCount") or 0))}


def error_status(status_name: str, code: Any) -> int:
    return code if isinstance(code, int) and code >= 400 else _STATUS.get(status_name, 500)


class GeminiTranslator(StreamRelay):
    """Gemini SSE frames (no event names, no terminator: the frame with `finishReason` ends it) as OpenAI chunks."""

    def __init__(self, model: str, include_usage: bool) -> None:
        super().__init__()
        self.model = model
        self.include_usage = include_usage
        self.cid = "chatcmpl-"
        self.created = int(time.time())
        self._started = False
        self._tools = 0

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
        err = obj.get("error")
        if isinstance(err, dict):
            status = error_status(str(err.get("status")), err.get("code"))
            self.error = UpstreamError("http", status if status >= 500 or status == 429 else 500,
                                       str(err.get("message") or "upstream stream error"), str(err.get("status")))
            return []
        out: list[OutEvent] = []
        if not self._started:
            self._started = True
            self.cid = "chatcmpl-" + str(obj.get("responseId") or "")
            out.append(OutEvent("role", self._chunk({"role": "assistant", "content": ""})))
        candidates = obj.get("candidates") or []
        if not candidates and (obj.get("promptFeedback") or {}).get("blockReason"):
            return [*out, *self._end("content_filter", obj)]
        cand = candidates[0] if candidates else {}
        for part in (cand.get("content") or {}).get("parts") or ():
            if isinstance(part.get("text"), str) and part["text"] and not part.get("thought"):
                out.append(OutEvent("content", self._chunk({"content": part["text"]})))
            elif "functionCall" in part:
                fc = part["functionCall"]
                call = {"index": self._tools, "id": _call_id(), "type": "function",
                        "function": {"name": fc.get("name"), "arguments": orjson.dumps(fc.get("args") or {}).decode()}}
                self._tools += 1
                out.append(OutEvent("content", self._chunk({"tool_calls": [call]})))
        reason = cand.get("finishReason")
        if reason:
            finish = "tool_calls" if self._tools else FINISH.get(str(reason), "stop")
            out.extend(self._end(finish, obj))
        return out

    def _end(self, finish: str, obj: dict[str, Any]) -> list[OutEvent]:
        self.done = True
        out = [OutEvent("finish", self._chunk({}, finish))]
        if self.include_usage:
            u = obj.get("usageMetadata") or {}
            usage_chunk = {"id": self.cid, "object": "chat.completion.chunk", "created": self.created,
                           "model": self.model, "choices": [],
                           "usage": openai_usage(int(u.get("promptTokenCount") or 0),
                                                 int(u.get("candidatesTokenCount") or 0))}
            out.append(OutEvent("usage", b"data: " + orjson.dumps(usage_chunk) + b"\n\n"))
        out.append(OutEvent("done", DONE))
        return out
