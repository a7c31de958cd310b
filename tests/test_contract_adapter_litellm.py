"""The adapter contract kit against LiteLLM used as a library (`litellm.completion` and `litellm.acompletion`), for
OpenAI and Anthropic.

Where LiteLLM 1.106.2 breaks the contract, the cell is a strict xfail naming the gap, with the shrunk
counter-example the kit found; a LiteLLM upgrade that closes a gap turns its xfail into a failure to update.

Known gaps (LiteLLM 1.106.2, Anthropic route):
- temperature above 1 (valid for OpenAI, up to 2) is sent to Anthropic unchanged and rejected (400).
  Counter-example: {"messages": [{"role": "user", "content": "0"}], "temperature": 2.0}
- an empty user message (valid for OpenAI) becomes the invented text "[System: Empty message content sanitised to
  satisfy protocol]" instead of being dropped.
  Counter-example: [user "", user "0"].
- a system message after the first turn is not hoisted into `system`: it is demoted into the user turn,
  prefixed by an invented text "Operator note (not from the user): ...".
  Counter-example (shrunk by the kit): [user "0", assistant "0", system "0", user "0"]; by hand,
  [user "a", system "S", user "b"] arrives as one user turn ["a", "Operator note ...", "S", "b"].
"""

from __future__ import annotations

from typing import Any

import pytest
from kit_cells import assert_cell_passes, cell_params

from gatedrill.contracts.adapter_kit import LiteLLMTarget, Matrix, lost_pieces, request_problems, run_kit

TEMPERATURE_GAP = ("LiteLLM 1.106.2: temperature above 1 reaches Anthropic unchanged and is rejected; "
                   "counter-example: one user message '0' with temperature 2.0")
SYSTEM_GAP = ("LiteLLM 1.106.2: a mid-conversation system message is demoted into the user turn with an "
              "invented 'Operator note (not from the user)' prefix instead of being hoisted into `system`")
INVENTED_GAP = ("LiteLLM 1.106.2: text the user never sent reaches Anthropic: an empty user message becomes "
                "'[System: Empty message content sanitised to satisfy protocol]', and a mid-conversation system "
                "message gets an 'Operator note (not from the user)' prefix")
KNOWN_GAPS = {
    (prop, f"{name}/anthropic"): gap for name in ("litellm", "litellm-async") for prop, gap in (
        ("upstream_request_valid", TEMPERATURE_GAP), ("nothing_lost", f"{TEMPERATURE_GAP}; {SYSTEM_GAP}"),
        ("nothing_invented", INVENTED_GAP))
}
TARGETS = ("litellm/openai", "litellm/anthropic", "litellm-async/openai", "litellm-async/anthropic")


@pytest.fixture(scope="module")
def matrix() -> Matrix:
    targets = [LiteLLMTarget(p, use_async=a) for a in (False, True) for p in ("openai", "anthropic")]
    return run_kit(targets, title="litellm", seed_value=0)


@pytest.mark.parametrize(("prop", "target"), cell_params(TARGETS, KNOWN_GAPS))
def test_litellm_keeps_the_adapter_contract(matrix: Matrix, prop: str, target: str) -> None:
    assert_cell_passes(matrix, prop, target)


@pytest.mark.parametrize("target", ["litellm/anthropic", "litellm-async/anthropic"])
def test_the_known_gaps_shrink_to_the_documented_counter_examples(matrix: Matrix, target: str) -> None:
    for prop in ("upstream_request_valid", "nothing_lost"):
        cell = matrix.cell(prop, target)
        assert cell is not None and not cell.passed
        assert "temperature" in cell.message
        assert cell.example["messages"] == [{"role": "user", "content": "0"}]
        assert cell.example["temperature"] > 1
    lost = matrix.cell("nothing_lost", target)
    assert lost is not None
    assert len(lost.findings) == 2, lost.findings
    message, example = lost.findings[1]
    assert message == "lost on the way upstream: system text '0'"
    roles = [m["role"] for m in example["messages"]]
    assert "system" in roles[1:] and len(roles) <= 4 and "temperature" not in example, example
    invented = matrix.cell("nothing_invented", target)
    assert invented is not None
    messages = [m for m, _ in invented.findings]
    assert any("Empty message content sanitised" in m for m in messages), messages
    assert any("Operator note (not from the user)" in m for m in messages), messages


def _sent_upstream(request: dict[str, Any]) -> dict[str, Any]:
    with LiteLLMTarget("anthropic") as target:
        target.reset()
        target.send({"model": target.request_model, **request})
        (entry,) = target.upstream_entries()
        return dict(entry.body)


@pytest.mark.xfail(strict=True, reason=TEMPERATURE_GAP)
def test_litellm_keeps_temperature_within_anthropics_range() -> None:
    request = {"messages": [{"role": "user", "content": "0"}], "temperature": 2.0}
    assert request_problems("anthropic", _sent_upstream(request)) == []


@pytest.mark.xfail(strict=True, reason=SYSTEM_GAP)
def test_litellm_hoists_a_mid_conversation_system_message() -> None:
    request = {"messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "S"},
                            {"role": "user", "content": "b"}]}
    upstream = _sent_upstream(request)
    assert lost_pieces(request, upstream, "anthropic") == []
    assert "Operator note" not in str(upstream["messages"])


def test_litellm_merges_consecutive_user_turns_and_places_tool_results_first() -> None:
    request = {"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
               "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"},
                            {"role": "assistant", "content": "t", "tool_calls": [
                                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                            {"role": "tool", "tool_call_id": "call_1", "content": "r"},
                            {"role": "user", "content": "c"}]}
    upstream = _sent_upstream(request)
    assert request_problems("anthropic", upstream) == []
    assert lost_pieces(request, upstream, "anthropic") == []
    assert [m["role"] for m in upstream["messages"]] == ["user", "assistant", "user"]
