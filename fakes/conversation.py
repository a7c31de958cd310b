"""A provider-neutral view of a chat request: the conversation as a flat list of atoms, and its digest.

Both dialects parse into `ChatRequest`. Consecutive messages of one role are flattened, so the same
conversation has the same atoms whether it arrived as OpenAI messages or as Anthropic content blocks, and
whether a gateway merged consecutive user turns or not. The digest over those atoms is what witness
replies report and what continuity checks recompute; tool-call ids are left out of it because gateways
may legitimately rename them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

# An atom is (role, kind, payload): ("system"|"user"|"assistant"|"tool", "text"|"tool_call"|"tool_result", ...)
Atom = tuple[str, str, Any]


@dataclass(slots=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(slots=True)
class ChatRequest:
    """What a fake needs to answer a chat request, whichever dialect carried it."""

    model: str
    atoms: list[Atom]
    max_tokens: int | None = None
    stream: bool = False
    include_usage: bool = False
    n: int = 1
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    tools: list[ToolSpec] = field(default_factory=list)
    tool_choice: Any = None
    response_format: dict[str, Any] | None = None
    extra_prompt_tokens: int = 0
    marker: str | None = None

    @property
    def last_user_text(self) -> str:
        for role, kind, payload in reversed(self.atoms):
            if role == "user" and kind == "text":
                return str(payload)
            if role == "assistant":
                break
        return ""

    @property
    def ends_with_tool_result(self) -> bool:
        return bool(self.atoms) and self.atoms[-1][1] == "tool_result"

    @property
    def turn(self) -> int:
        return turn_of(self.atoms)


def turn_of(atoms: list[Atom]) -> int:
    """1 + the number of assistant runs: turn 1 is the first user message."""
    runs, prev = 0, None
    for role, _, _ in atoms:
        if role == "assistant" and prev != "assistant":
            runs += 1
        prev = role
    return runs + 1


def canonical_args(arguments: Any) -> Any:
    """Tool arguments as a value: OpenAI sends a JSON string, Anthropic an object."""
    if isinstance(arguments, str):
        try:
            return orjson.loads(arguments)
        except orjson.JSONDecodeError:
            return arguments
    return arguments


def digest(atoms: list[Atom]) -> str:
    """A stable 16-hex digest of a conversation, ignoring tool-call ids; tool arguments and JSON tool results count
    by value, so re-serialising them (a string to Gemini's object and back) is not a change of history."""
    canon: list[tuple[Any, ...]] = []
    for role, kind, payload in atoms:
        if kind == "tool_call":
            canon.append((role, kind, payload[1], payload[2]))
        elif kind == "tool_result":  # by JSON value when it is JSON: a gateway may carry it as an object
            canon.append((role, kind, canonical_args(payload[1])))
        else:
            canon.append((role, kind, payload))
    raw = orjson.dumps(canon, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(raw, digest_size=8).hexdigest()


def openai_atoms(messages: list[dict[str, Any]]) -> list[Atom]:
    """Flatten OpenAI chat messages (already validated) into atoms."""
    atoms: list[Atom] = []
    for m in messages:
        role = m["role"]
        if role == "developer":
            role = "system"
        content = m.get("content")
        if role == "tool":
            atoms.append(("tool", "tool_result", (m.get("tool_call_id"), _text_of(content))))
            continue
        for text in _text_parts(content):
            atoms.append((role, "text", text))
        for call in (m.get("tool_calls") or ()) if role == "assistant" else ():  # another role's is not a call
            if call.get("type") == "custom":  # a custom tool's free-form input
                custom = call.get("custom") or {}
                atoms.append((role, "tool_call", (call.get("id"), custom.get("name"), custom.get("input"))))
                continue
            fn = call.get("function") or {}
            atoms.append((role, "tool_call", (call.get("id"), fn.get("name"), canonical_args(fn.get("arguments")))))
    return atoms


def anthropic_atoms(system: Any, messages: list[dict[str, Any]]) -> list[Atom]:
    """Flatten an Anthropic system prompt and messages (already validated) into atoms."""
    atoms: list[Atom] = []
    for text in _text_parts(system):
        atoms.append(("system", "text", text))
    for m in messages:
        role = m["role"]
        content = m["content"]
        if isinstance(content, str):
            if content:
                atoms.append((role, "text", content))
            continue
        for block in content:
            btype = block.get("type")
            if btype == "text":
                if block.get("text"):
                    atoms.append((role, "text", block["text"]))
            elif btype == "tool_use":
                atoms.append((role, "tool_call", (block.get("id"), block.get("name"), block.get("input"))))
            elif btype == "tool_result":
                atoms.append(("tool", "tool_result", (block.get("tool_use_id"), _text_of(block.get("content")))))
            else:
                atoms.append((role, btype or "unknown", orjson.dumps(block, option=orjson.OPT_SORT_KEYS).decode()))
    return atoms


def _text_parts(content: Any) -> list[str]:
    """Non-empty text parts of a string or a list of parts/blocks, each its own atom."""
    if isinstance(content, str):
        return [content] if content else []
    if isinstance(content, list):
        return [p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str) and p["text"]]
    return []


def _text_of(content: Any) -> str:
    """Text of a string or a list of text parts/blocks, parts joined without separator."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out = []
        for part in content:
            if isinstance(part, dict):
                t = part.get("text")
                if isinstance(t, str):
                    out.append(t)
            elif isinstance(part, str):
                out.append(part)
        return "".join(out)
    return str(content)
