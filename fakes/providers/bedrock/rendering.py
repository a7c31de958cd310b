"""Render neutral replies as Bedrock Converse output: one JSON body, or ConverseStream's event stream.

Stream order, as Bedrock sends it: messageStart; text as contentBlockDelta events (a text block has no
contentBlockStart) and its contentBlockStop; each tool use as contentBlockStart (toolUseId, name), input
JSON string deltas and contentBlockStop; then messageStop (stopReason) and metadata (usage, metrics). Only
deltas are content, so a fault after N chunks cuts after N deltas and leaves no messageStop.
"""

from __future__ import annotations

from typing import Any

import orjson

from ...content import Choice
from ...conversation import ChatRequest
from ..base import Rendered, Usage
from .eventstream import event

STOP_REASON = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "stop_sequence": "stop_sequence",
               "content_filter": "content_filtered"}
_JSON_CHUNK = 24


def usage_obj(u: Usage) -> dict[str, Any]:
    return {"inputTokens": u.prompt_tokens, "outputTokens": u.completion_tokens,
            "totalTokens": u.prompt_tokens + u.completion_tokens}


def content_blocks(choice: Choice) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if choice.pieces:
        blocks.append({"text": choice.text})
    for call in choice.tool_calls:
        blocks.append({"toolUse": {"toolUseId": call.id, "name": call.name, "input": orjson.loads(call.arguments)}})
    return blocks


def converse_json(choice: Choice, usage: Usage, latency_ms: int) -> bytes:
    return orjson.dumps({"output": {"message": {"role": "assistant", "content": content_blocks(choice)}},
                         "stopReason": STOP_REASON[choice.finish], "usage": usage_obj(usage),
                         "metrics": {"latencyMs": latency_ms}})


def converse_stream(choice: Choice, usage: Usage, offsets: list[float],
                    end_offset: float) -> list[tuple[float, bytes, bool]]:
    t0 = offsets[0] if offsets else end_offset
    events: list[tuple[float, bytes, bool]] = [(t0, event("messageStart", b'{"role":"assistant"}'), False)]
    index, k = 0, 0
    if choice.pieces:
        t = t0
        for piece in choice.pieces:
            t = offsets[k] if k < len(offsets) else end_offset
            k += 1
            events.append((t, event("contentBlockDelta", orjson.dumps(
                {"contentBlockIndex": 0, "delta": {"text": piece}})), True))
        events.append((t, event("contentBlockStop", b'{"contentBlockIndex":0}'), False))
        index = 1
    for call in choice.tool_calls:
        t = offsets[k] if k < len(offsets) else end_offset
        k += 1
        events.append((t, event("contentBlockStart", orjson.dumps({
            "contentBlockIndex": index, "start": {"toolUse": {"toolUseId": call.id, "name": call.name}}})), False))
        args = call.arguments
        for i in range(0, len(args), _JSON_CHUNK):
            events.append((t, event("contentBlockDelta", orjson.dumps({
                "contentBlockIndex": index, "delta": {"toolUse": {"input": args[i:i + _JSON_CHUNK]}}})), True))
        events.append((t, event("contentBlockStop", orjson.dumps({"contentBlockIndex": index})), False))
        index += 1
    events.append((end_offset, event("messageStop", orjson.dumps({"stopReason": STOP_REASON[choice.finish]})),
                   False))
    events.append((end_offset, event("metadata", orjson.dumps({
        "usage": usage_obj(usage), "metrics": {"latencyMs": int(end_offset * 1000)}})), False))
    return events


def render_converse(req: ChatRequest, choice: Choice, usage: Usage, offsets: list[float], end_offset: float,
                    headers: list[tuple[str, str]]) -> Rendered:
    if req.stream:
        headers.append(("content-type", "application/vnd.amazon.eventstream"))
        return Rendered(200, headers, converse_stream(choice, usage, offsets, end_offset), True)
    headers.append(("content-type", "application/json"))
    return Rendered(200, headers, [(end_offset, converse_json(choice, usage, int(end_offset * 1000)), True)], False)
