"""Parse and validate OpenAI chat requests the way the API does, into a neutral `ChatRequest`."""

from __future__ import annotations

from typing import Any

from ...conversation import ChatRequest, ToolSpec, openai_atoms
from .exceptions import bad_type, invalid, missing

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
KNOWN_CHAT_PARAMS = frozenset({
    "model", "messages", "max_tokens", "max_completion_tokens", "stream", "stream_options", "n", "stop", "seed",
    "tools", "tool_choice", "response_format", "temperature", "top_p", "frequency_penalty", "presence_penalty",
    "logit_bias", "logprobs", "top_logprobs", "user", "metadata", "parallel_tool_calls", "service_tier", "store",
    "modalities", "audio", "prediction", "reasoning_effort", "web_search_options", "verbosity",
    "prompt_cache_key", "prompt_cache_retention", "prompt_cache_options", "moderation", "safety_identifier",
    "functions", "function_call",
})


def _int(body: dict[str, Any], key: str, lo: int, hi: int | None = None) -> int | None:
    v = body.get(key)
    if v is None:
        return None
    if not isinstance(v, int) or isinstance(v, bool):
        raise bad_type(key, "an integer", v)
    if v < lo:
        raise invalid(f"Invalid '{key}': integer below minimum value. Expected a value >= {lo}, but got {v} "
                      "instead.", key, "integer_below_min_value")
    if hi is not None and v > hi:
        raise invalid(f"Invalid '{key}': integer above maximum value. Expected a value <= {hi}, but got {v} "
                      "instead.", key, "integer_above_max_value")
    return v


def _number(body: dict[str, Any], key: str, lo: float, hi: float) -> None:
    v = body.get(key)
    if v is None:
        return
    if not isinstance(v, int | float) or isinstance(v, bool):
        raise bad_type(key, "a decimal", v)
    if not lo <= v <= hi:
        raise invalid(f"Invalid '{key}': decimal out of range. Expected a value between {lo} and {hi}, but got "
                      f"{v} instead.", key, "decimal_out_of_range")


def _bool(body: dict[str, Any], key: str) -> bool:
    v = body.get(key)
    if v is None:
        return False
    if not isinstance(v, bool):
        raise bad_type(key, "a boolean", v)
    return v


def _messages(messages: Any) -> list[dict[str, Any]]:
    if messages is None:
        raise missing("messages")
    if not isinstance(messages, list):
        raise bad_type("messages", "an array", messages)
    if not messages:
        raise invalid("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty "
                      "array instead.", "messages", "empty_array")
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise bad_type(where, "an object", m)
        role = m.get("role")
        if role is None:
            raise missing(f"{where}.role")
        if role not in ROLES:
            raise invalid(f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', "
                          "'function', 'tool', and 'developer'.", f"{where}.role", "invalid_value")
        content = m.get("content")
        if "content" not in m and not (role == "assistant" and m.get("tool_calls")):
            raise missing(f"{where}.content")
        if content is not None and not isinstance(content, str | list):
            raise bad_type(f"{where}.content", "one of a string or array of objects", content)
        if isinstance(content, list):
            for j, part in enumerate(content):
                if not isinstance(part, dict) or "type" not in part:
                    raise invalid(f"Invalid '{where}.content[{j}]': expected an object with a 'type'.",
                                  f"{where}.content[{j}]", "invalid_type")
                if part["type"] == "text" and not isinstance(part.get("text"), str):
                    raise missing(f"{where}.content[{j}].text")
        if role == "tool" and not isinstance(m.get("tool_call_id"), str):
            raise missing(f"{where}.tool_call_id")
        calls = m.get("tool_calls") if role == "assistant" else None  # only the assistant's schema defines them
        if calls is not None:
            if not isinstance(calls, list):
                raise bad_type(f"{where}.tool_calls", "an array", calls)
            for j, call in enumerate(calls):
                kind = call.get("type", "function") if isinstance(call, dict) else None
                if kind == "custom":  # a custom tool's call: {"custom": {"name", "input"}}
                    custom = call.get("custom")
                    if not isinstance(custom, dict) or not isinstance(custom.get("name"), str):
                        raise missing(f"{where}.tool_calls[{j}].custom.name")
                    if not isinstance(call.get("id"), str):
                        raise missing(f"{where}.tool_calls[{j}].id")
                    continue
                fn = call.get("function") if isinstance(call, dict) else None
                if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                    raise missing(f"{where}.tool_calls[{j}].function.name")
                if not isinstance(call.get("id"), str):
                    raise missing(f"{where}.tool_calls[{j}].id")
    return messages


