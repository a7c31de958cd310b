"""The neutral conversation view: the same conversation digests the same in either dialect."""

from __future__ import annotations

from gatedrill.fakes.conversation import anthropic_atoms, digest, openai_atoms, turn_of
from gatedrill.fakes.correlation import make_marker, parse_marker

OPENAI = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": None,
     "tool_calls": [{"id": "call_1", "type": "function",
                     "function": {"name": "weather", "arguments": '{"city": "Paris", "unit": "c"}'}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"},
    {"role": "assistant", "content": "18C, sunny."},
    {"role": "user", "content": "And tomorrow?"},
]
ANTHROPIC_SYSTEM = "You are terse."
ANTHROPIC = [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_9", "name": "weather",
                                       "input": {"unit": "c", "city": "Paris"}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9", "content": "18C and sunny"}]},
    {"role": "assistant", "content": [{"type": "text", "text": "18C, sunny."}]},
    {"role": "user", "content": "And tomorrow?"},
]


def test_translated_conversation_has_the_same_digest() -> None:
    assert digest(openai_atoms(OPENAI)) == digest(anthropic_atoms(ANTHROPIC_SYSTEM, ANTHROPIC))


def test_system_as_blocks_equals_system_as_string() -> None:
    blocks = [{"type": "text", "text": ANTHROPIC_SYSTEM}]
    assert digest(anthropic_atoms(blocks, ANTHROPIC)) == digest(anthropic_atoms(ANTHROPIC_SYSTEM, ANTHROPIC))


def test_merging_consecutive_user_turns_keeps_the_digest() -> None:
    split = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    merged = [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]
    assert digest(openai_atoms(split)) == digest(anthropic_atoms(None, merged))


def test_any_change_to_history_changes_the_digest() -> None:
    base = digest(openai_atoms(OPENAI))
    dropped = OPENAI[:1] + OPENAI[2:]
    edited = [*OPENAI[:4], {"role": "assistant", "content": "19C, sunny."}, OPENAI[5]]
    reordered = [OPENAI[0], OPENAI[5], *OPENAI[1:5]]
    no_system = OPENAI[1:]
    for variant in (dropped, edited, reordered, no_system):
        assert digest(openai_atoms(variant)) != base


def test_turn_counts_assistant_runs() -> None:
    assert turn_of(openai_atoms(OPENAI)) == 3
    assert turn_of(openai_atoms(OPENAI[:2])) == 1


def test_markers_round_trip() -> None:
    assert parse_marker(make_marker("req-1", "sess-2", 3)) == ("req-1", "sess-2", 3)
    assert parse_marker("prefix " + make_marker("only") + " suffix") == ("only", None, None)
    assert parse_marker("no marker here") == (None, None, None)


def test_a_json_tool_result_digests_by_value_whatever_its_spacing_or_key_order() -> None:
    """Gateways carry a JSON tool result to Gemini as an object and the fake reads it back: same history."""
    def conv(result: str) -> list[dict[str, object]]:
        return [{"role": "user", "content": "Weather?"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "w", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": result}]
    same = digest(openai_atoms(conv('{"city":"Paris","t":18}')))
    assert digest(openai_atoms(conv('{"t": 18, "city": "Paris"}'))) == same
    assert digest(openai_atoms(conv('{"city":"Paris","t":19}'))) != same
    assert digest(openai_atoms(conv("sunny"))) != digest(openai_atoms(conv("rainy")))
