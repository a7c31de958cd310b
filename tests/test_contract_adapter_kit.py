"""The adapter contract kit catches broken adapters, each with a small shrunk counter-example, and passes
correct ones: our Python baseline adapter (in-process, intercepted) and the reference gateway (over HTTP)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from kit_cells import assert_cell_passes, cell_params

from gatedrill.contracts.adapter_kit import (
    AnthropicAdapter,
    Cell,
    Matrix,
    PythonAdapterTarget,
    ReferenceGatewayTarget,
    Target,
    property_named,
    run_kit,
    run_property,
)
from gatedrill.contracts.adapter_kit.rules import anthropic_problems

EXAMPLES = 25


class DropsSystem(AnthropicAdapter):
    def request(self, unified: dict[str, Any], model: str) -> dict[str, Any]:
        out = super().request(unified, model)
        out.pop("system", None)
        return out


class NoMerging(AnthropicAdapter):
    """Sends each OpenAI message as its own Anthropic turn: consecutive user turns reach Anthropic."""

    def request(self, unified: dict[str, Any], model: str) -> dict[str, Any]:
        out = super().request(unified, model)
        turns: list[dict[str, Any]] = []
        for m in unified["messages"]:
            if m["role"] in ("system", "developer"):
                continue
            single = super().request({"model": model, "messages": [m]}, model)["messages"]
            turns.extend(single or [{"role": m["role"], "content": [{"type": "text", "text": "-"}]}])
        out["messages"] = turns
        return out


class LosesToolCallIds(AnthropicAdapter):
    """Renames tool-call ids consistently: valid for Anthropic, but the client's ids are gone."""

    def request(self, unified: dict[str, Any], model: str) -> dict[str, Any]:
        out = super().request(unified, model)
        names: dict[str, str] = {}
        for m in out["messages"]:
            for b in m["content"]:
                if b["type"] == "tool_use":
                    b["id"] = names.setdefault(b["id"], f"toolu_{len(names)}")
                elif b["type"] == "tool_result":
                    b["tool_use_id"] = names.setdefault(b["tool_use_id"], f"toolu_{len(names)}")
        return out


class ExplainsEmptyMessages(AnthropicAdapter):
    """Replaces an empty user message with a note of its own instead of dropping it."""

    def request(self, unified: dict[str, Any], model: str) -> dict[str, Any]:
        filled = [{**m, "content": "(empty message)"} if m.get("content") == "" else m for m in unified["messages"]]
        return super().request({**unified, "messages": filled}, model)


class RateLimitTo500(AnthropicAdapter):
    def error(self, status: int, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, str]]:
        code, kept = super().error(status, headers, body)
        return (500 if code == 429 else code), kept


class SwallowsStreamErrors(AnthropicAdapter):
    """Drops a mid-stream error event and ends the stream as if it were complete."""

    def chunks(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = [c for c in super().chunks(events) if "error" not in c]
        if not any(ch.get("finish_reason") for c in out for ch in c.get("choices") or ()):
            out.append({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {},
                                                                        "finish_reason": "stop"}]})
        return out


def run(adapter: AnthropicAdapter, prop: str) -> Cell:
    with PythonAdapterTarget(adapter, name=type(adapter).__name__) as target:
        return run_property(target, property_named(prop), max_examples=EXAMPLES)


def size(example: Any) -> int:
    return len(orjson.dumps(example))


# -- the baseline passes -----------------------------------------------------------------------------------


def test_the_correct_python_adapter_passes_every_property() -> None:
    matrix = run_kit([PythonAdapterTarget()], max_examples=EXAMPLES)
    assert matrix.passed, matrix.render()
    assert {c.prop for c in matrix.cells} == {
        "upstream_request_valid", "nothing_lost", "nothing_invented", "reply_translated", "stream_translated",
        "stream_error_surfaces", "rate_limit_429", "overloaded_retryable", "context_error_400"}


@pytest.fixture(scope="module")
def reference_matrix() -> Matrix:
    return run_kit([ReferenceGatewayTarget("anthropic"), ReferenceGatewayTarget("openai")], max_examples=15)


@pytest.mark.parametrize(("prop", "target"), cell_params(("reference/anthropic", "reference/openai"), {}))
def test_the_reference_gateway_keeps_the_contract_over_http(reference_matrix: Matrix, prop: str, target: str) -> None:
    assert_cell_passes(reference_matrix, prop, target)


# -- broken adapters are caught with small counter-examples -----------------------------------------------


def test_dropping_the_system_prompt_is_caught_as_lost_with_a_minimal_example() -> None:
    cell = run(DropsSystem(), "nothing_lost")
    assert not cell.passed and "system text" in cell.message, cell.message
    messages = cell.example["messages"]
    assert {m["role"] for m in messages} & {"system", "developer"} and len(messages) == 2, messages
    assert size(cell.example) < 150, cell.example_json()


def test_consecutive_user_turns_to_anthropic_are_caught_with_a_minimal_example() -> None:
    cell = run(NoMerging(), "upstream_request_valid")
    assert not cell.passed and "must alternate" in cell.message, cell.message
    assert [m["role"] for m in cell.example["messages"]] == ["user", "user"], cell.example_json()
    assert size(cell.example) < 150, cell.example_json()


