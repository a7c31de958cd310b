"""HTTP/1.1 conformance of the fakes' own server (fakes/_http.py), judged on raw bytes over real sockets.

The server is hand-written on httptools for speed, so these tests pin what a general-purpose server would
give for free: keep-alive, Content-Length and chunked request bodies, pipelining in order, `Connection:
close`, HTTP/1.0, `Expect: 100-continue`, a 400 on garbage, the provider's 413 on oversized bodies,
response framing, TCP_NODELAY, and every transport fault at the byte level, each journaled exactly once.
"""

from __future__ import annotations

import contextlib
import email.utils
import itertools
import json
import statistics
import sys
import time
import uuid
from collections.abc import Iterator

import pytest
from rawhttp import (
    ConnectionEnded,
    RawConnection,
    chat_body,
    chunked_head,
    encode_chunk,
    request_bytes,
)

from gatedrill.fakes import CORRELATION_HEADER, FAULT_HEADER, FakeServer
from gatedrill.fakes.journal import Entry

BODY_LIMIT = 1024


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    with FakeServer(provider="openai", max_body_bytes=BODY_LIMIT) as srv:
        yield srv


@pytest.fixture()
def conn(server: FakeServer) -> Iterator[RawConnection]:
    with RawConnection(server.port) as c:
        yield c


def new_cid() -> str:
    return "cid-" + uuid.uuid4().hex[:12]


def fault_headers(fault: dict[str, object], cid: str) -> list[tuple[str, str]]:
    return [(FAULT_HEADER, json.dumps(fault)), (CORRELATION_HEADER, cid)]


def journaled_once(srv: FakeServer, cid: str, timeout: float = 2.0) -> Entry:
    """The single journal entry for `cid`, once its outcome is recorded (the server thread may lag the client)."""
    deadline = time.monotonic() + timeout
    while True:
        found = srv.entries(correlation_id=cid)
        if (len(found) == 1 and found[0].outcome is not None) or time.monotonic() > deadline:
            break
        time.sleep(0.005)
    assert len(found) == 1, f"expected one journal entry for {cid}, found {len(found)}"
    assert found[0].outcome is not None, "journal entry has no outcome"
    return found[0]


# -- connection management -------------------------------------------------------------------------------


def test_keep_alive_serves_three_requests_on_one_connection(conn: RawConnection) -> None:
    ids = set()
    for _ in range(3):
        conn.send(request_bytes(body=chat_body()))
        resp = conn.read_response()
        assert resp.status == 200
        assert resp.header("connection") == "keep-alive"
        ids.add(resp.header("x-request-id"))
    assert len(ids) == 3, "three distinct responses"


def test_content_length_body_is_read_exactly_and_the_next_request_follows(server: FakeServer,
                                                                         conn: RawConnection) -> None:
    cid = new_cid()
    body = chat_body(content="exactly these bytes")
    conn.send(request_bytes(body=body, headers=[(CORRELATION_HEADER, cid)]) + request_bytes("GET", "/v1/models"))
    assert conn.read_response().status == 200
    second = conn.read_response()
    assert second.status == 200 and second.json()["object"] == "list"
    assert journaled_once(server, cid).body == json.loads(body)


