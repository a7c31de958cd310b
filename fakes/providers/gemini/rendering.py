"""Render neutral replies as Gemini `GenerateContentResponse`s: one JSON body, an SSE stream (`alt=sse`) or a
streamed JSON array.

SSE frames are bare `data: {...}` lines separated by a blank line, with no `event:` and no `[DONE]`: the
stream ends with a frame that carries `finishReason` and the full `usageMetadata`. Without `alt=sse` the
same responses stream as the elements of one JSON array. Function calls arrive whole (args an object) in
one frame; text pieces one per frame. The final frame is not content, so a fault cut after N chunks
leaves no `finishReason`.
"""

from __future__ import annotations

from typing import Any

import orjson

from ...content import Choice, Reply
from ...conversation import ChatRequest
from ..base import Rendered, Usage

FINISH = {"stop": "STOP", "stop_sequence": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP",
          "content_filter": "SAFETY"}
SSE_END = b"\r\n\r\n"


def usage_obj(u: Usage, final: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"promptTokenCount": u.prompt_tokens,
                           "totalTokenCount": u.prompt_tokens + (u.completion_tokens if final else 0),
                           "promptTokensDetails": [{"modality": "TEXT", "tokenCount": u.prompt_tokens}]}
    if final:
        out["candidatesTokenCount"] = u.completion_tokens
    return out


def parts_of(choice: Choice) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if choice.pieces:
        parts.append({"text": choice.text})
    for call in choice.tool_calls:
        parts.append({"functionCall": {"name": call.name, "args": orjson.loads(call.arguments)}})
    return parts


def response_json(req: ChatRequest, reply: Reply, usage: Usage, response_id: str) -> bytes:
    candidates = [{"content": {"parts": parts_of(ch), "role": "model"}, "finishReason": FINISH[ch.finish],
                   "index": i} for i, ch in enumerate(reply.choices)]
    return orjson.dumps({"candidates": candidates, "usageMetadata": usage_obj(usage), "modelVersion": req.model,
                         "responseId": response_id})


def blocked_json(req: ChatRequest, usage: Usage, response_id: str, reason: str = "SAFETY") -> bytes:
    """A blocked prompt: a 200 with `promptFeedback.blockReason` and no candidates."""
    return orjson.dumps({"promptFeedback": {"blockReason": reason, "safetyRatings": [
        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}]},
        "usageMetadata": {"promptTokenCount": usage.prompt_tokens, "totalTokenCount": usage.prompt_tokens},
        "modelVersion": req.model, "responseId": response_id})


def stream_objects(req: ChatRequest, reply: Reply, usage: Usage, response_id: str, offsets: list[float],
                   end_offset: float) -> list[tuple[float, dict[str, Any], bool]]:
    """The stream as (offset, response object, is_content)."""
    tail = {"usageMetadata": usage_obj(usage, final=False), "modelVersion": req.model, "responseId": response_id}
    out: list[tuple[float, dict[str, Any], bool]] = []
    k = 0
    for i, ch in enumerate(reply.choices):
        for piece in ch.pieces:
            t = offsets[k] if k < len(offsets) else end_offset
            k += 1
            out.append((t, {"candidates": [{"content": {"parts": [{"text": piece}], "role": "model"}, "index": i}],
                            **tail}, True))
        for call in ch.tool_calls:
            t = offsets[k] if k < len(offsets) else end_offset
            k += 1
            part = {"functionCall": {"name": call.name, "args": orjson.loads(call.arguments)}}
            out.append((t, {"candidates": [{"content": {"parts": [part], "role": "model"}, "index": i}], **tail},
                        True))
    final = [{"content": {"parts": [{"text": ""}], "role": "model"}, "finishReason": FINISH[ch.finish], "index": i}
             for i, ch in enumerate(reply.choices)]
    out.append((end_offset, {"candidates": final, "usageMetadata": usage_obj(usage), "modelVersion": req.model,
                             "responseId": response_id}, False))
    return out


def sse_frame(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + SSE_END


def array_frames(objs: list[tuple[float, dict[str, Any], bool]]) -> list[tuple[float, bytes, bool]]:
    """Elements of one JSON array framed as Google frames them: each element pretty-printed (two-space indent),
    `[` before the first, `\n,\r\n` between elements, `\n]` at the end. Clients split on those bytes (Portkey
    splits on `\r\n` and cuts the closing `\n]`), so a compact `},{`...`}]` breaks them where Google does not."""
    events = [(t, (b"[" if i == 0 else b"\n,\r\n") + orjson.dumps(o, option=orjson.OPT_INDENT_2), c)
              for i, (t, o, c) in enumerate(objs)]
    events.append((objs[-1][0] if objs else 0.0, b"\n]", False))
    return events


def render_generate(endpoint: str, req: ChatRequest, reply: Reply, usage: Usage, offsets: list[float],
                    end_offset: float, response_id: str, headers: list[tuple[str, str]]) -> Rendered:
    if endpoint == "generate":
        headers.append(("content-type", "application/json; charset=UTF-8"))
        return Rendered(200, headers, [(end_offset, response_json(req, reply, usage, response_id), True)], False)
    objs = stream_objects(req, reply, usage, response_id, offsets, end_offset)
    if endpoint == "stream":
        headers.append(("content-type", "text/event-stream"))
        return Rendered(200, headers, [(t, sse_frame(o), c) for t, o, c in objs], True)
    headers.append(("content-type", "application/json; charset=UTF-8"))
    return Rendered(200, headers, array_frames(objs), True)
