"""OpenAI's Responses API (`POST /v1/responses`): validate a request into a neutral `ChatRequest`, and render
a neutral reply as a `response` object or as the typed SSE event stream the API sends.

The fake stores nothing, so `previous_response_id`, `conversation` and `item_reference` inputs are refused
with the API's not-found errors instead of being silently ignored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from ...content import Choice, Reply
from ...conversation import Atom, ChatRequest, ToolSpec, canonical_args
from ...ids import unique_ids
from ...plan import ApiError
from ..base import Rendered, Usage
from .exceptions import bad_type, invalid, missing

KNOWN_PARAMS = frozenset({
    "model", "input", "instructions", "max_output_tokens", "max_tool_calls", "metadata", "parallel_tool_calls",
    "previous_response_id", "reasoning", "store", "stream", "stream_options", "temperature", "text", "tool_choice",
    "tools", "top_logprobs", "top_p", "truncation", "user", "background", "include", "prompt", "prompt_cache_key",
    "prompt_cache_retention", "prompt_cache_options", "moderation", "safety_identifier", "service_tier",
    "conversation", "context_management",
})
MESSAGE_ROLES = ("user", "assistant", "system", "developer")
# Input item types the API knows; the fake answers only messages and function calls/outputs by meaning and
# keeps every other one as an opaque atom, so it still counts towards the digest and the prompt.
OPAQUE_ITEMS = frozenset({
    "computer_call", "computer_call_output", "file_search_call", "web_search_call", "image_generation_call",
    "code_interpreter_call", "local_shell_call", "local_shell_call_output", "shell_call", "shell_call_output",
    "apply_patch_call", "apply_patch_call_output", "mcp_list_tools", "mcp_approval_request",
    "mcp_approval_response", "mcp_call", "custom_tool_call", "custom_tool_call_output", "tool_search_call",
    "tool_search_output", "compaction", "compaction_trigger", "additional_tools", "program", "program_output",
})
INPUT_PARTS = ("input_text", "input_image", "input_file", "input_audio")
ASSISTANT_PARTS = ("output_text", "refusal")
HOSTED_TOOLS = frozenset({
    "file_search", "web_search", "web_search_preview", "web_search_2025_08_26", "web_search_preview_2025_03_11",
    "computer_use_preview", "computer", "code_interpreter", "image_generation", "local_shell", "shell", "mcp",
    "custom", "apply_patch", "tool_search", "programmatic_tool_calling", "namespace",
})
# tool_choice objects: a named function, custom or MCP tool, an allowed-tools list, or a hosted tool's type
TOOL_CHOICE_TYPES = frozenset({"function", "allowed_tools", "computer_use"}) | HOSTED_TOOLS  # the document's list
MIN_OUTPUT_TOKENS = 16
_IDS = unique_ids()


@dataclass(slots=True)
class ResponsesRequest(ChatRequest):
    """A chat request that also remembers what the `response` object echoes back (instructions, tools, ...)."""

    echo: dict[str, Any] = field(default_factory=dict)


# -- parsing ---------------------------------------------------------------------------------------------


def _int(body: dict[str, Any], key: str, lo: int) -> int | None:
    v = body.get(key)
    if v is None:
        return None
    if not isinstance(v, int) or isinstance(v, bool):
        raise bad_type(key, "an integer", v)
    if v < lo:
        raise invalid(f"Invalid '{key}': integer below minimum value. Expected a value >= {lo}, but got {v} "
                      "instead.", key, "integer_below_min_value")
    return v


def _number(body: dict[str, Any], key: str, lo: float, hi: float) -> float | None:
    v = body.get(key)
    if v is None:
        return None
    if not isinstance(v, int | float) or isinstance(v, bool):
        raise bad_type(key, "a decimal", v)
    if not lo <= v <= hi:
        raise invalid(f"Invalid '{key}': decimal out of range. Expected a value between {lo} and {hi}, but got "
                      f"{v} instead.", key, "decimal_out_of_range")
    return float(v)


def _typed(body: dict[str, Any], key: str, kind: type | tuple[type, ...], expected: str) -> Any:
    v = body.get(key)
    if v is not None and (not isinstance(v, kind) or (kind is not bool and isinstance(v, bool))):
        raise bad_type(key, expected, v)
    return v


def _value_error(value: Any, allowed: tuple[str, ...], param: str) -> ApiError:
    quoted = [f"'{a}'" for a in allowed]
    listed = ", ".join(quoted[:-1]) + f", and {quoted[-1]}" if len(quoted) > 2 else " and ".join(quoted)
    return invalid(f"Invalid value: '{value}'. Supported values are: {listed}.", param, "invalid_value")


def _content_atoms(role: str, content: Any, where: str) -> list[Atom]:
    """Atoms for a message's content: a string, or parts whose types depend on the role."""
    if isinstance(content, str):
        return [(role, "text", content)] if content else []
    if not isinstance(content, list):
        raise bad_type(f"{where}.content", "one of a string or array of objects", content)
    allowed = ASSISTANT_PARTS if role == "assistant" else INPUT_PARTS
    atoms: list[Atom] = []
    for j, part in enumerate(content):
        at = f"{where}.content[{j}]"
        if not isinstance(part, dict):
            raise bad_type(at, "an object", part)
        ptype = part.get("type")
        if ptype is None:
            raise missing(f"{at}.type")
        if ptype not in allowed:
            raise _value_error(ptype, allowed, f"{at}.type")
        if ptype in ("input_text", "output_text"):
            text = part.get("text")
            if text is None:
                raise missing(f"{at}.text")
            if not isinstance(text, str):
                raise bad_type(f"{at}.text", "a string", text)
            if text:
                atoms.append((role, "text", text))
        elif ptype == "refusal":
            refusal = part.get("refusal")
            if not isinstance(refusal, str):
                raise missing(f"{at}.refusal")
            atoms.append((role, "text", refusal))
        else:
            atoms.append((role, ptype, orjson.dumps(part, option=orjson.OPT_SORT_KEYS).decode()))
    return atoms