def test_chunked_request_body_split_across_chunks_and_sends_is_reassembled(server: FakeServer,
                                                                           conn: RawConnection) -> None:
    cid = new_cid()
    body = chat_body(content="split across several chunks and several sends")
    pieces = [body[:7], body[7:30], body[30:31], body[31:]]
    wire = chunked_head(headers=[(CORRELATION_HEADER, cid)]) + b"".join(encode_chunk(p) for p in pieces) + b"0\r\n\r\n"
    cuts = [0, 20, len(wire) // 3, len(wire) // 3 + 1, len(wire) // 2, len(wire) - 3, len(wire)]
    for a, b in itertools.pairwise(cuts):  # cut mid-head, mid-size-line, mid-data and mid-terminator
        conn.send(wire[a:b])
        time.sleep(0.003)
    resp = conn.read_response()
    assert resp.status == 200, resp.body
    assert journaled_once(server, cid).body == json.loads(body)
    conn.send(request_bytes("GET", "/v1/models"))  # the connection is still in step
    assert conn.read_response().status == 200


def _pipeline() -> tuple[bytes, list[str]]:
    """Three different requests whose answers tell themselves apart, and the object each answers with."""
    wire = (request_bytes(body=chat_body(), headers=[(FAULT_HEADER, '{"kind": "delay", "ms": 120}')])
            + request_bytes("GET", "/v1/models")
            + request_bytes("GET", "/v1/models/gpt-4o"))
    return wire, ["chat.completion", "list", "model"]


def test_pipelined_requests_in_one_send_are_answered_in_order(conn: RawConnection) -> None:
    wire = request_bytes("GET", "/v1/models/gpt-4o") + request_bytes("GET", "/v1/models") + request_bytes(
        body=chat_body())
    conn.send(wire)
    objects = [conn.read_response().json()["object"] for _ in range(3)]
    assert objects == ["model", "list", "chat.completion"]


def test_pipeline_order_holds_when_the_first_response_is_delayed(conn: RawConnection) -> None:
    wire, expected = _pipeline()
    t0 = time.monotonic()
    conn.send(wire)
    first = conn.read_response()
    waited = time.monotonic() - t0
    rest = [conn.read_response() for _ in range(2)]
    assert [r.json()["object"] for r in [first, *rest]] == expected
    assert waited >= 0.1, "the delayed response came first and on time"


def test_connection_close_request_gets_its_response_then_the_server_closes(conn: RawConnection) -> None:
    conn.send(request_bytes(body=chat_body(), headers=[("Connection", "close")]))
    resp = conn.read_response()
    assert resp.status == 200
    assert resp.header("connection") == "close"
    assert conn.ended() == "eof"


def test_http10_without_keep_alive_closes_after_the_response(conn: RawConnection) -> None:
    conn.send(request_bytes("GET", "/v1/models", version="HTTP/1.0"))
    resp = conn.read_response()
    assert resp.status == 200 and resp.header("connection") == "close"
    assert conn.ended() == "eof"


def test_http10_with_keep_alive_stays_open(conn: RawConnection) -> None:
    for _ in range(2):
        conn.send(request_bytes("GET", "/v1/models", version="HTTP/1.0", headers=[("Connection", "keep-alive")]))
        resp = conn.read_response()
        assert resp.status == 200 and resp.header("connection") == "keep-alive"


def test_expect_100_continue_is_answered_before_the_body_is_sent(conn: RawConnection) -> None:
    body = chat_body()
    head = request_bytes(body=body, headers=[("Expect", "100-continue")])[: -len(body)]
    conn.send(head)
    interim = conn.read_head()  # would time out if the server waited for the body
    assert interim.raw == b"HTTP/1.1 100 Continue\r\n\r\n"
    conn.send(body)
    assert conn.read_response().status == 200


def test_expect_100_continue_behind_a_pending_response_does_not_jump_ahead_of_it(conn: RawConnection) -> None:
    body = chat_body()
    conn.send(request_bytes(body=chat_body(), headers=[(FAULT_HEADER, '{"kind": "delay", "ms": 150}')]))
    time.sleep(0.03)  # the first request is being served (delayed) when the second one's headers arrive
    conn.send(request_bytes(body=body, headers=[("Expect", "100-continue")])[: -len(body)])
    first = conn.read_head()
    assert first.status == 200, f"got {first.status} before the pending response"
    assert conn.read_body(first).json()["object"] == "chat.completion"
    conn.sock.settimeout(0.5)
    with contextlib.suppress(TimeoutError):  # a fixed server sends the 100 now, or lets the client go ahead
        assert conn.read_head().status == 100
    conn.sock.settimeout(5)
    conn.send(body)
    assert conn.read_response().status == 200


def test_garbage_bytes_get_400_and_close_and_the_server_keeps_serving(server: FakeServer,
                                                                      conn: RawConnection) -> None:
    conn.send(b"\x16\x03\x01\x02\x00 this is not HTTP\r\n\r\n")
    resp = conn.read_response()
    assert resp.status == 400
    assert resp.header("connection") == "close"
    assert conn.ended() == "eof"
    with RawConnection(server.port) as fresh:
        fresh.send(request_bytes(body=chat_body()))
        assert fresh.read_response().status == 200


def test_garbage_after_a_pipelined_slow_request_gets_400_after_its_response(conn: RawConnection) -> None:
    conn.send(request_bytes(body=chat_body(), headers=[(FAULT_HEADER, '{"kind": "delay", "ms": 50}')])
              + b"GARBAGE \x00\x01\r\n\r\n")
    assert conn.read_response().status == 200
    conn.sock.settimeout(1.0)
    resp = conn.read_response()
    assert resp.status == 400
    assert conn.ended() == "eof"


# -- body limits -----------------------------------------------------------------------------------------


def _assert_provider_413(resp_status: int, body: bytes) -> None:
    assert resp_status == 413
    err = json.loads(body)["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["type"] == "invalid_request_error"
    assert err["code"] == "request_too_large"


def test_declared_content_length_over_the_limit_gets_413_without_the_body_being_sent(
        server: FakeServer, conn: RawConnection) -> None:
    cid = new_cid()
    conn.send(request_bytes(body=b"", content_length=100_000, headers=[(CORRELATION_HEADER, cid)]))
    resp = conn.read_response()  # would time out if the server waited for 100 kB
    _assert_provider_413(resp.status, resp.body)
    assert "100000" in resp.json()["error"]["message"]
    assert conn.ended() == "eof"
    assert journaled_once(server, cid).status == 413


def test_sent_body_over_the_limit_gets_413(conn: RawConnection) -> None:
    body = chat_body(content="x" * (BODY_LIMIT + 10))
    conn.send(request_bytes(body=body))
    resp = conn.read_response()
    _assert_provider_413(resp.status, resp.body)


def test_expect_100_continue_with_an_oversized_body_gets_413_instead_of_continue(conn: RawConnection) -> None:
    conn.send(request_bytes(body=b"", content_length=50_000, headers=[("Expect", "100-continue")]))
    resp = conn.read_response()
    _assert_provider_413(resp.status, resp.body)


def test_chunked_body_that_grows_over_the_limit_gets_413(server: FakeServer, conn: RawConnection) -> None:
    cid = new_cid()
    conn.send(chunked_head(headers=[(CORRELATION_HEADER, cid)]))
    for _ in range(3):  # 3 x 512 bytes: the limit is crossed by the third chunk; no terminator is ever sent
        try:
            conn.send(encode_chunk(b"a" * 512))
        except (BrokenPipeError, ConnectionResetError):
            break
        time.sleep(0.01)
    resp = conn.read_response()
    _assert_provider_413(resp.status, resp.body)
    assert conn.ended() in ("eof", "reset")
    assert journaled_once(server, cid).status == 413


# -- control API and response framing --------------------------------------------------------------------


def test_control_health_answers_and_is_not_journaled(server: FakeServer, conn: RawConnection) -> None:
    before = server.journal.total
    conn.send(request_bytes("GET", "/_gatedrill/health", auth=False))
    resp = conn.read_response()
    assert resp.status == 200
    assert resp.json()["status"] == "ok"
    assert server.journal.total == before


@pytest.mark.parametrize("what", ["json", "error", "control"])
def test_plain_responses_carry_date_and_an_exact_content_length(conn: RawConnection, what: str) -> None:
    wire = {"json": request_bytes(body=chat_body()),
            "error": request_bytes("GET", "/v1/no-such-thing"),
            "control": request_bytes("GET", "/_gatedrill/health", auth=False)}[what]
    conn.send(wire + request_bytes("GET", "/v1/models"))  # the next response must start exactly after the body
    resp = conn.read_response()
    assert email.utils.parsedate_to_datetime(resp.header("date") or "").tzinfo is not None
    assert resp.header("transfer-encoding") is None
    assert int(resp.header("content-length") or -1) == len(resp.body)
    json.loads(resp.body)
    assert conn.read_response().status == 200


def test_sse_stream_is_valid_chunked_encoding_ending_with_the_zero_chunk(conn: RawConnection) -> None:
    conn.send(request_bytes(body=chat_body(stream=True)))
    resp = conn.read_response()
    assert resp.status == 200
    assert (resp.header("content-type") or "").startswith("text/event-stream")
    assert resp.chunked and resp.header("content-length") is None
    assert resp.header("date")
    assert resp.terminated and resp.raw.endswith(b"\r\n0\r\n\r\n")
    data = resp.sse_data()
    assert data[-1] == "[DONE]"
    for payload in data[:-1]:
        assert json.loads(payload)["object"] == "chat.completion.chunk"
    assert resp.body.endswith(b"\n\n")


def test_small_round_trips_on_keep_alive_are_not_stalled_by_nagle(conn: RawConnection) -> None:
    """With Nagle on, a response written in several pieces waits ~40 ms for the client's delayed ACK."""
    drip = (FAULT_HEADER, '{"kind": "slow_drip", "chunk_bytes": 200, "interval_ms": 0}')  # several writes
    for headers in ([], [drip]):
        times = []
        for _ in range(20):
            t0 = time.perf_counter()
            conn.send(request_bytes(body=chat_body(), headers=headers))
            assert conn.read_response().status == 200
            times.append(time.perf_counter() - t0)
        assert statistics.median(times) < 0.005, f"median round trip {statistics.median(times) * 1000:.1f} ms"


# -- transport faults at the byte level ------------------------------------------------------------------


def test_reset_fault_resets_the_connection_before_any_byte(server: FakeServer, conn: RawConnection) -> None:
    cid = new_cid()
    conn.send(request_bytes(body=chat_body(), headers=fault_headers({"kind": "reset"}, cid)))
    data, how = conn.read_to_end()
    assert data == b""
    if sys.platform == "linux":  # an RST surfaces as ECONNRESET here; elsewhere it may read as EOF
        assert how == "reset"
    entry = journaled_once(server, cid)
    assert entry.outcome == "reset" and entry.fault == "reset"


def test_reset_mid_stream_sends_some_chunks_then_resets_without_the_terminator(server: FakeServer,
                                                                              conn: RawConnection) -> None:
    cid = new_cid()
    fault = {"kind": "reset_mid_stream", "after_chunks": 2}
    conn.send(request_bytes(body=chat_body(stream=True), headers=fault_headers(fault, cid)))
    head = conn.read_head()
    assert head.status == 200 and head.chunked
    with pytest.raises(ConnectionEnded) as ended:
        conn.read_body(head)
    if sys.platform == "linux":
        assert ended.value.how == "reset"
    partial = ended.value.partial
    assert partial is not None and not partial.terminated
    assert not partial.raw.endswith(b"0\r\n\r\n")
    data = partial.sse_data()
    contents = [json.loads(d)["choices"][0]["delta"].get("content") for d in data]
    assert len([c for c in contents if c]) == 2
    assert "[DONE]" not in data
    assert journaled_once(server, cid).outcome == "reset"


def test_truncated_stream_ends_cleanly_without_done(server: FakeServer, conn: RawConnection) -> None:
    cid = new_cid()
    conn.send(request_bytes(body=chat_body(stream=True), headers=fault_headers({"kind": "truncate",
                                                                               "after_chunks": 2}, cid)))
    resp = conn.read_response()
    assert resp.status == 200 and resp.terminated and resp.raw.endswith(b"\r\n0\r\n\r\n")
    data = resp.sse_data()
    assert "[DONE]" not in data
    assert all(json.loads(d)["choices"][0]["finish_reason"] is None for d in data)
    entry = journaled_once(server, cid)
    assert entry.fault == "truncate" and entry.outcome is not None


def test_truncated_json_sends_fewer_bytes_than_content_length_then_closes(server: FakeServer,
                                                                          conn: RawConnection) -> None:
    cid = new_cid()
    conn.send(request_bytes(body=chat_body(), headers=fault_headers({"kind": "truncate"}, cid)))
    head = conn.read_head()
    declared = int(head.header("content-length") or 0)
    body, how = conn.read_to_end()
    assert how == "eof"
    assert 0 < len(body) < declared
    entry = journaled_once(server, cid)
    assert entry.fault == "truncate" and entry.outcome == "closed_early"


@pytest.mark.parametrize("stream", [False, True])
def test_malformed_fault_sends_bytes_that_are_not_json(server: FakeServer, conn: RawConnection,
                                                       stream: bool) -> None:
    cid = new_cid()
    conn.send(request_bytes(body=chat_body(stream=stream), headers=fault_headers({"kind": "malformed"}, cid)))
    resp = conn.read_response()
    assert resp.status == 200
    payloads = [p for p in resp.sse_data() if p != "[DONE]"] if stream else [resp.body.decode("latin-1")]
    bad = []
    for p in payloads:
        try:
            json.loads(p)
        except ValueError:
            bad.append(p)
    assert bad, "every payload parsed as JSON"
    assert journaled_once(server, cid).fault == "malformed"


def test_hang_sends_nothing_until_max_seconds_then_closes(server: FakeServer, conn: RawConnection) -> None:
    cid = new_cid()
    t0 = time.monotonic()
    conn.send(request_bytes(body=chat_body(), headers=fault_headers({"kind": "hang", "max_seconds": 0.5}, cid)))
    data, how = conn.read_to_end()
    elapsed = time.monotonic() - t0
    assert data == b"" and how == "eof"
    assert 0.45 <= elapsed < 2.0
    assert journaled_once(server, cid).outcome == "hang_timeout"


def test_slow_drip_delivers_the_response_in_small_pieces_over_time(server: FakeServer,
                                                                    conn: RawConnection) -> None:
    cid = new_cid()
    fault = {"kind": "slow_drip", "chunk_bytes": 64, "interval_ms": 10}
    t0 = time.monotonic()
    conn.send(request_bytes(body=chat_body(), headers=fault_headers(fault, cid)))
    resp = conn.read_response()
    elapsed = time.monotonic() - t0
    assert resp.status == 200 and resp.json()["object"] == "chat.completion"
    sizes = [b - a for (_, a), (_, b) in zip([(0.0, 0), *conn.arrivals], conn.arrivals, strict=False)]
    writes = -(-len(resp.raw) // 64)
    assert len(sizes) >= writes // 2, f"{len(resp.raw)} bytes arrived in only {len(sizes)} pieces"
    assert statistics.median(sizes) <= 64
    assert elapsed >= (writes - 1) * 0.010 * 0.8
    assert journaled_once(server, cid).outcome == "complete"


def test_paced_stream_chunks_arrive_about_one_itl_apart() -> None:
    cfg = {"provider": "openai", "latency": {"ttft_ms": 20, "itl_ms": 20},
           "reply": {"output_tokens": 12}}
    with FakeServer(cfg) as srv, RawConnection(srv.port) as conn:
        cid = new_cid()
        conn.send(request_bytes(body=chat_body(stream=True), headers=[(CORRELATION_HEADER, cid)]))
        resp = conn.read_response()
        content_times = [t for t, c in zip(resp.chunk_times, resp.chunks, strict=True)
                         if b'"content":"' in c]
        assert len(content_times) >= 10
        gaps = [b - a for a, b in itertools.pairwise(content_times)]
        assert 0.015 <= statistics.median(gaps) <= 0.040, f"median gap {statistics.median(gaps) * 1000:.1f} ms"
        assert journaled_once(srv, cid).outcome == "complete"
