"""Contracts: the curated OpenAPI documents (`contracts.documents`, `contracts/openapi/`) and their validators
(`contracts.validate`), Hypothesis strategies, the gateway contract suite (`contracts.gateway_suite`) and the
adapter contract kit."""

# Hypothesis strategies (contracts.strategies) load on first use, so `import contracts` needs no test extra.
_STRATEGIES = frozenset({
    "anthropic_conversations", "anthropic_messages_requests", "chat_requests", "openai_chat_requests",
    "openai_conversations", "openai_tools", "prompt_tokens", "requests_near_window", "sampling_params",
    "stop_sequences", "texts", "to_anthropic", "tool_arguments", "tool_names", "window_overshoot",
})


def __getattr__(name: str) -> object:
    if name in _STRATEGIES:
        from . import strategies

        return getattr(strategies, name)
    raise AttributeError(f"module 'contracts' has no attribute {name!r}")
