"""The request contract of each provider, beyond what its parser rejects: the semantic rules an adapter must
keep when it builds an upstream request. Each rule returns readable problems, never raises."""

from __future__ import annotations

from typing import Any

from gatedrill.fakes.errors import GatedrillError


def _parse_problem(provider: str, body: Any) -> str | None:
    """The provider's own validation (the fakes' parsers), as one message, or None."""
    from gatedrill.fakes.plan import ApiError

    try:
        if provider == "anthropic":
            from gatedrill.fakes.providers.anthropic.requests import parse_messages

            parse_messages(body)
        else:
            from gatedrill.fakes.providers.openai.requests import parse_chat

            parse_chat(body)
    except ApiError as err:
        return f"the provider rejects it: {err.message}"
    return None


def anthropic_problems(body: dict[str, Any]) -> list[str]:
    """Messages API rules: max_tokens set, system hoisted, strict alternation starting with user, and tool
    results in the user turn right after the assistant's tool_use, before any text, with matching ids."""
    problems = []
    if "max_tokens" not in body:
        problems.append("max_tokens is missing (the Messages API requires it)")
    messages = body.get("messages") or []
    roles = [m.get("role") for m in messages]
    if "system" in roles:
        problems.append("a system message is left in `messages` instead of the top-level `system`")
    for i in range(1, len(roles)):
        if roles[i] == roles[i - 1]:
            problems.append(f"messages {i - 1} and {i} are both {roles[i]!r}: turns must alternate (merge them)")
            break
    for i, m in enumerate(messages):
        content = m.get("content") if isinstance(m.get("content"), list) else []
        if m.get("role") == "assistant":
            uses = [b.get("id") for b in content if isinstance(b, dict) and b.get("type") == "tool_use"]
            if not uses:
                continue
            nxt = messages[i + 1] if i + 1 < len(messages) else None
            if nxt is None:
                continue
            blocks = nxt.get("content") if isinstance(nxt.get("content"), list) else []
            kinds = [b.get("type") for b in blocks if isinstance(b, dict)]
            results = [b.get("tool_use_id") for b in blocks if isinstance(b, dict) and b.get("type") == "tool_result"]
            if sorted(map(str, results)) != sorted(map(str, uses)):
                problems.append(f"message {i + 1} answers tool_use ids {results}, expected exactly {uses}")
            lead = kinds[: len(results)]
            if any(k != "tool_result" for k in lead):
                problems.append(f"message {i + 1}: tool_result blocks must come before any other content, got {kinds}")
        elif m.get("role") == "user" and i > 0:
            prev = messages[i - 1].get("content") if isinstance(messages[i - 1].get("content"), list) else []
            prev_uses = {b.get("id") for b in prev if isinstance(b, dict) and b.get("type") == "tool_use"}
            for b in content:
                if isinstance(b, dict) and b.get("type") == "tool_result" and b.get("tool_use_id") not in prev_uses:
                    problems.append(f"message {i}: tool_result for {b.get('tool_use_id')!r} has no tool_use "
                                    "right before")
    return problems


def openai_problems(body: dict[str, Any]) -> list[str]:
    """Chat Completions rules: every tool message answers a tool call of the assistant message before it."""
    problems = []
    open_ids: set[str] = set()
    for i, m in enumerate(body.get("messages") or []):
        role = m.get("role")
        if role == "assistant":
            open_ids = {c.get("id") for c in m.get("tool_calls") or ()}
        elif role == "tool":
            if m.get("tool_call_id") not in open_ids:
                problems.append(f"message {i}: tool message for {m.get('tool_call_id')!r} answers no preceding "
                                "tool call")
        else:
            open_ids = set()
    return problems


def request_problems(provider: str, body: Any) -> list[str]:
    """Everything wrong with an upstream request body for `provider`; empty when it keeps the contract."""
    if not isinstance(body, dict):
        return ["the upstream request body is not a JSON object"]
    parsed = _parse_problem(provider, body)
    semantic = anthropic_problems(body) if provider == "anthropic" else openai_problems(body)
    return ([parsed] if parsed else []) + semantic


def check_provider(provider: str) -> str:
    if provider not in ("openai", "anthropic"):
        raise GatedrillError(f"unknown provider {provider!r}: use 'openai' or 'anthropic'")
    return provider