def _str_field(item: dict[str, Any], key: str, where: str) -> str:
    v = item.get(key)
    if v is None:
        raise missing(f"{where}.{key}")
    if not isinstance(v, str):
        raise bad_type(f"{where}.{key}", "a string", v)
    return v


def _input_atoms(value: Any) -> list[Atom]:
    """Flatten `input` (a string or a list of items) into atoms; developer folds into system, as in chat."""
    if isinstance(value, str):
        return [("user", "text", value)] if value else []
    if not isinstance(value, list):
        raise bad_type("input", "one of a string or array of input items", value)
    atoms: list[Atom] = []
    for i, item in enumerate(value):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise bad_type(where, "an object", item)
        itype = item.get("type", "message")
        if itype is not None and not isinstance(itype, str):  # a list or number: never a tag (nor hashable)
            raise bad_type(f"{where}.type", "a string", itype)
        if itype in ("message", None) and "role" not in item and "id" in item:
            itype = "item_reference"  # the document leaves an item reference's type optional (and nullable)
        if itype == "message":
            role = item.get("role")
            if role is None:
                raise missing(f"{where}.role")
            if role not in MESSAGE_ROLES:
                raise _value_error(role, ("assistant", "system", "developer", "user"), f"{where}.role")
            if "content" not in item:
                raise missing(f"{where}.content")
            atoms.extend(_content_atoms("system" if role == "developer" else role, item["content"], where))
        elif itype == "function_call":
            call_id = _str_field(item, "call_id", where)
            name = _str_field(item, "name", where)
            args = _str_field(item, "arguments", where)
            atoms.append(("assistant", "tool_call", (call_id, name, canonical_args(args))))
        elif itype == "function_call_output":
            # the document leaves call_id optional and nullable here (it requires it on the function_call)
            output_of = _str_field(item, "call_id", where) if item.get("call_id") is not None else None
            output = item.get("output")
            if output is None:
                raise missing(f"{where}.output")
            if isinstance(output, list):
                text = "".join(p["text"] for p in output if isinstance(p, dict) and isinstance(p.get("text"), str))
            elif isinstance(output, str):
                text = output
            else:
                raise bad_type(f"{where}.output", "one of a string or array of objects", output)
            atoms.append(("tool", "tool_result", (output_of, text)))
        elif itype == "reasoning":
            continue  # the model's own earlier thoughts: carried, not part of the conversation's meaning
        elif itype == "item_reference":
            ref = item.get("id")
            raise invalid(f"Item with id '{ref}' not found.", "input", None)
        elif itype in OPAQUE_ITEMS:
            atoms.append(("tool", itype, orjson.dumps(item, option=orjson.OPT_SORT_KEYS).decode()))
        else:
            raise invalid(f"Invalid value: '{itype}'. Supported values are: 'message', 'function_call', "
                          "'function_call_output', 'reasoning', 'item_reference' and the built-in tool call "
                          "item types.", f"{where}.type", "invalid_value")
    return atoms


