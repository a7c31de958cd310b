"""The reference gateway's Bedrock upstream: OpenAI chat requests as Converse bodies, signed with SigV4; Converse
replies and ConverseStream's binary event stream back as OpenAI chat completions and chunks.

Tool-call ids pass through as `toolUseId`. The event stream is decoded incrementally and its CRCs checked, like
an SDK would; each message becomes an `SseEvent` named by its event or exception type, so the relay machinery
is the same as for SSE upstreams.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import time
import zlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import orjson

from ..sse import SseEvent
from .errors import UpstreamError
from .streams import DONE, OutEvent, StreamRelay
from .translate import _arguments, _content_blocks, _joined_text, _texts, openai_usage

FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
          "content_filtered": "content_filter", "guardrail_intervened": "content_filter"}
_EXCEPTION_STATUS = {"throttlingException": 429, "serviceUnavailableException": 503, "validationException": 400,
                     "internalServerException": 500, "modelStreamErrorException": 500}
ACCESS_KEY_ID = "AKIAGATEDRILLREFGW01"
REGION = "us-east-1"


def to_converse(body: dict[str, Any], default_max_tokens: int) -> dict[str, Any]:
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for m in body.get("messages") or []:
        role, content = m.get("role"), m.get("content")
        if role in ("system", "developer"):
            system.extend({"text": t} for t in _texts(content))
        elif role == "tool":
            _append(turns, "user", [{"toolResult": {"toolUseId": m.get("tool_call_id"),
                                                    "content": [{"text": _joined_text(content) or " "}]}}])
        elif role == "assistant":
            blocks: list[dict[str, Any]] = [{"text": t} for t in _texts(content)]
            for call in m.get("tool_calls") or ():
                fn = call.get("function") or {}
                blocks.append({"toolUse": {"toolUseId": call.get("id"), "name": fn.get("name"),
                                           "input": _arguments(fn.get("arguments"))}})
            _append(turns, "assistant", blocks)
        else:
            _append(turns, "user", [{"text": b["text"]} for b in _content_blocks(content) if b["type"] == "text"])
    out: dict[str, Any] = {"messages": turns}
    if system:
        out["system"] = system
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    inference: dict[str, Any] = {"maxTokens": max_tokens if isinstance(max_tokens, int) and max_tokens > 0
                                 else default_max_tokens}
    for key, name in (("temperature", "temperature"), ("top_p", "topP")):
        if body.get(key) is not None:
            inference[name] = body[key]
    stop = body.get("stop")
    if stop:
        inference["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    out["inferenceConfig"] = inference
    tools = body.get("tools")
    if tools:
        specs = []
        for t in tools:
            fn = t.get("function") or {}
            spec: dict[str, Any] = {"name": fn.get("name"), "inputSchema": {
                "json": fn.get("parameters") or {"type": "object", "properties": {}}}}
            if fn.get("description"):
                spec["description"] = fn["description"]
            specs.append({"toolSpec": spec})
        config: dict[str, Any] = {"tools": specs}
        choice = body.get("tool_choice")
        if choice == "required":
            config["toolChoice"] = {"any": {}}
        elif isinstance(choice, dict) and (choice.get("function") or {}).get("name"):
            config["toolChoice"] = {"tool": {"name": choice["function"]["name"]}}
        out["toolConfig"] = config
    return out


def _append(turns: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    if not blocks:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": blocks})


def from_converse(data: dict[str, Any], model: str) -> dict[str, Any] | None:
    msg = (data.get("output") or {}).get("message")
    if not isinstance(msg, dict):
        return None
    texts, calls = [], []
    for block in msg.get("content") or ():
        if isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif "toolUse" in block:
            use = block["toolUse"]
            calls.append({"id": use.get("toolUseId"), "type": "function",
                          "function": {"name": use.get("name"), "arguments": orjson.dumps(use.get("input") or {})
                                       .decode()}})
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None, "refusal": None}
    if calls:
        message["tool_calls"] = calls
    usage = data.get("usage") or {}
    return {"id": "chatcmpl-bedrock", "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": FINISH.get(str(data.get("stopReason")), "stop")}],
            "usage": openai_usage(int(usage.get("inputTokens") or 0), int(usage.get("outputTokens") or 0))}


def sigv4_headers(url: str, body: bytes, secret: str, now: datetime | None = None) -> dict[str, str]:
    """`Authorization` and `X-Amz-Date` for a POST to Bedrock Runtime, signed the AWS way (service `bedrock`)."""
    t = now or datetime.now(UTC)
    amz_date, day = t.strftime("%Y%m%dT%H%M%SZ"), t.strftime("%Y%m%d")
    parts = urlsplit(url)
    canonical_uri = quote(parts.path, safe="/~")  # non-S3 services sign the path encoded once more
    signed = "content-type;host;x-amz-date"
    canonical = "\n".join(["POST", canonical_uri, parts.query,
                           f"content-type:application/json\nhost:{parts.netloc}\nx-amz-date:{amz_date}\n", signed,
                           hashlib.sha256(body).hexdigest()])
    scope = f"{day}/{REGION}/bedrock/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (day, REGION, "bedrock", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return {"authorization": f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/{scope}, SignedHeaders={signed}, "
                             f"Signature={signature}", "x-amz-date": amz_date}


class EventStreamParser:
    """Incremental decoder of `application/vnd.amazon.eventstream`, CRCs checked; same interface as `SseParser`.

    A message whose CRC fails ends the stream as malformed (`broken`)."""

    def __init__(self) -> None:
        self._buf = b""
        self.broken = False

    def feed(self, chunk: bytes) -> list[SseEvent]:
        buf = self._buf + chunk
        out = []
        while len(buf) >= 12 and not self.broken:
            total, hlen = struct.unpack(">II", buf[:8])
            if struct.unpack(">I", buf[8:12])[0] != zlib.crc32(buf[:8]) or total < 16:
                self.broken = True
                break
            if len(buf) < total:
                break
            msg, buf = buf[:total], buf[total:]
            if struct.unpack(">I", msg[-4:])[0] != zlib.crc32(msg[:-4]):
                self.broken = True
                break
            headers = _headers(msg[12:12 + hlen])
            payload = msg[12 + hlen:-4].decode("utf-8", "replace")
            if headers.get(":message-type") == "event":
                out.append(SseEvent(headers.get(":event-type"), payload, msg))
            else:
                out.append(SseEvent("!" + (headers.get(":exception-type") or headers.get(":error-code") or "error"),
                                    payload, msg))
        self._buf = buf
        if self.broken:
            out.append(SseEvent("!malformed", "", b""))
        return out

    @property
    def pending(self) -> bytes:
        return self._buf


def _headers(raw: bytes) -> dict[str, str]:
    out, i = {}, 0
    while i < len(raw):
        n = raw[i]
        name = raw[i + 1:i + 1 + n].decode()
        i += 1 + n
        kind = raw[i]
        i += 1
        if kind == 7 or kind == 6:  # string or bytes
            length = struct.unpack(">H", raw[i:i + 2])[0]
            out[name] = raw[i + 2:i + 2 + length].decode("utf-8", "replace")
            i += 2 + length
        else:  # fixed-size types the gateway does not need: bool (0, 1), byte, short, int, long, timestamp, uuid
            i += {0: 0, 1: 0, 2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16}.get(kind, 0)
    return out


class BedrockTranslator(StreamRelay):
    """ConverseStream events as OpenAI chunks: messageStop gives the finish, metadata the usage and the end."""

    def __init__(self, model: str, include_usage: bool) -> None:
        super().__init__()
        self.model = model
        self.include_usage = include_usage
        self.created = int(time.time())
        self._tool_index = -1
        self._block_tool: dict[int, int] = {}
        self._finished = False

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        obj: dict[str, Any] = {"id": "chatcmpl-bedrock", "object": "chat.completion.chunk", "created": self.created,
                               "model": self.model,
                               "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if self.include_usage:
            obj["usage"] = None
        return b"data: " + orjson.dumps(obj) + b"\n\n"

    def feed(self, ev: SseEvent) -> list[OutEvent]:
        if self.done or self.error is not None:
            return []
        kind = ev.event or ""
        if kind == "!malformed":
            self.error = UpstreamError("malformed", 200, "upstream event stream failed its CRC check")
            return []
        obj = self._json(ev)
        if not isinstance(obj, dict):
            return []
        if kind.startswith("!"):
            name = kind[1:]
            self.error = UpstreamError("http", _EXCEPTION_STATUS.get(name, 500),
                                       str(obj.get("message") or "upstream stream error"), name)
            return []
        if kind == "messageStart":
            return [OutEvent("role", self._chunk({"role": "assistant", "content": ""}))]
        if kind == "contentBlockStart":
            use = (obj.get("start") or {}).get("toolUse")
            if use:
                self._tool_index += 1
                self._block_tool[int(obj.get("contentBlockIndex") or 0)] = self._tool_index
                call = {"index": self._tool_index, "id": use.get("toolUseId"), "type": "function",
                        "function": {"name": use.get("name"), "arguments": ""}}
                return [OutEvent("content", self._chunk({"tool_calls": [call]}))]
            return []
        if kind == "contentBlockDelta":
            delta = obj.get("delta") or {}
            if isinstance(delta.get("text"), str):
                return [OutEvent("content", self._chunk({"content": delta["text"]}))]
            if "toolUse" in delta:
                index = self._block_tool.get(int(obj.get("contentBlockIndex") or 0), max(self._tool_index, 0))
                call = {"index": index, "function": {"arguments": delta["toolUse"].get("input") or ""}}
                return [OutEvent("content", self._chunk({"tool_calls": [call]}))]
            return []
        if kind == "messageStop":
            self._finished = True
            return [OutEvent("finish", self._chunk({}, FINISH.get(str(obj.get("stopReason")), "stop")))]
        if kind == "metadata" and self._finished:
            self.done = True
            out = []
            if self.include_usage:
                u = obj.get("usage") or {}
                usage_chunk = {"id": "chatcmpl-bedrock", "object": "chat.completion.chunk", "created": self.created,
                               "model": self.model, "choices": [],
                               "usage": openai_usage(int(u.get("inputTokens") or 0), int(u.get("outputTokens") or 0))}
                out.append(OutEvent("usage", b"data: " + orjson.dumps(usage_chunk) + b"\n\n"))
            out.append(OutEvent("done", DONE))
            return out
        return []
