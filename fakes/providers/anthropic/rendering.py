"""Render neutral replies as Anthropic messages: a JSON `message` body, or the typed SSE event stream.

Stream order, as the API sends it: `message_start`; for each content block `content_block_start`, its
deltas (`text_delta`, or `input_json_delta` for `tool_use`) and `content_block_stop`; then `message_delta`
(stop reason and usage) and `message_stop`. A `ping` follows the first block start. Only deltas are marked
as content, so a mid-stream fault after N chunks cuts after N deltas.
"""

from __future__ import annotations

from typing import Any

import orjson

from ...content import Choice
from ...conversation import ChatRequest
from ..base import Rendered, Usage

STOP_REASON = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "stop_sequence": "stop_sequence",
               "content_filter": "refusal"}
PING = b'event: ping\ndata: {"type": "ping"}\n\n'
MESSAGE_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
_JSON_CHUNK = 24  # characters of tool input per input_json_delta


def usage_obj(u: Usage) -> dict[str, Any]:
    return {"input_tokens": u.prompt_tokens, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
            "output_tokens": u.completion_tokens, "service_tier": "standard"}


def content_blocks(choice: Choice) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if choice.pieces:
        blocks.append({"type": "text", "text": choice.text})
    for call in choice.tool_calls:
        blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": orjson.loads(call.arguments)})
    return blocks


def message_json(req: ChatRequest, choice: Choice, usage: Usage, message_id: str) -> bytes:
    return orjson.dumps({
        "id": message_id, "type": "message", "role": "assistant", "model": req.model,
        "content": content_blocks(choice), "stop_reason": STOP_REASON[choice.finish],
        "stop_sequence": choice.stop_sequence, "usage": usage_obj(usage),
    })


def _event(name: bytes, data: dict[str, Any]) -> bytes:
    return b"event: " + name + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _block_stop(index: int) -> bytes:
    return (b'event: content_block_stop\ndata: {"type":"content_block_stop","index":' + str(index).encode()
            + b"}\n\n")


def message_stream(req: ChatRequest, choice: Choice, usage: Usage, message_id: str, offsets: list[float],
                   end_offset: float) -> list[tuple[float, bytes, bool]]:
    """SSE events as (offset s, bytes, is_content); text deltas are built from a fixed prefix and suffix."""
    t0 = offsets[0] if offsets else end_offset
    start_usage = {**usage_obj(usage), "output_tokens": min(1, usage.completion_tokens)}
    events: list[tuple[float, bytes, bool]] = [(t0, _event(b"message_start", {
        "type": "message_start",
        "message": {"id": message_id, "type": "message", "role": "assistant", "model": req.model, "content": [],
                    "stop_reason": None, "stop_sequence": None, "usage": start_usage},
    }), False)]
    pinged = False
    index = 0
    k = 0
    if choice.pieces:
        events.append((t0, b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
                           b'"content_block":{"type":"text","text":""}}\n\n', False))
        events.append((t0, PING, False))
        pinged = True
        pre = (b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
               b'"delta":{"type":"text_delta","text":')
        dumps = orjson.dumps
        t = t0
        for piece in choice.pieces:
            t = offsets[k] if k < len(offsets) else end_offset
            events.append((t, pre + dumps(piece) + b"}}\n\n", True))
            k += 1
        events.append((t, _block_stop(0), False))
        index = 1
    for call in choice.tool_calls:
        t = offsets[k] if k < len(offsets) else end_offset
        k += 1
        events.append((t, _event(b"content_block_start", {
            "type": "content_block_start", "index": index,
            "content_block": {"type": "tool_use", "id": call.id, "name": call.name, "input": {}},
        }), False))
        if not pinged:
            events.append((t, PING, False))
            pinged = True
        args = call.arguments
        for part in [""] + [args[i : i + _JSON_CHUNK] for i in range(0, len(args), _JSON_CHUNK)]:
            events.append((t, _event(b"content_block_delta", {
                "type": "content_block_delta", "index": index,
                "delta": {"type": "input_json_delta", "partial_json": part},
            }), True))
        events.append((t, _block_stop(index), False))
        index += 1
    if not pinged:
        events.insert(1, (t0, PING, False))
    events.append((end_offset, _event(b"message_delta", {
        "type": "message_delta",
        "delta": {"stop_reason": STOP_REASON[choice.finish], "stop_sequence": choice.stop_sequence},
        "usage": {"input_tokens": usage.prompt_tokens, "cache_creation_input_tokens": 0,
                  "cache_read_input_tokens": 0, "output_tokens": usage.completion_tokens},
    }), False))
    events.append((end_offset, MESSAGE_STOP, False))
    return events


def render_message(req: ChatRequest, choice: Choice, usage: Usage, offsets: list[float], end_offset: float,
                   message_id: str, headers: list[tuple[str, str]]) -> Rendered:
    if req.stream:
        headers.append(("content-type", "text/event-stream; charset=utf-8"))
        headers.append(("cache-control", "no-cache"))
        return Rendered(200, headers, message_stream(req, choice, usage, message_id, offsets, end_offset), True)
    headers.append(("content-type", "application/json"))
    return Rendered(200, headers, [(end_offset, message_json(req, choice, usage, message_id), True)], False)
