"""harness.sse is the one SSE parser (load generator, reference gateway, contract checks, adapter kit): however a
stream is cut into reads, it yields the events that were sent, named and with their data lines joined."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gatedrill.harness.sse import SseParser, parse_sse, sse_data

line = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)
event = st.tuples(st.none() | st.sampled_from(["message_start", "error", "ping"]), st.lists(line, max_size=3)).filter(
    lambda e: e[0] is not None or bool(e[1]))  # an event with neither is only a blank line


def encode(name: str | None, data: list[str], crlf: bool) -> bytes:
    lines = ([f"event: {name}"] if name else []) + [f"data: {d}" for d in data] + [""]
    nl = "\r\n" if crlf else "\n"
    return (nl.join(lines) + nl).encode()


@given(events=st.lists(event, max_size=8), cuts=st.lists(st.integers(0, 2000), max_size=10), crlf=st.booleans())
def test_events_come_out_as_sent_however_the_stream_is_cut(events: list[tuple[str | None, list[str]]],
                                                           cuts: list[int], crlf: bool) -> None:
    body = b"".join(encode(n, d, crlf) for n, d in events)
    parser, got = SseParser(), []
    start = 0
    for cut in [*sorted({min(c, len(body)) for c in cuts}), len(body)]:
        got += parser.feed(body[start:cut])
        start = cut
    sent = [(n, "\n".join(d), bool(d)) for n, d in events]
    assert [(e.event, e.data, e.has_data) for e in got] == sent
    assert parser.pending == b"" and parser.close() == []


def test_a_cut_last_event_is_pending_and_close_returns_it() -> None:
    events, pending = parse_sse(b"data: {\"a\": 1}\n\ndata: [DONE]")
    assert [e.data for e in events] == ['{"a": 1}'] and pending == b"data: [DONE]"
    assert sse_data(b"data: {\"a\": 1}\n\n: comment\n\ndata: {\"b\": 2}") == [{"a": 1}, {"b": 2}]
