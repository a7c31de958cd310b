"""The adapter contract kit over HTTP against the LiteLLM proxy (1.106.2) routing to an Anthropic fake: the proxy
as a child process (`gatedrill contract --adapter gateway:litellm`), one attempt per request, no cooldown.

Known gaps, each a strict xfail with its shrunk counter-example:
- temperature above 1 reaches Anthropic unchanged (rejected): {"messages": [user "0"], "temperature": 2.0}
- an empty user message becomes the invented text "[System: Empty message content sanitised to satisfy protocol]"
  (and a mid-conversation system message gets an "Operator note (not from the user)" prefix)
- an upstream 429's retry-after reaches the client only as `llm_provider-retry-after`, so OpenAI SDK clients
  (which read `retry-after`/`retry-after-ms`) cannot honour it: {"messages": [user "0"]} with retry-after 1 s
"""

from __future__ import annotations

import pytest
from kit_cells import assert_cell_passes, cell_params

from gatedrill.contracts.adapter_kit import Matrix, ProcessGatewayTarget, run_kit

TARGET = "gateway:litellm/anthropic"
TEMPERATURE_GAP = ("LiteLLM proxy 1.106.2: temperature above 1 reaches Anthropic unchanged and is rejected; "
                   "counter-example: one user message '0' with temperature 2.0")
RETRY_AFTER_GAP = ("LiteLLM proxy 1.106.2: an upstream 429 keeps its status but its retry-after arrives only as "
                   "llm_provider-retry-after; counter-example: one user message '0', upstream retry-after 1 s")
INVENTED_GAP = ("LiteLLM proxy 1.106.2: text the user never sent reaches Anthropic (empty-message placeholder, "
                "'Operator note' before a mid-conversation system message)")
KNOWN_GAPS = {"upstream_request_valid": TEMPERATURE_GAP, "nothing_lost": TEMPERATURE_GAP,
              "nothing_invented": INVENTED_GAP, "rate_limit_429": RETRY_AFTER_GAP}


@pytest.fixture(scope="module")
def matrix() -> Matrix:
    return run_kit([ProcessGatewayTarget("litellm", "anthropic")], title="litellm proxy", max_examples=15)


@pytest.mark.parametrize(("prop", "target"),
                         cell_params((TARGET,), {(p, TARGET): gap for p, gap in KNOWN_GAPS.items()}))
def test_the_litellm_proxy_keeps_the_adapter_contract(matrix: Matrix, prop: str, target: str) -> None:
    assert_cell_passes(matrix, prop, target)


def test_the_retry_after_gap_shrinks_to_the_documented_counter_example(matrix: Matrix) -> None:
    cell = matrix.cell("rate_limit_429", TARGET)
    assert cell is not None and not cell.passed and "the client was told None" in cell.message
    request, wait = cell.example
    assert request["messages"] == [{"role": "user", "content": "0"}] and wait == 1
