"""Parse and validate Anthropic Messages requests the way the API does, into a neutral `ChatRequest`.

Type errors come first, in the API's pydantic wording with the field path (`max_tokens: Field required`,
`messages.0.content: Input should be a valid list`); then the conversation rules the API enforces on top:
only user and assistant roles, a user turn first, non-empty content, and every `tool_use` answered by a
`tool_result` in the next message.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from ...conversation import ChatRequest, ToolSpec, anthropic_atoms
from .exceptions import extra, invalid, required, wrong_type

MESSAGE_PARAMS = frozenset({
    "model", "messages", "max_tokens", "system", "stop_sequences", "stream", "temperature", "top_p", "top_k",
    "tools", "tool_choice", "metadata", "thinking", "service_tier", "container", "mcp_servers",
    "context_management", "inference_geo", "output_config", "output_format", "cache_control", "diagnostics",
    "speed", "user_profile_id", "workspace_id",
})
COUNT_TOKENS_PARAMS = frozenset({
    "model", "messages", "system", "tools", "tool_choice", "thinking", "mcp_servers", "context_management",
    "output_config", "output_format", "cache_control", "speed", "user_profile_id", "workspace_id",
})
BLOCK_TYPES = (
    "text", "image", "document", "search_result", "thinking", "redacted_thinking", "tool_use", "tool_result",
    "server_tool_use", "web_search_tool_result", "web_fetch_tool_result", "code_execution_tool_result",
    "container_upload",
)
_BLOCK_TAGS = ", ".join(f"'{t}'" for t in BLOCK_TYPES)
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_CUSTOM_TOOL_KEYS = frozenset({
    "type", "name", "description", "input_schema", "cache_control", "strict", "defer_loading",
    "input_examples", "allowed_callers", "eager_input_streaming",
})
_TOOL_CHOICE_TYPES = ("auto", "any", "tool", "none")
SYSTEM_ROLE_MESSAGE = (
    'messages: Unexpected role "system". The Messages API accepts a top-level `system` parameter, not "system" '
    "as an input message role."
)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _str(v: Any, loc: str) -> str:
    if not isinstance(v, str):
        raise wrong_type(loc, "string")
    return v


def _dict(v: Any, loc: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise wrong_type(loc, "dictionary")
    return v


def _list(v: Any, loc: str) -> list[Any]:
    if not isinstance(v, list):
        raise wrong_type(loc, "list")
    return v


def _max_tokens(body: dict[str, Any]) -> int:
    if "max_tokens" not in body:
        raise required("max_tokens")
    v = body["max_tokens"]
    if not _is_int(v):
        raise wrong_type("max_tokens", "integer")
    if v < 1:
        raise invalid("max_tokens: Input should be greater than or equal to 1")
    return int(v)


def _number(body: dict[str, Any], key: str, lo: float, hi: float | None) -> None:
    v = body[key]
    if v is None:
        return
    if not _is_number(v):
        raise wrong_type(key, "number")
    if v < lo:
        raise invalid(f"{key}: Input should be greater than or equal to {lo:g}")
    if hi is not None and v > hi:
        raise invalid(f"{key}: Input should be less than or equal to {hi:g}")


def _block(block: Any, loc: str, role: str) -> None:
    """One content block: the shape of the types the fake understands; others only need a known tag."""
    b = _dict(block, loc)
    btype = b.get("type")
    if btype is None:
        raise required(f"{loc}.type")
    if btype not in BLOCK_TYPES:
        raise invalid(f"{loc}: Input tag '{btype}' found using 'type' does not match any of the expected tags: "
                      f"{_BLOCK_TAGS}")
    at = f"{loc}.{btype}"  # a field's path names the block's tag, as the API's does: messages.1.content.0.tool_use.id
    if btype == "text":
        if "text" not in b:
            raise required(f"{at}.text")
        _str(b["text"], f"{at}.text")
    elif btype == "tool_use":
        for key in ("id", "name"):
            if key not in b:
                raise required(f"{at}.{key}")
            _str(b[key], f"{at}.{key}")
        if "input" not in b:
            raise required(f"{at}.input")
        _dict(b["input"], f"{at}.input")
    elif btype == "tool_result":
        if "tool_use_id" not in b:
            raise required(f"{at}.tool_use_id")
        _str(b["tool_use_id"], f"{at}.tool_use_id")
        content = b.get("content")
        if content is not None and not isinstance(content, str | list):
            raise wrong_type(f"{at}.content", "list")
        if isinstance(content, list):
            for k, part in enumerate(content):
                _block(part, f"{at}.content.{k}", role)
        if "is_error" in b and not isinstance(b["is_error"], bool):
            raise wrong_type(f"{at}.is_error", "boolean")
    elif btype in ("image", "document") and "source" not in b:
        raise required(f"{at}.source")


def _messages(value: Any) -> list[dict[str, Any]]:
    """Types first, message by message; roles are only user and assistant."""
    messages = _list(value, "messages")
    for i, m in enumerate(messages):
        loc = f"messages.{i}"
        msg = _dict(m, loc)
        if "role" not in msg:
            raise required(f"{loc}.role")
        role = msg["role"]
        if role == "system":
            raise invalid(SYSTEM_ROLE_MESSAGE)
        if role not in ("user", "assistant"):
            raise invalid(f"{loc}.role: Input should be 'user' or 'assistant'")
        if "content" not in msg:
            raise required(f"{loc}.content")
        content = msg["content"]
        if not isinstance(content, str):
            for j, block in enumerate(_list(content, f"{loc}.content")):
                _block(block, f"{loc}.content.{j}", role)
        for key in msg:
            if key not in ("role", "content"):
                raise extra(f"{loc}.{key}")
    return messages


def _conversation_rules(messages: list[dict[str, Any]]) -> None:
    """The rules the API checks once the types are right."""
    if not messages:
        raise invalid("messages: at least one message is required")
    if messages[0]["role"] != "user":
        raise invalid('messages: first message must use the "user" role')
    last = len(messages) - 1
    for i, m in enumerate(messages):
        content = m["content"]
        empty = content == "" or content == []
        if empty and not (i == last and m["role"] == "assistant"):
            raise invalid(f"messages.{i}: all messages must have non-empty content except for the optional final "
                          "assistant message")
        if isinstance(content, list) and any(b.get("type") == "text" and b.get("text") == "" for b in content):
            raise invalid("messages: text content blocks must be non-empty")
    previous_uses: set[str] = set()
    for i, m in enumerate(messages):
        content = m["content"] if isinstance(m["content"], list) else []
        if m["role"] == "user":
            for j, b in enumerate(content):
                if b.get("type") == "tool_result" and b["tool_use_id"] not in previous_uses:
                    raise invalid(f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` "
                                  f"blocks: {b['tool_use_id']}. Each `tool_result` block must have a "
                                  "corresponding `tool_use` block in the previous message.")
            previous_uses = set()
            continue
        uses = [b["id"] for b in content if b.get("type") == "tool_use"]
        if uses and i < last:
            answered = messages[i + 1]["content"]
            results = {b.get("tool_use_id") for b in answered if isinstance(b, dict)} if isinstance(
                answered, list) else set()
            missing = [u for u in uses if u not in results]
            if missing:
                raise invalid(f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately "
                              f"after: {', '.join(missing)}. Each `tool_use` block must have a corresponding "
                              "`tool_result` block in the next message.")
        previous_uses = set(uses)


def _system(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    for i, block in enumerate(_list(value, "system")):
        b = _dict(block, f"system.{i}")
        if "type" not in b:
            raise required(f"system.{i}.type")
        if b["type"] != "text":
            raise invalid(f"system.{i}.type: Input should be 'text'")
        if "text" not in b:
            raise required(f"system.{i}.text")
        _str(b["text"], f"system.{i}.text")
        for key in b:
            if key not in ("type", "text", "cache_control", "citations"):
                raise extra(f"system.{i}.{key}")
    return value


def _stop_sequences(value: Any) -> list[str]:
    if value is None:
        return []
    return [_str(s, f"stop_sequences.{i}") for i, s in enumerate(_list(value, "stop_sequences"))]


def _tools(value: Any) -> tuple[list[ToolSpec], int]:
    """Custom tools become `ToolSpec`s; server tools (typed, e.g. web_search_20250305) are accepted as is.

    Returns the specs and the prompt tokens the tool definitions add (a quarter of their JSON length).
    """
    if value is None:
        return [], 0
    specs, chars = [], 0
    for i, tool in enumerate(_list(value, "tools")):
        t = _dict(tool, f"tools.{i}")
        ttype = t.get("type")
        if ttype not in (None, "custom"):
            _str(ttype, f"tools.{i}.type")
            chars += len(orjson.dumps(t))
            continue
        loc = f"tools.{i}.custom"
        if "name" not in t:
            raise required(f"{loc}.name")
        name = _str(t["name"], f"{loc}.name")
        if not _TOOL_NAME.match(name):
            raise invalid(f"{loc}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
        if "input_schema" not in t:
            raise required(f"{loc}.input_schema")
        schema = _dict(t["input_schema"], f"{loc}.input_schema")
        description = t.get("description")
        if description is not None:
            _str(description, f"{loc}.description")
        for key in t:
            if key not in _CUSTOM_TOOL_KEYS:
                raise extra(f"{loc}.{key}")
        specs.append(ToolSpec(name, description or "", schema))
        chars += len(name) + len(description or "") + len(orjson.dumps(schema))
    return specs, chars // 4


def _tool_choice(value: Any, has_tools: bool) -> Any:
    if value is None:
        return None
    choice = _dict(value, "tool_choice")
    ctype = choice.get("type")
    if ctype is None:
        raise required("tool_choice.type")
    if ctype not in _TOOL_CHOICE_TYPES:
        raise invalid(f"tool_choice: Input tag '{ctype}' found using 'type' does not match any of the expected "
                      "tags: 'auto', 'any', 'tool', 'none'")
    if ctype == "tool":
        if "name" not in choice:
            raise required("tool_choice.tool.name")
        _str(choice["name"], "tool_choice.tool.name")
    if ctype != "none" and not has_tools:
        raise invalid("tool_choice: tool_choice may only be specified while providing tools")
    return choice


def _metadata(value: Any) -> None:
    if value is None:
        return
    md = _dict(value, "metadata")
    for key, v in md.items():
        if key != "user_id":
            raise extra(f"metadata.{key}")
        if v is not None:
            _str(v, "metadata.user_id")


def _parse(body: Any, known: frozenset[str], needs_max_tokens: bool) -> ChatRequest:
    if not isinstance(body, dict):
        raise invalid("Input should be a valid dictionary or object to extract fields from")
    max_tokens = _max_tokens(body) if needs_max_tokens else None
    if "messages" not in body:
        raise required("messages")
    messages = _messages(body["messages"])
    if "model" not in body:
        raise required("model")
    model = _str(body["model"], "model")
    for key in body:
        if key not in known:
            raise extra(key)
    get = body.get
    system = _system(get("system"))
    stops = _stop_sequences(get("stop_sequences")) if "stop_sequences" in body else []
    stream = False
    if get("stream") is not None:
        if not isinstance(body["stream"], bool):
            raise wrong_type("stream", "boolean")
        stream = body["stream"]
    if get("top_k") is not None and not _is_int(body["top_k"]):
        raise wrong_type("top_k", "integer")
    for key, lo, hi in (("temperature", 0.0, 1.0), ("top_p", 0.0, 1.0), ("top_k", 0.0, None)):
        if key in body:
            _number(body, key, lo, hi)
    if "metadata" in body:
        _metadata(body["metadata"])
    if get("thinking") is not None:
        _dict(body["thinking"], "thinking")
    tools, tool_tokens = _tools(get("tools"))
    tool_choice = _tool_choice(get("tool_choice"), bool(get("tools")))
    _conversation_rules(messages)
    atoms = anthropic_atoms(system, messages)
    return ChatRequest(model=model, atoms=atoms, max_tokens=max_tokens, stream=stream, stop=stops, tools=tools,
                       tool_choice=tool_choice, extra_prompt_tokens=tool_tokens, marker=_marker_in(atoms))


def parse_messages(body: Any) -> ChatRequest:
    """A `POST /v1/messages` body."""
    return _parse(body, MESSAGE_PARAMS, needs_max_tokens=True)


def parse_count_tokens(body: Any) -> ChatRequest:
    """A `POST /v1/messages/count_tokens` body: the same conversation, without `max_tokens` or `stream`."""
    return _parse(body, COUNT_TOKENS_PARAMS, needs_max_tokens=False)


def _marker_in(atoms: list[Any]) -> str | None:
    for _, kind, payload in atoms:
        if kind == "text" and "gd:" in payload:
            return str(payload)
    return None
