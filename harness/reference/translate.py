"""OpenAI chat requests to Anthropic Messages requests, and Anthropic replies back to OpenAI chat completions.

Requests: system and developer messages are hoisted into `system`; tool messages become `tool_result`
blocks in a user turn; assistant `tool_calls` become `tool_use` blocks with the same ids; consecutive turns
of one role are merged, because the Messages API wants strict user/assistant alternation; `max_tokens`,
which Anthropic requires, gets a default. The correlation marker in `user` moves to `metadata.user_id`.
Replies: content blocks, stop reason and usage map onto OpenAI's shapes. Streams are in `streams.py`.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

DEFAULT_MAX_TOKENS = 4096
FINISH_REASON = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
                 "pause_turn": "stop", "refusal": "content_filter"}
_EMPTY_SCHEMA = {"type": "object", "properties": {}}


def to_anthropic(body: dict[str, Any], model: str, default_max_tokens: int = DEFAULT_MAX_TOKENS) -> dict[str, Any]:
    """An OpenAI chat request body as an Anthropic Messages body for `model`."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for m in body.get("messages") or []:
        role = m.get("role")
        content = m.get("content")
        if role in ("system", "developer"):
            system.extend({"type": "text", "text": t} for t in _texts(content))
            continue
        if role == "tool":
            blocks: list[dict[str, Any]] = [{"type": "tool_result", "tool_use_id": m.get("tool_call_id"),
                                             "content": _joined_text(content)}]
            _append(turns, "user", blocks)
            continue
        blocks = _content_blocks(content)
        if role == "assistant":
            for call in m.get("tool_calls") or ():
                fn = call.get("function") or {}
                blocks.append({"type": "tool_use", "id": call.get("id"), "name": fn.get("name"),
                               "input": _arguments(fn.get("arguments"))})
            _append(turns, "assistant", blocks)
        else:
            _append(turns, "user", blocks)
    out: dict[str, Any] = {"model": model, "messages": turns}
    if system:
        out["system"] = system
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    out["max_tokens"] = max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else default_max_tokens
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if isinstance(body.get("temperature"), int | float):
        out["temperature"] = min(1.0, float(body["temperature"]))
    if isinstance(body.get("top_p"), int | float):
        out["top_p"] = body["top_p"]
    if body.get("stream"):
        out["stream"] = True
    tools = body.get("tools")
    if tools:
        out["tools"] = anthropic_tools(tools)
        choice = _tool_choice(body.get("tool_choice"))
        if body.get("parallel_tool_calls") is False and (choice or {}).get("type") != "none":
            # Anthropic's switch lives on tool_choice (auto/any/tool, not none): one tool call per turn
            choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
        if choice is not None:
            out["tool_choice"] = choice
    user = body.get("user")
    if isinstance(user, str) and user:
        out["metadata"] = {"user_id": user}
    return out


def anthropic_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for t in tools:
        fn = t.get("function") or {}
        tool: dict[str, Any] = {"name": fn.get("name"), "input_schema": fn.get("parameters") or dict(_EMPTY_SCHEMA)}
        if fn.get("description"):
            tool["description"] = fn["description"]
        out.append(tool)
    return out


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice == "auto":
        return {"type": "auto"}
    if choice == "required":
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if name:
            return {"type": "tool", "name": name}
    return None


def _append(turns: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    """Add blocks as a turn of `role`, merging into the previous turn when it has the same role."""
    if not blocks:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": blocks})


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content] if content else []
    if isinstance(content, list):
        return [p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str) and p["text"]]
    return []


def _joined_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(_texts(content))


def _content_blocks(content: Any) -> list[dict[str, Any]]:
    """OpenAI content (a string or parts) as Anthropic blocks: text parts one block each, images by source."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for part in content if isinstance(content, list) else ():
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text" and part.get("text"):
            blocks.append({"type": "text", "text": part["text"]})
        elif part.get("type") == "image_url":
            url = str((part.get("image_url") or {}).get("url") or "")
            if url.startswith("data:") and ";base64," in url:
                media, data = url[5:].split(";base64,", 1)
                blocks.append({"type": "image", "source": {"type": "base64", "media_type": media, "data": data}})
            else:
                blocks.append({"type": "image", "source": {"type": "url", "url": url}})
    return blocks


def _arguments(arguments: Any) -> dict[str, Any]:
    """OpenAI tool arguments (a JSON string) as the object Anthropic wants in `input`."""
    if isinstance(arguments, dict):
        return arguments
    if isinstance(arguments, str) and arguments:
        try:
            value = orjson.loads(arguments)
        except orjson.JSONDecodeError:
            return {"arguments": arguments}
        return value if isinstance(value, dict) else {"value": value}
    return {}


def openai_usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def from_anthropic_message(msg: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic `message` reply as an OpenAI `chat.completion`."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in msg.get("content") or ():
        if block.get("type") == "text":
            texts.append(block.get("text") or "")
        elif block.get("type") == "tool_use":
            calls.append({"id": block.get("id"), "type": "function",
                          "function": {"name": block.get("name"), "arguments": orjson.dumps(block.get("input") or {})
                                       .decode()}})
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None, "refusal": None}
    if calls:
        message["tool_calls"] = calls
    usage = msg.get("usage") or {}
    return {
        "id": "chatcmpl-" + str(msg.get("id") or ""),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": msg.get("model"),
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": FINISH_REASON.get(str(msg.get("stop_reason")), "stop")}],
        "usage": openai_usage(int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)),
    }