def test_a_lost_tool_call_id_is_caught_with_a_minimal_example() -> None:
    cell = run(LosesToolCallIds(), "nothing_lost")
    assert not cell.passed and "tool call id=" in cell.message, cell.message
    roles = [m["role"] for m in cell.example["messages"]]
    assert roles == ["user", "assistant", "tool"], cell.example_json()
    (call,) = cell.example["messages"][1]["tool_calls"]
    assert call["function"]["arguments"] == "{}", call
    assert size(cell.example) < 400, cell.example_json()


def test_text_the_user_never_sent_is_caught_as_invented_with_a_minimal_example() -> None:
    cell = run(ExplainsEmptyMessages(), "nothing_invented")
    assert not cell.passed and "user text: (empty message)" in cell.message, cell.message
    assert {m["content"] for m in cell.example["messages"]} == {"", "0"}, cell.example_json()
    assert size(cell.example) < 150, cell.example_json()


def test_a_429_mapped_to_500_is_caught_with_a_minimal_example() -> None:
    cell = run(RateLimitTo500(), "rate_limit_429")
    assert not cell.passed and "became status 500" in cell.message, cell.message
    request, wait = cell.example
    assert wait == 1 and request["messages"] == [{"role": "user", "content": "0"}], cell.example_json()


def test_a_swallowed_mid_stream_error_is_caught_with_a_minimal_example() -> None:
    cell = run(SwallowsStreamErrors(), "stream_error_surfaces")
    assert not cell.passed and "became a 200 stream with finish_reason 'stop'" in cell.message, cell.message
    request, after = cell.example
    assert after == 0 and request["messages"] == [{"role": "user", "content": "0"}], cell.example_json()


def test_the_reference_gateways_rate_limit_to_500_mutant_is_caught() -> None:
    with ReferenceGatewayTarget("anthropic", mutant="rate_limit_to_500") as target:
        cell = run_property(target, property_named("rate_limit_429"), max_examples=5)
    assert not cell.passed and "became status 500" in cell.message, cell.message
    assert cell.target == "reference[rate_limit_to_500]/anthropic"


# -- the pieces ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "problem"), [
    ({"model": "m", "messages": [{"role": "user", "content": "a"}]}, "max_tokens is missing"),
    ({"model": "m", "max_tokens": 1, "messages": [{"role": "system", "content": "s"},
                                                   {"role": "user", "content": "a"}]}, "system message is left"),
    ({"model": "m", "max_tokens": 1, "messages": [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "text", "text": "x"},
                                     {"type": "tool_result", "tool_use_id": "t1", "content": "r"}]}]},
     "tool_result blocks must come before"),
    ({"model": "m", "max_tokens": 1, "messages": [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t2", "content": "r"}]}]},
     "expected exactly ['t1']"),
])
def test_anthropic_rules_name_each_broken_rule(body: dict[str, Any], problem: str) -> None:
    assert any(problem in p for p in anthropic_problems(body)), anthropic_problems(body)


def test_the_matrix_renders_failures_with_their_example_and_as_junit(tmp_path: Any) -> None:
    with PythonAdapterTarget(RateLimitTo500(), name="broken") as target:
        cells = [run_property(target, property_named(p), max_examples=5)
                 for p in ("rate_limit_429", "context_error_400")]
    matrix = Matrix("adapter contract: broken", cells)
    text = matrix.render()
    assert "rate_limit_429" in text and "FAIL" in text and "counter-example (shrunk)" in text
    assert "1 of 2 passed" in text
    matrix.write_junit(tmp_path / "j.xml")
    xml = (tmp_path / "j.xml").read_text()
    assert 'failures="1"' in xml and "<failure" in xml and 'name="context_error_400"' in xml


def test_a_target_that_reaches_no_upstream_fails_with_that_reason() -> None:
    class Silent(PythonAdapterTarget):
        def send(self, request: dict[str, Any]) -> Any:
            from gatedrill.contracts.adapter_kit import Outcome

            return Outcome(200, {"choices": []})

    target: Target
    with Silent() as target:
        cell = run_property(target, property_named("reply_translated"), max_examples=3)
    assert not cell.passed and "no request reached the anthropic upstream" in cell.message


def test_the_reference_gateways_lose_stream_tail_mutant_is_caught() -> None:
    with ReferenceGatewayTarget("anthropic", mutant="lose_stream_tail") as target:
        cell = run_property(target, property_named("stream_translated"), max_examples=10)
    assert not cell.passed and cell.message.startswith("stream:"), cell.message


def test_gatedrill_contract_adapter_prints_the_matrix_writes_junit_and_exits_by_the_result(tmp_path: Any) -> None:
    from click.testing import CliRunner

    from gatedrill.cli import main

    runner = CliRunner()
    ok = runner.invoke(main, ["contract", "--adapter", "python", "--junit", str(tmp_path / "ok.xml")])
    assert ok.exit_code == 0, ok.output
    assert "9 of 9 passed" in ok.output and 'failures="0"' in (tmp_path / "ok.xml").read_text()
    bad = runner.invoke(main, ["contract", "--adapter", "reference", "--provider", "openai", "--mutant",
                               "rate_limit_to_500", "--max-examples", "5"])
    assert bad.exit_code == 1, bad.output
    assert "FAIL rate_limit_429 x reference[rate_limit_to_500]/openai" in bad.output
    unknown = runner.invoke(main, ["contract", "--adapter", "nope"])
    assert unknown.exit_code == 2 and "unknown adapter 'nope'" in unknown.output
