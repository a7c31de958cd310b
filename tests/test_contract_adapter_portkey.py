"""The adapter contract kit over HTTP against the Portkey gateway (npm @portkey-ai/gateway 1.15.2) routing to an
Anthropic fake (`gatedrill contract --adapter gateway:portkey`). Replies, streams and HTTP errors translate correctly;
the requests it builds for Anthropic do not. Known gaps, as the kit shrinks them:

- no default `max_tokens` (the Messages API requires it): {"messages": [user "0"]}
- consecutive user turns are not merged (also parallel tool results, one user turn each): [user "0", user "0"]
- `stop` as a string is passed as `stop_sequences: "D"`, not a list: {"messages": [user "0"], "stop": "D", ...}
- `parallel_tool_calls: false` is dropped (no `tool_choice.disable_parallel_tool_use`)
- a mid-stream Anthropic error (`event: error`, overloaded) becomes a chunk with finish_reason "overloaded_error"
  and `[DONE]`: the stream looks complete to an OpenAI client. Counter-example: one user message "0", the error
  before any content.
"""

from __future__ import annotations

import pytest
from kit_cells import assert_cell_passes, cell_params

from gatedrill.contracts.adapter_kit import Matrix, ProcessGatewayTarget, run_kit

TARGET = "gateway:portkey/anthropic"
KNOWN_GAPS = {
    "upstream_request_valid": "Portkey 1.15.2: no default max_tokens for Anthropic, consecutive user turns not "
    "merged, stop string sent as stop_sequences string",
    "nothing_lost": "Portkey 1.15.2: parallel_tool_calls=false dropped on the way to Anthropic",
    "stream_error_surfaces": "Portkey 1.15.2: a mid-stream Anthropic error ends the stream with finish_reason "
    "'overloaded_error' and [DONE] instead of an error",
}


@pytest.fixture(scope="module")
def matrix() -> Matrix:
    return run_kit([ProcessGatewayTarget("portkey", "anthropic")], title="portkey", max_examples=15)


@pytest.mark.parametrize(("prop", "target"),
                         cell_params((TARGET,), {(p, TARGET): gap for p, gap in KNOWN_GAPS.items()}))
def test_portkey_keeps_the_adapter_contract(matrix: Matrix, prop: str, target: str) -> None:
    assert_cell_passes(matrix, prop, target)


def test_each_portkey_request_gap_is_its_own_small_finding(matrix: Matrix) -> None:
    cell = matrix.cell("upstream_request_valid", TARGET)
    assert cell is not None
    found = {message: example for message, example in cell.findings}
    assert any("max_tokens is missing" in m for m in found), list(found)
    alternation = next(e for m, e in found.items() if "turns must alternate" in m)
    assert [m["role"] for m in alternation["messages"]] == ["user", "user"], alternation
    lost = matrix.cell("nothing_lost", TARGET)
    assert lost is not None and "parallel_tool_calls=false dropped" in lost.message