def _tools(tools: Any) -> list[ToolSpec]:
    """Function tools, which the fake may call; `custom` tools (free-form input) are checked and accepted, and the
    fake answers them in text, as a model may."""
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise bad_type("tools", "an array", tools)
    out = []
    for i, t in enumerate(tools):
        if isinstance(t, dict) and t.get("type") == "custom":
            custom = t.get("custom")
            if not isinstance(custom, dict) or not isinstance(custom.get("name"), str) or not custom["name"]:
                raise missing(f"tools[{i}].custom.name")
            continue
        fn = t.get("function") if isinstance(t, dict) else None
        if not isinstance(t, dict) or t.get("type", "function") != "function" or not isinstance(fn, dict):
            raise invalid(f"Invalid 'tools[{i}]': expected a function tool.", f"tools[{i}]", "invalid_value")
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            raise missing(f"tools[{i}].function.name")
        params = fn.get("parameters") or {"type": "object", "properties": {}}
        if not isinstance(params, dict):
            raise bad_type(f"tools[{i}].function.parameters", "an object", params)
        out.append(ToolSpec(name, str(fn.get("description") or ""), params))
    return out


def parse_chat(body: Any) -> ChatRequest:
    """Validate only the parameters present (one pass over the body), then build the neutral request."""
    if not isinstance(body, dict):
        raise invalid("Invalid request body: expected a JSON object.", None, "invalid_type")
    for key in body:
        if key not in KNOWN_CHAT_PARAMS:
            raise invalid(f"Unrecognized request argument supplied: {key}")
    model = body.get("model")
    if model is None:
        raise invalid("you must provide a model parameter")
    if not isinstance(model, str):
        raise bad_type("model", "a string", model)
    messages = _messages(body.get("messages"))
    get = body.get
    max_tokens = _int(body, "max_completion_tokens", 1) if "max_completion_tokens" in body else None
    if "max_tokens" in body:
        legacy = _int(body, "max_tokens", 1)
        if max_tokens is None:
            max_tokens = legacy
    n = (_int(body, "n", 1, 128) or 1) if "n" in body else 1
    stream = _bool(body, "stream") if "stream" in body else False
    include_usage = False
    opts = get("stream_options")
    if opts is not None:
        if not stream:
            raise invalid("The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                          "stream_options", "invalid_value")
        if not isinstance(opts, dict):
            raise bad_type("stream_options", "an object", opts)
        include_usage = bool(opts.get("include_usage"))
    for key, lo, hi in _NUMBERS:
        if key in body:
            _number(body, key, lo, hi)
    stops: list[str] = []
    if "stop" in body:
        stops = _stops(get("stop"))
    seed = _int(body, "seed", -(2**63)) if "seed" in body else None
    tools: list[ToolSpec] = []
    tool_choice = None
    if "tools" in body or "tool_choice" in body:
        tools = _tools(get("tools"))
        tool_choice = _tool_choice(get("tool_choice"), tools, bool(get("tools")))
    rf = get("response_format")
    if rf is not None:
        if not isinstance(rf, dict) or rf.get("type") not in ("text", "json_object", "json_schema"):
            raise invalid("Invalid 'response_format.type': expected one of 'text', 'json_object' or "
                          "'json_schema'.", "response_format.type", "invalid_value")
        if rf["type"] == "json_schema" and not isinstance(rf.get("json_schema"), dict):
            raise missing("response_format.json_schema")
    user = get("user")
    if user is not None and not isinstance(user, str):
        raise bad_type("user", "a string", user)
    atoms = openai_atoms(messages)
    extra = sum(len(t.name) + len(str(t.parameters)) for t in tools) // 4 if tools else 0
    return ChatRequest(
        model=model, atoms=atoms, max_tokens=max_tokens, stream=stream,
        include_usage=include_usage, n=n, stop=stops, seed=seed, tools=tools, tool_choice=tool_choice,
        response_format=rf, extra_prompt_tokens=extra, marker=_marker_in(atoms),
    )


_NUMBERS = (("temperature", 0, 2), ("top_p", 0, 1), ("frequency_penalty", -2, 2), ("presence_penalty", -2, 2))


def _stops(stop: Any) -> list[str]:
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        if len(stop) > 4:
            raise invalid("Invalid 'stop': array too long. Expected an array with maximum length 4, but got an "
                          f"array with length {len(stop)} instead.", "stop", "array_above_max_length")
        return stop
    raise bad_type("stop", "one of a string or array of strings", stop)


def _tool_choice(tool_choice: Any, tools: list[ToolSpec], any_tools: bool) -> Any:
    if tool_choice is None:
        return None
    if isinstance(tool_choice, str):
        if tool_choice not in ("none", "auto", "required"):
            raise invalid(f"Invalid value: '{tool_choice}'. Supported values are: 'none', 'auto', and "
                          "'required'.", "tool_choice", "invalid_value")
    elif not isinstance(tool_choice, dict):
        raise bad_type("tool_choice", "one of a string or object", tool_choice)
    if tool_choice != "none" and not any_tools:
        raise invalid("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
                      "specified.", "tool_choice")
    return tool_choice


def _marker_in(atoms: list[Any]) -> str | None:
    for _, kind, payload in atoms:
        if kind == "text" and "gd:" in payload:
            return str(payload)
    return None

