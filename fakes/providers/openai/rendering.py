"""Render neutral replies as OpenAI chat completions: JSON bodies and `chat.completion.chunk` SSE streams."""

from __future__ import annotations

import time
from typing import Any

import orjson

from ...content import Reply
from ...conversation import ChatRequest
from ..base import Rendered, Usage

FINISH = {"stop": "stop", "stop_sequence": "stop", "length": "length", "tool_calls": "tool_calls",
          "content_filter": "content_filter"}
FINGERPRINT = "fp_gatedrill"
DONE = b"data: [DONE]\n\n"


def usage_obj(u: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.prompt_tokens + u.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0,
                                      "rejected_prediction_tokens": 0},
    }


def chat_json(req: ChatRequest, reply: Reply, usage: Usage, cid: str) -> bytes:
    choices = []
    for i, ch in enumerate(reply.choices):
        msg: dict[str, Any] = {"role": "assistant", "content": ch.text if not ch.tool_calls else None,
                               "refusal": None, "annotations": []}
        if ch.tool_calls:
            msg["tool_calls"] = [{"id": c.id, "type": "function", "function": {"name": c.name,
                                                                                "arguments": c.arguments}}
                                 for c in ch.tool_calls]
        choices.append({"index": i, "message": msg, "logprobs": None, "finish_reason": FINISH[ch.finish]})
    return orjson.dumps({
        "id": cid, "object": "chat.completion", "created": int(time.time()), "model": req.model,
        "choices": choices, "usage": usage_obj(usage), "service_tier": "default", "system_fingerprint": FINGERPRINT,
    })


def chat_stream(req: ChatRequest, reply: Reply, usage: Usage, cid: str, offsets: list[float],
                end_offset: float) -> list[tuple[float, bytes, bool]]:
    """SSE events; content events are built from a fixed prefix and suffix around each piece, for speed."""
    created = int(time.time())
    usage_field = b',"usage":null' if req.include_usage else b""
    head = (b'data: {"id":"' + cid.encode() + b'","object":"chat.completion.chunk","created":'
            + str(created).encode() + b',"model":' + orjson.dumps(req.model) + b',"service_tier":"default",'
            b'"system_fingerprint":"' + FINGERPRINT.encode() + b'","choices":[')
    events: list[tuple[float, bytes, bool]] = []
    k = 0
    first_t = offsets[0] if offsets else 0.0
    for i, ch in enumerate(reply.choices):
        idx = str(i).encode()
        events.append((first_t, head + b'{"index":' + idx + b',"delta":{"role":"assistant","content":"",'
                       b'"refusal":null},"logprobs":null,"finish_reason":null}]' + usage_field + b"}\n\n", False))
        pre = head + b'{"index":' + idx + b',"delta":{"content":'
        post = b'},"logprobs":null,"finish_reason":null}]' + usage_field + b"}\n\n"
        dumps = orjson.dumps
        for piece in ch.pieces:
            events.append((offsets[k] if k < len(offsets) else end_offset, pre + dumps(piece) + post, True))
            k += 1
        for j, call in enumerate(ch.tool_calls):
            t = offsets[k] if k < len(offsets) else end_offset
            k += 1
            start = {"index": j, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}
            events.append((t, head + b'{"index":' + idx + b',"delta":{"tool_calls":[' + orjson.dumps(start)
                           + b']},"logprobs":null,"finish_reason":null}]' + usage_field + b"}\n\n", True))
            args = {"index": j, "function": {"arguments": call.arguments}}
            events.append((t, head + b'{"index":' + idx + b',"delta":{"tool_calls":[' + orjson.dumps(args)
                           + b']},"logprobs":null,"finish_reason":null}]' + usage_field + b"}\n\n", True))
        events.append((end_offset, head + b'{"index":' + idx + b',"delta":{},"logprobs":null,"finish_reason":"'
                       + FINISH[ch.finish].encode() + b'"}]' + usage_field + b"}\n\n", False))
    if req.include_usage:
        events.append((end_offset, head + b"]," + b'"usage":' + orjson.dumps(usage_obj(usage)) + b"}\n\n", False))
    events.append((end_offset, DONE, False))
    return events


def render_chat(req: ChatRequest, reply: Reply, usage: Usage, offsets: list[float], end_offset: float,
                cid: str, headers: list[tuple[str, str]]) -> Rendered:
    if req.stream:
        headers.append(("content-type", "text/event-stream; charset=utf-8"))
        return Rendered(200, headers, chat_stream(req, reply, usage, cid, offsets, end_offset), True)
    headers.append(("content-type", "application/json"))
    return Rendered(200, headers, [(end_offset, chat_json(req, reply, usage, cid), True)], False)
