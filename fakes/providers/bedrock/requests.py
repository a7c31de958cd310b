"""Parse Bedrock Converse bodies (`messages`, `system`, `inferenceConfig`, `toolConfig`) into a neutral
`ChatRequest`. The model id comes from the path. Tool results are `toolResult` blocks in a user turn whose
content is text or JSON blocks; JSON counts as its sorted dump, so digests match across dialects."""

from __future__ import annotations

from typing import Any

import orjson

from ...conversation import Atom, ChatRequest, ToolSpec
from .exceptions import validation

CONVERSE_FIELDS = frozenset({
    "messages", "system", "inferenceConfig", "toolConfig", "guardrailConfig", "additionalModelRequestFields",
    "additionalModelResponseFieldPaths", "promptVariables", "requestMetadata", "performanceConfig",
    "serviceTier", "outputConfig", "projectIdentifier",
})
STARTS_WITH_USER = ("A conversation must start with a user message. Try again with a conversation that starts "
                    "with a user message.")
ALTERNATE = ("A conversation must alternate between user and assistant roles. Make sure the conversation "
             "alternates between user and assistant roles and try again.")


def _result_text(content: Any) -> str:
    out = []
    for block in content or []:
        if isinstance(block, dict):
            if isinstance(block.get("text"), str):
                out.append(block["text"])
            elif "json" in block:
                out.append(orjson.dumps(block["json"], option=orjson.OPT_SORT_KEYS).decode())
    return "".join(out)


def bedrock_atoms(system: Any, messages: list[dict[str, Any]]) -> list[Atom]:
    atoms: list[Atom] = []
    for block in system or []:
        if isinstance(block, dict) and isinstance(block.get("text"), str) and block["text"]:
            atoms.append(("system", "text", block["text"]))
    for m in messages:
        role = m["role"]
        for block in m["content"]:
            if "text" in block:
                if block["text"]:
                    atoms.append((role, "text", block["text"]))
            elif "toolUse" in block:
                use = block["toolUse"]
                atoms.append((role, "tool_call", (use.get("toolUseId"), use.get("name"), use.get("input"))))
            elif "toolResult" in block:
                res = block["toolResult"]
                atoms.append(("tool", "tool_result", (res.get("toolUseId"), _result_text(res.get("content")))))
            elif "cachePoint" in block:
                continue
            else:
                atoms.append((role, next(iter(block), "unknown"),
                              orjson.dumps(block, option=orjson.OPT_SORT_KEYS).decode()))
    return atoms


def _messages(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise validation("1 validation error detected: Value at 'messages' failed to satisfy constraint: Member "
                         "must not be null")
    prev = None
    for i, m in enumerate(value):
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            raise validation(f"1 validation error detected: Value at 'messages.{i + 1}.member.role' failed to "
                             "satisfy constraint: Member must satisfy enum value set: [user, assistant]")
        content = m.get("content")
        if not isinstance(content, list) or not content or not all(isinstance(b, dict) and b for b in content):
            raise validation(f"The content field in the Message object at messages.{i} is empty. Add a "
                             "ContentBlock object to the content field and try again.")
        if i == 0 and m["role"] != "user":
            raise validation(STARTS_WITH_USER)
        if m["role"] == prev:
            raise validation(ALTERNATE)
        prev = m["role"]
    return value


def _tools(config: Any) -> tuple[list[ToolSpec], Any, int]:
    if config is None:
        return [], None, 0
    if not isinstance(config, dict) or not isinstance(config.get("tools"), list) or not config["tools"]:
        raise validation("The toolConfig field must be defined when using toolUse and toolResult content blocks.")
    specs, chars = [], 0
    for tool in config["tools"]:
        spec = tool.get("toolSpec") if isinstance(tool, dict) else None
        if spec is None:
            continue
        schema = (spec.get("inputSchema") or {}).get("json") or {}
        specs.append(ToolSpec(spec.get("name", ""), spec.get("description") or "", schema))
        chars += len(orjson.dumps(spec))
    choice = config.get("toolChoice")
    neutral: Any = None
    if isinstance(choice, dict):
        if "any" in choice:
            neutral = "any"
        elif "tool" in choice:
            neutral = {"name": (choice["tool"] or {}).get("name")}
    return specs, neutral, chars // 4


def _parse(body: Any, model: str, stream: bool, known: frozenset[str]) -> ChatRequest:
    if not isinstance(body, dict):
        raise validation("Malformed input request, please reformat your input and try again.")
    for key in body:
        if key not in known:
            raise validation(f"Malformed input request: extraneous key [{key}] is not permitted, please reformat "
                             "your input and try again.")
    messages = _messages(body.get("messages"))
    inference = body.get("inferenceConfig") or {}
    if not isinstance(inference, dict):
        raise validation("Malformed input request, please reformat your input and try again.")
    max_tokens = inference.get("maxTokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise validation("1 validation error detected: Value at 'inferenceConfig.maxTokens' failed to satisfy "
                         "constraint: Member must have value greater than or equal to 1")
    tools, choice, tool_tokens = _tools(body.get("toolConfig"))
    system = body.get("system")
    atoms = bedrock_atoms(system if isinstance(system, list) else [], messages)
    if not tools and any(k == "tool_call" for _, k, _ in atoms):
        raise validation("The toolConfig field must be defined when using toolUse and toolResult content blocks.")
    stops = inference.get("stopSequences") or []
    marker = None
    md = body.get("requestMetadata")
    if isinstance(md, dict) and isinstance(md.get("gatedrill"), str):
        marker = md["gatedrill"]
    return ChatRequest(model=model, atoms=atoms, max_tokens=max_tokens, stream=stream, include_usage=True,
                       stop=[s for s in stops if isinstance(s, str)], tools=tools, tool_choice=choice,
                       extra_prompt_tokens=tool_tokens, marker=marker or _marker_in(atoms))


def parse_converse(body: Any, model: str, stream: bool) -> ChatRequest:
    return _parse(body, model, stream, CONVERSE_FIELDS)


def parse_count_tokens(body: Any, model: str) -> ChatRequest:
    """`count-tokens` with `{"input": {"converse": {...}}}`."""
    inner = body.get("input") if isinstance(body, dict) else None
    converse = inner.get("converse") if isinstance(inner, dict) else None
    if not isinstance(converse, dict):
        raise validation("The input field must contain exactly one of converse or invokeModel.")
    return _parse(converse, model, False, frozenset({"messages", "system", "toolConfig",
                                                      "additionalModelRequestFields"}))


def _marker_in(atoms: list[Atom]) -> str | None:
    for _, kind, payload in atoms:
        if kind == "text" and "gd:" in payload:
            return str(payload)
    return None
