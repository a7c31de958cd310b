"""The mutation table: for each reference-gateway mutant, the drill (and a short scale) that exercises it, the checks
that must catch it, and the public report it is modelled on. The mutant test and the mutation-score bench share it,
so the claim "each mutant is caught by exactly its checks" has one source."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class MutantCase:
    drill: str
    scale: float
    catches: frozenset[str]
    source: str = ""  # the real gateway bug it is modelled on ("" for the classic ones)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)


def _case(drill: str, scale: float, *catches: str, source: str = "") -> MutantCase:
    return MutantCase(drill, scale, frozenset(catches), source)


MUTATION_TABLE: dict[str, MutantCase] = {
    "ignore_weights": _case("canary-split", 0.2, "canary_split"),
    "never_cooldown": _case("canary-rollback", 0.2, "rollback", source="LiteLLM PR #34836"),
    "drop_history_on_switch": _case("context-continuity", 0.15, "context_continuity"),
    "truncate_over_window": _case("context-window-fallback", 0.2, "context_window"),
    "lose_stream_tail": _case("streaming-integrity", 0.2, "streaming_integrity", "errors_explained"),
    "retry_storm": _case("rate-limit-storm", 0.3, "retry_amplification", source="LiteLLM #7669"),
    "duplicate_requests": _case("canary-split", 0.2, "accounting"),
    "rate_limit_to_500": _case("rate-limit-storm", 0.3, "error_mapping", source="Portkey 1.15.2 npm"),
    "slow_path": _case("canary-split", 0.2, "overhead"),
    "retry_after_dropped": _case("rate-limit-storm", 0.3, "error_mapping", source="LiteLLM #21553"),
    "cooling_429_without_retry_after": _case("rate-limit-storm", 0.3, "error_mapping", source="LiteLLM #27823"),
    "no_attempt_timeout": _case("failover-drill", 0.3, "rollback", source="LiteLLM #38358"),
    "empty_tool_turn": _case("context-continuity", 0.15, "errors_explained", source="LiteLLM PR #2549"),
    "stream_break_as_clean_end": _case("streaming-integrity", 0.2, "streaming_integrity", source="LiteLLM #40260"),
    "readmit_without_probe": _case("canary-rollback", 0.3, "rollback", source="LiteLLM 1.106.2 router"),
    "drop_system_prompt": _case("context-continuity", 0.15, "context_continuity",
                                source="vercel-labs/ai-python PR #267"),
    "fallback_ignored": _case("failover-drill", 0.3, "rollback", source="LiteLLM #8632"),
    "commit_on_first_byte": _case("midstream-failover", 0.6, "rollback", source="LiteLLM #40404"),
    "stay_failed_over": _case("recovery", 0.6, "rollback"),
    "stringify_tool_args": _case("cross-provider-tools", 0.3, "context_continuity"),
    "duplicate_stream_chunk": _case("streaming-integrity", 0.2, "streaming_integrity", source="adaline/gateway PR #26"),
    "drop_streamed_tool_args": _case("cross-provider-tools", 0.3, "streaming_integrity",
                                     source="LiteLLM #20711, #27144"),
    "stop_for_tool_calls": _case("cross-provider-tools", 0.3, "streaming_integrity", source="LiteLLM #12249, #12862"),
    "ignore_failures_after_reload": _case("progressive-migration", 0.3, "rollback"),
    "restart_streams_on_reload": _case("blue-green", 0.4, "cutover", "accounting"),
    "cooldown_on_first_failure": _case("canary-rollback", 0.7, "rollback", source="deltallm PR #104"),
}