def _tools(tools: Any) -> list[ToolSpec]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise bad_type("tools", "an array", tools)
    out = []
    for i, t in enumerate(tools):
        where = f"tools[{i}]"
        if not isinstance(t, dict):
            raise bad_type(where, "an object", t)
        ttype = t.get("type")
        if ttype is None:
            raise missing(f"{where}.type")
        if ttype in HOSTED_TOOLS:
            continue  # accepted; the fake never calls built-in tools
        if ttype != "function":
            raise _value_error(ttype, ("function", "file_search", "web_search", "computer_use_preview",
                                       "code_interpreter", "image_generation", "mcp", "custom"), f"{where}.type")
        if "function" in t:  # the chat-completions shape, a common gateway translation bug
            raise invalid(f"Unknown parameter: '{where}.function'.", f"{where}.function", "unknown_parameter")
        name = t.get("name")
        if name is None:
            raise missing(f"{where}.name")
        if not isinstance(name, str):
            raise bad_type(f"{where}.name", "a string", name)
        if not name:
            raise invalid(f"Invalid '{where}.name': string too short. Expected a string with minimum length 1, but "
                          "got an empty string instead.", f"{where}.name", "string_below_min_length")
        params = t.get("parameters")
        if params is None:
            params = {"type": "object", "properties": {}}
        if not isinstance(params, dict):
            raise bad_type(f"{where}.parameters", "an object", params)
        out.append(ToolSpec(name, str(t.get("description") or ""), params))
    return out


def _given(body: dict[str, Any], key: str, default: Any) -> Any:
    """A parameter's value, or its default when absent or null (the API echoes defaults, never null)."""
    value = body.get(key)
    return default if value is None else value


def _tool_choice(choice: Any, tools: list[ToolSpec]) -> Any:
    if choice is None:
        return None
    if isinstance(choice, str):
        if choice not in ("none", "auto", "required"):
            raise _value_error(choice, ("none", "auto", "required"), "tool_choice")
        return choice
    if not isinstance(choice, dict):
        raise bad_type("tool_choice", "one of a string or object", choice)
    if choice.get("type") not in TOOL_CHOICE_TYPES:
        raise _value_error(choice.get("type"), tuple(sorted(TOOL_CHOICE_TYPES)), "tool_choice.type")
    if choice.get("type") == "function":
        name = choice.get("name")
        if not isinstance(name, str):
            raise missing("tool_choice.name")
        if name not in {t.name for t in tools}:
            raise invalid(f"Tool choice '{name}' not found in 'tools' parameter.", "tool_choice", None)
    return choice


def _text_format(text: Any) -> dict[str, Any] | None:
    """`text.format` as a chat-style response_format (what the reply composer reads), or None for plain text."""
    if text is None:
        return None
    if not isinstance(text, dict):
        raise bad_type("text", "an object", text)
    fmt = text.get("format")
    if fmt is None:
        return None
    if not isinstance(fmt, dict):
        raise bad_type("text.format", "an object", fmt)
    ftype = fmt.get("type")
    if ftype not in ("text", "json_object", "json_schema"):
        raise _value_error(ftype, ("text", "json_object", "json_schema"), "text.format.type")
    if ftype == "text":
        return None
    if ftype == "json_object":
        return {"type": "json_object"}
    name = fmt.get("name")
    if name is None:
        raise missing("text.format.name")
    schema = fmt.get("schema")
    if schema is None:
        raise missing("text.format.schema")
    if not isinstance(schema, dict):
        raise bad_type("text.format.schema", "an object", schema)
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": fmt.get("strict")}}


