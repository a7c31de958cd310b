"""The load generator's parts, one by one: request building, reply parsing, the HTTP client, histograms,
records, progress and the generator's self-judgement. No gevent here: the client runs on plain sockets."""

from __future__ import annotations

import io
import random
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest

from gatedrill.fakes import FakeServer
from gatedrill.fakes.conversation import digest, openai_atoms
from gatedrill.fakes.correlation import CORRELATION_HEADER, SESSION_HEADER, TURN_HEADER, parse_marker
from gatedrill.fakes.tokenizer import count_approx
from gatedrill.harness.load import (
    ClientRecord,
    LatencyHistogram,
    Progress,
    RecordWriter,
    RequestMix,
    RichProgress,
    Session,
    StreamReader,
    judge_generator,
    parse_completion,
    prompt_text,
    read_records,
)
from gatedrill.harness.load.connection import IncompleteBody, Pool, parse_head
from gatedrill.harness.load.conversation import atom_tokens, chat_path
from gatedrill.harness.load.summary import Tally

# -- requests ---------------------------------------------------------------------------------------------


def test_prompt_text_has_exactly_the_asked_number_of_tokens():
    rng = random.Random(0)
    for n in [*range(1, 60), 127, 1000, 5000, 40_000, 70_001]:
        assert count_approx(prompt_text(n, rng)) == n


def test_a_session_resends_its_history_with_each_reply_appended():
    mix = RequestMix(model="m", turns=3, prompt_tokens=7)
    s = Session(mix, 4, seed=1, run_id="r", headers={"authorization": "Bearer k"})
    first = s.next_request()
    assert first is not None and first.turn == 1 and first.session_id == "r-s4"
    s.record_reply("Hello there.")
    second = s.next_request()
    assert second is not None
    body = orjson.loads(second.body)
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
    assert body["messages"][:2] == orjson.loads(first.body)["messages"]
    assert body["messages"][2] == {"role": "assistant", "content": "Hello there."}
    assert second.sent_digest == digest(openai_atoms(body["messages"]))
    assert second.prompt_tokens == atom_tokens(openai_atoms(body["messages"])) + 3
    assert parse_marker(body["user"]) == (second.correlation_id, "r-s4", 2)
    assert second.headers[CORRELATION_HEADER] == "r-s4-t2" and second.headers[SESSION_HEADER] == "r-s4"
    assert second.headers[TURN_HEADER] == "2" and second.headers["authorization"] == "Bearer k"
    s.record_reply("Sure.")
    assert s.next_request() is not None and s.next_request() is None


def test_a_session_is_the_same_whenever_it_runs_and_differs_from_its_neighbours():
    mix = RequestMix(model="m", stream_share=0.5, prompt_tokens={"dist": "uniform", "low": 5, "high": 50})
    a = Session(mix, 7, seed=3, run_id="r").next_request()
    b = Session(mix, 7, seed=3, run_id="r").next_request()
    c = Session(mix, 8, seed=3, run_id="r").next_request()
    assert a is not None and b is not None and c is not None
    assert a.body == b.body and a.stream == b.stream
    assert a.sent_digest != c.sent_digest


def test_chat_path_accepts_an_origin_a_base_url_or_the_endpoint():
    assert chat_path("http://h:1") == "/v1/chat/completions"
    assert chat_path("http://h:1/v1") == "/v1/chat/completions"
    assert chat_path("http://h:1/proxy/v1/") == "/proxy/v1/chat/completions"
    assert chat_path("http://h:1/v1/chat/completions") == "/v1/chat/completions"


# -- replies ----------------------------------------------------------------------------------------------

_STREAM = (
    b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n'
    b'data: {"choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n'
    b'data: {"choices":[{"index":0,"delta":{"content":"lo \xc3\xa9t\xc3\xa9"}}]}\r\n\r\n'
    b'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","function":{"name":"f",'
    b'"arguments":"{\\"a\\""}}]}}]}\n\n'
    b'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":": 1}"}}]}}]}\n\n'
    b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}\n\n'
    b"data: [DONE]\n\n"
)


def test_a_stream_reassembles_the_same_however_its_bytes_are_split():
    for cut in range(1, len(_STREAM)):
        r = StreamReader()
        first = [r.feed(_STREAM[:cut]), r.feed(_STREAM[cut:])]
        reply = r.close()
        assert reply.text == "Hello été"
        assert reply.tool_calls == [{"id": "c1", "name": "f", "arguments": '{"a": 1}'}]
        assert reply.finish_reason == "stop" and reply.done and reply.finished_cleanly
        assert reply.usage == {"prompt_tokens": 3, "completion_tokens": 2} and reply.chunks == 7
        assert first.count(True) == 1


