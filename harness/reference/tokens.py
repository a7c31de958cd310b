"""Prompt size as the fakes count it, so the gateway's pre-call window check agrees with the upstream's.

The same `approx` tokenizer (`fakes.tokenizer.count_approx`) over the provider-neutral conversation atoms,
with OpenAI's recipe (3 per message, 3 to prime the reply), plus each provider's estimate for tool
definitions. A conversation the gateway cannot read counts as 0 (the upstream will judge it).
"""

from __future__ import annotations

from typing import Any

import orjson

from gatedrill.fakes.conversation import openai_atoms
from gatedrill.fakes.tokenizer import count_atoms

from .translate import anthropic_tools


def prompt_tokens(body: dict[str, Any], provider: str) -> int:
    """Prompt tokens of an OpenAI-shaped request body, as an upstream of `provider` would count them."""
    try:
        atoms = openai_atoms(body.get("messages") or [])
        tools = _tool_tokens(body.get("tools"), provider)
    except (AttributeError, KeyError, TypeError, ValueError):
        return 0
    return tools + count_atoms(atoms)


def _tool_tokens(tools: Any, provider: str) -> int:
    if not tools:
        return 0
    if provider == "anthropic":
        chars = 0
        for t in anthropic_tools(tools):
            chars += len(t["name"]) + len(t.get("description") or "") + len(orjson.dumps(t["input_schema"]))
        return chars // 4
    chars = 0
    for t in tools:
        fn = t.get("function") or {}
        chars += len(fn.get("name") or "") + len(str(fn.get("parameters") or {"type": "object", "properties": {}}))
    return chars // 4


def completion_budget(body: dict[str, Any]) -> int:
    """The completion tokens the client asked for (0 when it set no limit)."""
    v = body.get("max_completion_tokens") or body.get("max_tokens")
    return v if isinstance(v, int) and not isinstance(v, bool) else 0
