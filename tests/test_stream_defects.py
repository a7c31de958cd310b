"""Each defect of a client stream is named on its own, so a second bug in the same stream is not hidden by the first
(issue 13, item 2): repeated, missing and moved chunks, a lost tail, finish reasons in OpenAI's words, `[DONE]`, and
streamed tool calls. Records are built directly; the checks' real runs live in test_check_streaming_integrity.py."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gatedrill.fakes.content import split_pieces
from gatedrill.harness.checks.stream_defects import stream_defects, text_defects
from gatedrill.harness.record import ClientRecord, ReplyChoice, ToolCallRecord

TEXT = "The quick brown fox jumps over the lazy dog, then naps beside the warm stove until dusk."


def client(text: str = TEXT, *, finish: str | None = "stop", done: bool = True, error: str | None = None,
           tool_calls: list[dict[str, Any]] | None = None) -> ClientRecord:
    clean = finish is not None and done and error is None
    if error is None and not clean:
        error = "stream_incomplete"
    return ClientRecord(correlation_id="c", session_id="s", turn=1, model="m", stream=True, intended_s=0.0,
                        intended_mono=0.0, text=text, finish_reason=finish, done=done, finished_cleanly=clean,
                        error_class=error, tool_calls=tool_calls or [])


def upstream(text: str | None = TEXT, finish: str = "end_turn", calls: list[ToolCallRecord] | None = None
             ) -> ReplyChoice:
    return ReplyChoice(text=text, finish=finish, chunks=len(split_pieces(text or "")), tool_calls=calls or [])


def pieces_with(op: str, at: int) -> str:
    p = split_pieces(TEXT)
    if op == "duplicate":
        p.insert(at + 1, p[at])
    elif op == "drop":
        del p[at]
    elif op == "swap":
        p[at], p[at + 1] = p[at + 1], p[at]
    return "".join(p)


def test_an_exact_stream_has_no_defect() -> None:
    assert stream_defects(client(), upstream(), upstream_broken=False) == []


def test_a_repeated_chunk_and_a_missing_finish_reason_are_both_reported() -> None:
    # The case: before, this stream counted once, as "broken at client", and the repeat was invisible.
    got = client(pieces_with("duplicate", 3), finish=None)
    assert stream_defects(got, upstream(), upstream_broken=False) == ["missing_finish_reason", "duplicated_chunk"]


def test_a_missing_terminator_is_its_own_defect() -> None:
    assert stream_defects(client(done=False), upstream(), False) == ["missing_terminator"]
    assert stream_defects(client(finish=None, done=False), upstream(), False) == ["missing_finish_reason",
                                                                                  "missing_terminator"]


def test_missing_and_reordered_chunks_are_named() -> None:
    assert stream_defects(client(pieces_with("drop", 5)), upstream(), False) == ["missing_chunk"]
    assert stream_defects(client(pieces_with("swap", 5)), upstream(), False) == ["reordered_chunks"]


def test_a_lost_tail_on_a_clean_stream_fails_but_a_broken_upstream_may_lose_it() -> None:
    cut = TEXT[:30]
    assert stream_defects(client(cut), upstream(), False) == ["lost_tail"]
    assert stream_defects(client(cut, finish=None, done=False, error="stream_error"), upstream(), True) == []


def test_an_incomplete_stream_is_still_compared_with_the_upstream() -> None:
    # The upstream broke mid-way and the client got an error, but the text that got through repeats a chunk.
    prefix = "".join(split_pieces(pieces_with("duplicate", 2))[:8])
    got = client(prefix, finish=None, done=False, error="stream_error")
    assert stream_defects(got, upstream(), upstream_broken=True) == ["duplicated_chunk"]


def test_an_upstream_break_passed_off_as_clean_is_reported() -> None:
    assert stream_defects(client(TEXT[:20]), upstream(), upstream_broken=True) == ["upstream_error_not_surfaced"]


def test_a_good_stream_the_gateway_turned_into_an_error_is_one_defect() -> None:
    got = client(TEXT[:20], finish=None, done=False, error="stream_error")
    assert stream_defects(got, upstream(), upstream_broken=False) == ["error_at_client"]


def test_finish_reasons_are_compared_in_openai_words() -> None:
    assert stream_defects(client(finish="stop"), upstream(finish="end_turn"), False) == []
    assert stream_defects(client(finish="length"), upstream(finish="max_tokens"), False) == []
    assert stream_defects(client(finish="stop"), upstream(finish="max_tokens"), False) == ["wrong_finish_reason"]
    assert stream_defects(client(finish="stop"), upstream(finish="MAX_TOKENS"), False) == ["wrong_finish_reason"]
    assert stream_defects(client(finish="stop"), upstream(finish="some_new_reason"), False) == []


def test_streamed_tool_calls_are_compared_by_name_and_argument_value() -> None:
    calls = [ToolCallRecord(id="toolu_1", name="get_weather", arguments='{"city": "Paris", "days": 3}')]
    want = upstream(text="", finish="tool_use", calls=calls)
    same = [{"id": "call_9", "name": "get_weather", "arguments": '{"days":3,"city":"Paris"}'}]
    assert stream_defects(client("", finish="tool_calls", tool_calls=same), want, False) == []
    dropped = [{"id": "toolu_1", "name": "get_weather", "arguments": ""}]  # LiteLLM #20711, #27144
    assert stream_defects(client("", finish="tool_calls", tool_calls=dropped), want, False) == ["tool_call_mismatch"]
    assert stream_defects(client("", finish="stop", tool_calls=same), want, False) == ["wrong_finish_reason"]
    assert stream_defects(client("", finish="tool_calls"), want, False) == ["tool_call_mismatch"]


@given(st.sampled_from(["duplicate", "drop", "swap"]), st.integers(1, len(split_pieces(TEXT)) - 3))
def test_each_single_chunk_defect_is_named_wherever_it_is(op: str, at: int) -> None:
    got = pieces_with(op, at)
    named = {"duplicate": "duplicated_chunk", "drop": "missing_chunk", "swap": "reordered_chunks"}[op]
    defects = text_defects(TEXT, got, tail_may_be_lost=False)
    if got == TEXT:  # swapping two equal pieces changes nothing
        assert defects == []
    else:
        assert defects == [named], (op, at, got)


@given(st.integers(0, len(TEXT) - 1))
def test_any_prefix_is_a_lost_tail_and_only_that(n: int) -> None:
    assert text_defects(TEXT, TEXT[:n], tail_may_be_lost=False) == ["lost_tail"]
    assert text_defects(TEXT, TEXT[:n], tail_may_be_lost=True) == []