def parse_responses(body: Any) -> ResponsesRequest:
    """Validate a `POST /v1/responses` body the way the API does and build the neutral request."""
    if not isinstance(body, dict):
        raise invalid("Invalid request body: expected a JSON object.", None, "invalid_type")
    for key in body:
        if key not in KNOWN_PARAMS:
            raise invalid(f"Unknown parameter: '{key}'.", key, "unknown_parameter")
    model = body.get("model")
    if model is None:
        raise missing("model")
    if not isinstance(model, str):
        raise bad_type("model", "a string", model)
    prev = _typed(body, "previous_response_id", str, "a string")
    if prev is not None:
        raise invalid(f"Previous response with id '{prev}' not found.", "previous_response_id",
                      "previous_response_not_found")
    if body.get("conversation") is not None:
        conv = body["conversation"]
        cid = conv.get("id") if isinstance(conv, dict) else conv
        raise ApiError(404, f"Conversation with id '{cid}' not found.", "invalid_request_error", "conversation",
                       None)
    instructions = _typed(body, "instructions", str, "a string")
    if "input" not in body or body["input"] is None:
        raise missing("input")
    atoms: list[Atom] = [("system", "text", instructions)] if instructions else []
    atoms.extend(_input_atoms(body["input"]))
    max_tokens = _int(body, "max_output_tokens", MIN_OUTPUT_TOKENS)
    stream = bool(_typed(body, "stream", bool, "a boolean"))
    opts = body.get("stream_options")
    if opts is not None:
        if not stream:
            raise invalid("The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                          "stream_options", "invalid_value")
        if not isinstance(opts, dict):
            raise bad_type("stream_options", "an object", opts)
    temperature = _number(body, "temperature", 0, 2)
    top_p = _number(body, "top_p", 0, 1)
    tools = _tools(body.get("tools"))
    tool_choice = _tool_choice(body.get("tool_choice"), tools)
    response_format = _text_format(body.get("text"))
    if response_format and response_format["type"] == "json_object" and not any(
        kind == "text" and "json" in str(payload).lower() for _, kind, payload in atoms
    ):
        raise invalid("Response input messages must contain the word 'json' in some form to use 'text.format' "
                      "of type 'json_object'.", "input", None)
    for key, expected in (("metadata", dict), ("reasoning", dict)):
        _typed(body, key, expected, "an object")
    for key in ("user", "safety_identifier", "prompt_cache_key"):
        _typed(body, key, str, "a string")
    for key in ("store", "parallel_tool_calls", "background"):
        _typed(body, key, bool, "a boolean")
    truncation = body.get("truncation")
    if truncation is not None and truncation not in ("auto", "disabled"):
        raise _value_error(truncation, ("auto", "disabled"), "truncation")
    echo = {
        "instructions": instructions,
        "max_output_tokens": max_tokens,
        "metadata": body.get("metadata") or {},
        "parallel_tool_calls": _given(body, "parallel_tool_calls", True),
        "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
        "store": _given(body, "store", True),
        "temperature": 1.0 if temperature is None else temperature,
        "text": {"format": (body.get("text") or {}).get("format") or {"type": "text"}, "verbosity": "medium"},
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": [_echo_tool(t) for t in body.get("tools") or ()],
        "top_p": 1.0 if top_p is None else top_p,
        "truncation": truncation or "disabled",
        "user": body.get("user"),
        "safety_identifier": body.get("safety_identifier"),
        "prompt_cache_key": body.get("prompt_cache_key"),
        "service_tier": body.get("service_tier") or "default",
        "background": _given(body, "background", False),
    }
    extra = sum(len(t.name) + len(str(t.parameters)) for t in tools) // 4 if tools else 0
    return ResponsesRequest(
        model=model, atoms=atoms, max_tokens=max_tokens, stream=stream, tools=tools, tool_choice=tool_choice,
        response_format=response_format, extra_prompt_tokens=extra, marker=_marker_in(atoms), echo=echo,
    )


def _echo_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A tool as the response object echoes it: function tools get the API's defaults filled in."""
    if tool.get("type") != "function":
        return tool
    return {"type": "function", "name": tool["name"], "description": tool.get("description"),
            "parameters": tool.get("parameters") or {"type": "object", "properties": {}},
            "strict": tool.get("strict", True)}


def _marker_in(atoms: list[Atom]) -> str | None:
    for _, kind, payload in atoms:
        if kind == "text" and "gd:" in payload:
            return str(payload)
    return None


# -- rendering -------------------------------------------------------------------------------------------


def _usage(u: Usage) -> dict[str, Any]:
    return {
        "input_tokens": u.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": u.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": u.prompt_tokens + u.completion_tokens,
    }


@dataclass(slots=True)
class _Item:
    """One output item with its final form and what its stream events need."""

    final: dict[str, Any]
    pieces: list[str]


def _items(choice: Choice, status: str) -> list[_Item]:
    if choice.tool_calls:
        return [_Item({"id": "fc_" + next(_IDS), "type": "function_call", "status": "completed",
                       "arguments": c.arguments, "call_id": c.id, "name": c.name}, [c.arguments])
                for c in choice.tool_calls]
    text = {"type": "output_text", "annotations": [], "logprobs": [], "text": choice.text}
    message = {"id": "msg_" + next(_IDS), "type": "message", "status": status, "content": [text],
               "role": "assistant"}
    return [_Item(message, choice.pieces)]


def _response(req: ChatRequest, rid: str, created: int, status: str, output: list[dict[str, Any]],
              usage: dict[str, Any] | None) -> dict[str, Any]:
    echo = req.echo if isinstance(req, ResponsesRequest) else {}
    return {
        "id": rid, "object": "response", "created_at": created, "status": status, "background": False,
        "completed_at": created if status == "completed" else None, "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "instructions": echo.get("instructions"), "max_output_tokens": echo.get("max_output_tokens"),
        "max_tool_calls": None, "model": req.model, "output": output,
        "parallel_tool_calls": echo.get("parallel_tool_calls", True), "previous_response_id": None,
        "prompt_cache_key": echo.get("prompt_cache_key"), "reasoning": echo.get("reasoning"),
        "safety_identifier": echo.get("safety_identifier"), "service_tier": echo.get("service_tier", "default"),
        "store": echo.get("store", True), "temperature": echo.get("temperature", 1.0),
        "text": echo.get("text", {"format": {"type": "text"}, "verbosity": "medium"}),
        "tool_choice": echo.get("tool_choice", "auto"), "tools": echo.get("tools", []), "top_logprobs": 0,
        "top_p": echo.get("top_p", 1.0), "truncation": echo.get("truncation", "disabled"), "usage": usage,
        "user": echo.get("user"), "metadata": echo.get("metadata", {}),
    }


def render_response(req: ChatRequest, reply: Reply, usage: Usage, offsets: list[float], end_offset: float,
                    headers: list[tuple[str, str]]) -> Rendered:
    """A `response` object, or its typed event stream; `offsets` time each text piece or tool call."""
    choice = reply.choices[0]
    status = "incomplete" if choice.finish == "length" else "completed"
    items = _items(choice, status)
    rid = "resp_" + next(_IDS)
    created = int(time.time())
    if not req.stream:
        body = orjson.dumps(_response(req, rid, created, status, [it.final for it in items], _usage(usage)))
        headers.append(("content-type", "application/json"))
        return Rendered(200, headers, [(end_offset, body, True)], False)
    headers.append(("content-type", "text/event-stream; charset=utf-8"))
    return Rendered(200, headers, _stream(req, rid, created, status, items, usage, offsets, end_offset), True)


def _stream(req: ChatRequest, rid: str, created: int, status: str, items: list[_Item], usage: Usage,
            offsets: list[float], end_offset: float) -> list[tuple[float, bytes, bool]]:
    events: list[tuple[float, bytes, bool]] = []
    seq = 0

    def emit(t: float, etype: str, data: dict[str, Any], content: bool = False) -> None:
        nonlocal seq
        payload = orjson.dumps({"type": etype, "sequence_number": seq, **data})
        events.append((t, b"event: " + etype.encode() + b"\ndata: " + payload + b"\n\n", content))
        seq += 1

    first = offsets[0] if offsets else end_offset
    pending = _response(req, rid, created, "in_progress", [], None)
    emit(0.0, "response.created", {"response": pending})
    emit(0.0, "response.in_progress", {"response": pending})
    k = 0
    for index, item in enumerate(items):
        final, iid = item.final, item.final["id"]
        if final["type"] == "function_call":
            t = offsets[k] if k < len(offsets) else end_offset
            k += 1
            emit(t, "response.output_item.added",
                 {"output_index": index, "item": {**final, "status": "in_progress", "arguments": ""}})
            emit(t, "response.function_call_arguments.delta",
                 {"item_id": iid, "output_index": index, "delta": final["arguments"]}, True)
            emit(t, "response.function_call_arguments.done",
                 {"item_id": iid, "output_index": index, "name": final["name"], "arguments": final["arguments"]})
            emit(t, "response.output_item.done", {"output_index": index, "item": final})
            continue
        part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
        where = {"item_id": iid, "output_index": index, "content_index": 0}
        emit(first, "response.output_item.added",
             {"output_index": index, "item": {**final, "status": "in_progress", "content": []}})
        emit(first, "response.content_part.added", {**where, "part": part})
        for piece in item.pieces:
            t = offsets[k] if k < len(offsets) else end_offset
            k += 1
            emit(t, "response.output_text.delta", {**where, "delta": piece, "logprobs": []}, True)
        text = final["content"][0]["text"]
        emit(end_offset, "response.output_text.done", {**where, "text": text, "logprobs": []})
        emit(end_offset, "response.content_part.done", {**where, "part": {**part, "text": text}})
        emit(end_offset, "response.output_item.done", {"output_index": index, "item": final})
    done = _response(req, rid, created, status, [it.final for it in items], _usage(usage))
    emit(end_offset, "response.completed" if status == "completed" else "response.incomplete", {"response": done})
    return events


__all__ = ["ResponsesRequest", "parse_responses", "render_response"]