def test_a_stream_without_done_or_with_an_error_event_is_not_clean():
    r = StreamReader()
    r.feed(_STREAM[: _STREAM.index(b"data: [DONE]")])
    assert not r.close().finished_cleanly
    r = StreamReader()
    r.feed(b'data: {"choices":[{"index":0,"delta":{"content":"x"}}]}\n\n'
           b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n')
    reply = r.close()
    assert reply.error_class == "stream_error" and reply.error == "Overloaded" and reply.text == "x"


def test_a_completion_body_is_read_and_a_broken_one_is_flagged():
    ok = parse_completion(orjson.dumps({"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}],
                                        "usage": {"total_tokens": 4}}))
    assert ok.text == "hi" and ok.finished_cleanly and ok.error_class is None
    assert parse_completion(b"{truncated").error_class == "malformed_body"
    assert parse_completion(b'{"error": {"message": "nope"}}').error == "nope"


# -- the HTTP client --------------------------------------------------------------------------------------


def test_the_client_reads_json_and_error_bodies_on_one_kept_alive_connection():
    with FakeServer(provider="openai") as srv:
        pool = Pool("127.0.0.1", srv.port, timeout=5)
        body = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
        for auth in ("Bearer k", "Bearer k", None, "Bearer k"):
            headers = {"content-type": "application/json"} | ({"authorization": auth} if auth else {})
            conn = pool.acquire()
            resp = conn.exchange(pool.head("POST", "/v1/chat/completions", headers, len(body)), body)
            data = resp.read()
            assert resp.complete
            if auth:
                assert resp.status == 200 and parse_completion(data).finished_cleanly
            else:
                assert resp.status == 401 and b"API key" in data
            pool.release(conn, resp.keep_alive)
        assert pool.opened == 1
        pool.close()


def test_the_client_yields_a_stream_as_it_arrives():
    with FakeServer(provider="openai", reply={"output_tokens": 6}, latency={"itl_ms": 60}) as srv:
        pool = Pool("127.0.0.1", srv.port, timeout=5)
        body = orjson.dumps({"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "x"}]})
        conn = pool.acquire()
        resp = conn.exchange(pool.head("POST", "/v1/chat/completions", {"authorization": "Bearer k"}, len(body)),
                             body)
        assert resp.headers["transfer-encoding"] == "chunked"
        times, reader = [], StreamReader()
        for piece in resp.iter_body():
            times.append(time.monotonic())
            reader.feed(piece)
        assert resp.complete and reader.close().finished_cleanly
        assert times[-1] - times[0] > 0.25  # pieces came one by one, not buffered to the end
        pool.close()


@contextmanager
def _raw_server(response: bytes, close: bool = True) -> Iterator[int]:
    """Answers one request on one connection with fixed bytes."""
    srv = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = srv.accept()
        conn.recv(65536)
        conn.sendall(response)
        if close:
            conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield srv.getsockname()[1]
    finally:
        t.join(5)
        srv.close()


def test_the_client_reads_close_delimited_bodies_and_skips_interim_responses():
    raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nConnection: close\r\nX-A: 1\r\nX-A: 2\r\n\r\nall of it"
    with _raw_server(raw) as port:
        pool = Pool("127.0.0.1", port, timeout=5)
        resp = pool.acquire().exchange(b"POST / HTTP/1.1\r\ncontent-length: 0\r\n\r\n", b"")
        assert resp.status == 200 and resp.headers["x-a"] == "1, 2"
        assert resp.read() == b"all of it" and resp.complete and not resp.keep_alive


def test_a_chunked_body_cut_short_raises_incomplete_body():
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n10\r\nonly part"
    with _raw_server(raw) as port:
        pool = Pool("127.0.0.1", port, timeout=5)
        resp = pool.acquire().exchange(b"POST / HTTP/1.1\r\ncontent-length: 0\r\n\r\n", b"")
        got = []
        with pytest.raises(IncompleteBody):
            for piece in resp.iter_body():
                got.append(piece)
        assert b"".join(got) == b"helloonly part" and not resp.complete


def test_parse_head_lowercases_names_and_rejects_garbage():
    status, headers = parse_head(b"HTTP/1.1 429 Too Many\r\nRetry-After: 2\r\nX-Gatedrill-Upstream: canary")
    assert status == 429 and headers == {"retry-after": "2", "x-gatedrill-upstream": "canary"}
    with pytest.raises(Exception, match="HTTP/1"):
        parse_head(b"SSH-2.0-OpenSSH")


# -- histograms, records, tally ---------------------------------------------------------------------------


def test_the_histogram_keeps_percentiles_within_one_percent_from_microseconds_to_minutes():
    rng = random.Random(1)
    values = sorted(10 ** rng.uniform(-6, 1.9) for _ in range(20_000))
    h = LatencyHistogram()
    for v in values:
        h.record(v)
    for q in (1, 50, 90, 99, 99.9):
        exact = values[min(len(values) - 1, int(q / 100 * len(values)))]
        assert h.percentile(q) == pytest.approx(exact, rel=0.012)
    assert h.count == 20_000 and h.clamped == 0


def test_histograms_merge_and_survive_a_round_trip_exactly():
    a, b, both = LatencyHistogram(), LatencyHistogram(), LatencyHistogram()
    for i in range(1, 500):
        a.record(i / 1000)
        both.record(i / 1000)
        b.record(i / 10)
        both.record(i / 10)
    a.merge(b)
    assert a.summary_ms() == both.summary_ms()
    again = LatencyHistogram.from_dict(orjson.loads(orjson.dumps(a.to_dict())))
    assert again.summary_ms() == a.summary_ms()
    h = LatencyHistogram()
    h.record(1e4)
    assert h.clamped == 1 and h.max == pytest.approx(100, rel=0.01)


def test_records_round_trip_through_jsonl_and_a_torn_last_line_is_skipped(tmp_path: Path):
    path = tmp_path / "clients.jsonl"
    recs = [ClientRecord(correlation_id=f"c{i}", session_id="s", turn=i, model="m", stream=bool(i % 2),
                         intended_s=1.0 + i, intended_mono=2.0 + i, sent_mono=2.001 + i, end_mono=2.01 + i,
                         headers={"x-gatedrill-upstream": "a"}, upstream="a", tool_calls=[{"id": "t"}])
            for i in range(5)]
    with RecordWriter(path) as w:
        for r in recs:
            w.write(r)
    with open(path, "ab") as f:
        f.write(b'{"correlation_id": "torn"')
    assert read_records(path) == recs
    assert recs[1].latency_s == pytest.approx(0.01) and recs[1].send_lag_s == pytest.approx(0.001)
    tally = Tally().extend(recs)
    assert tally.requests == 5 and tally.upstream_share() == {"a": 1.0} and tally.streams == 2


# -- the generator's view of itself -----------------------------------------------------------------------


def _summary(started: int, lag_p99: float, **kw: object) -> dict[str, object]:
    return {"mode": "open", "stop_reason": "duration", "scheduled_arrivals": 1000, "started_arrivals": started,
            "tally": {"send_lag": {"p99_ms": lag_p99}}, **kw}


def test_the_generator_calls_itself_the_bottleneck_when_it_falls_behind():
    assert judge_generator(_summary(1000, 3.0)) == (False, [])
    saturated, warnings = judge_generator(_summary(900, 3.0))
    assert saturated and "started 900 of 1000" in warnings[0]
    saturated, warnings = judge_generator(_summary(1000, 80.0, pool_waits=12, max_in_flight=64))
    assert saturated and "send lag p99 80.0 ms" in warnings[0] and "max_in_flight=64" in warnings[0]
    assert judge_generator(_summary(10, 3.0, stop_reason="max_requests"))[0] is False


def test_progress_renders_as_a_plain_line_and_as_a_rich_panel():
    p = Progress(phase="running", elapsed_s=3, duration_s=10, target_rate=50, achieved_rate=49.5, sent=150,
                 completed=148, errors=2, upstream_share={"primary": 0.9, "canary": 0.1})
    line = p.line()
    assert "49.5/s of 50.0/s" in line and "primary=90%" in line and "err 2" in line
    assert p.remaining_s == 7 and Progress.from_dict(p.to_dict()) == p
    out = io.StringIO()
    view = RichProgress(out)
    view(p)
    view.close()
    assert "49.5/s achieved of 50.0/s" in out.getvalue() and "canary" in out.getvalue()


def test_an_error_body_is_read_as_openai_anthropic_or_other_envelope() -> None:
    from gatedrill.harness.load.reply import error_dialect

    openai = b'{"error": {"message": "m", "type": "server_error", "param": null, "code": null}}'
    assert error_dialect(openai) == "openai"
    assert error_dialect(b'{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}') == (
        "anthropic")
    assert error_dialect(b"Internal Server Error") == "other"
    assert error_dialect(b'{"error": "rate limited"}') == "other"
    assert error_dialect(b'{"error": {"message": "no type"}}') == "other"
