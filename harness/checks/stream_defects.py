"""What is wrong with one client stream, compared with the stream its upstream produced: independent defects.

A stream can carry several bugs at once (a duplicated chunk *and* no finish_reason), so each property is judged on
its own and every defect found is reported, instead of the first one hiding the rest. Text is aligned character by
character, so a repeated, missing or moved chunk is named as such whatever chunk sizes the gateway re-packed the
text into. The finish reason is compared in the words an
OpenAI client must see; tool calls by name and by the JSON value of their arguments (a gateway may re-serialise
them, and may rename ids across providers).
"""

from __future__ import annotations

from difflib import SequenceMatcher
from typing import Any

import orjson

from gatedrill.fakes.content import split_pieces

from ..record import ClientRecord, ReplyChoice

# Each provider's finish reason as an OpenAI chat client must get it (OpenAI's own words map to themselves).
OPENAI_FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_calls", "content_filter": "content_filter",
                 "end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
                 "refusal": "content_filter", "STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter"}

# Defects, in the order a report lists them.
UNSURFACED_ERROR = "upstream_error_not_surfaced"  # the upstream broke the stream; the client got a clean end
ERROR_AT_CLIENT = "error_at_client"  # a whole upstream stream reached the client as an error
MISSING_FINISH = "missing_finish_reason"
MISSING_TERMINATOR = "missing_terminator"  # no data: [DONE]
WRONG_FINISH = "wrong_finish_reason"
DUPLICATED = "duplicated_chunk"
MISSING = "missing_chunk"
REORDERED = "reordered_chunks"
LOST_TAIL = "lost_tail"
ALTERED = "altered_text"
TOOL_CALLS = "tool_call_mismatch"
UNPRODUCED = "reply_never_produced"  # a clean stream with no 200 upstream attempt behind it
DEFECTS = (UNSURFACED_ERROR, ERROR_AT_CLIENT, MISSING_FINISH, MISSING_TERMINATOR, WRONG_FINISH, DUPLICATED, MISSING,
           REORDERED, LOST_TAIL, ALTERED, TOOL_CALLS, UNPRODUCED)


def text_defects(expected: str, got: str, *, tail_may_be_lost: bool) -> list[str]:
    """Duplicated, missing or reordered chunks, a lost tail, or other altered text, from a character alignment.

    `tail_may_be_lost`: the upstream broke this stream, or the client got an error, so a prefix is all it may have.
    Characters, not pieces, are aligned: a repeated chunk can merge with its neighbour into one piece (",,")."""
    if expected == got:
        return []
    if expected.startswith(got):
        return [] if tail_may_be_lost else [LOST_TAIL]
    if sorted(split_pieces(expected)) == sorted(split_pieces(got)):
        return [REORDERED]  # the same pieces in another order (a character alignment can blur a swap)
    deleted: list[tuple[int, int]] = []
    inserted: list[tuple[int, str]] = []  # (position in expected, text)
    found: set[str] = set()
    for op, i1, i2, j1, j2 in SequenceMatcher(None, expected, got, autojunk=False).get_opcodes():
        if op == "replace" and i2 == len(expected) and j2 == len(got) and expected[i1:i2].startswith(got[j1:j2]):
            deleted.append((i1, i2))  # the tail, cut inside a word
        elif op == "replace" and sorted(expected[i1:i2]) == sorted(got[j1:j2]):
            found.add(REORDERED)
        elif op == "replace":
            found.add(ALTERED)
        elif op == "delete":
            deleted.append((i1, i2))
        elif op == "insert":
            inserted.append((i1, got[j1:j2]))
    for at, text in list(inserted):  # a moved block shows as a deletion plus an insertion (its space may shift)
        moved = next((d for d in deleted if sorted(expected[d[0]:d[1]]) == sorted(text)), None)
        if moved is not None:
            deleted.remove(moved)
            inserted.remove((at, text))
            found.add(REORDERED)
    for at, text in inserted:
        k = len(text)
        found.add(DUPLICATED if text in (expected[max(0, at - k):at], expected[at:at + k]) else ALTERED)
    for _, i2 in deleted:
        if i2 < len(expected):
            found.add(MISSING)
        elif not tail_may_be_lost:
            found.add(LOST_TAIL)
    return sorted(found, key=DEFECTS.index)


def _json_value(arguments: Any) -> Any:
    if not isinstance(arguments, str):
        return arguments
    try:
        return orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return arguments


def tool_calls_differ(expected: ReplyChoice, got: list[dict[str, Any]]) -> bool:
    """Do the client's streamed tool calls differ from the upstream's in number, name or argument value?"""
    want = [(c.name, _json_value(c.arguments)) for c in expected.tool_calls]
    have = [(c.get("name"), _json_value(c.get("arguments"))) for c in got]
    return want != have


def expected_finish(expected: ReplyChoice) -> str | None:
    """The finish reason an OpenAI client must see for this upstream reply (None: unknown words, not judged)."""
    if expected.tool_calls:
        return "tool_calls"
    return OPENAI_FINISH.get(expected.finish or "")


def stream_defects(client: ClientRecord, expected: ReplyChoice | None, upstream_broken: bool) -> list[str]:
    """Every defect of one client stream against the upstream reply that served it."""
    explicit_error = client.error_class not in (None, "stream_incomplete")
    found: list[str] = []
    if upstream_broken:
        if client.finished_cleanly and not client.error_class:
            found.append(UNSURFACED_ERROR)
    elif explicit_error:  # its missing finish and terminator are that error's, not more defects
        found.append(ERROR_AT_CLIENT)
    else:
        if client.finish_reason is None:
            found.append(MISSING_FINISH)
        if not (client.done or client.finished_cleanly):  # records before `done` existed: clean implies it
            found.append(MISSING_TERMINATOR)
    if not upstream_broken and not explicit_error:
        want = None if expected is None else expected_finish(expected)
        if client.finish_reason is not None and want is not None and client.finish_reason != want:
            found.append(WRONG_FINISH)
    if expected is None:
        return found
    if expected.text is not None:
        found += text_defects(expected.text, client.text or "", tail_may_be_lost=upstream_broken or explicit_error)
    if not upstream_broken and not explicit_error and tool_calls_differ(expected, client.tool_calls):
        found.append(TOOL_CALLS)
    return sorted(set(found), key=DEFECTS.index)
