"""Stream-break faults on every dialect that streams, read off the wire with raw HTTP on 127.0.0.1.

For each provider the raw stream is labelled event by event (content, end, error, other) in that
provider's own framing: SSE for OpenAI, Azure, Anthropic and Gemini, the AWS event stream for Bedrock
(decoded by botocore, which checks its CRCs). The tests pin what a gateway under test will see: an error
after N chunks, an error as a 200 stream's only message, a close without the terminator, a stall before
the headers or after the first bytes, and an outage that ends by itself.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from botocore.eventstream import EventStreamBuffer

from gatedrill.fakes import FakeServer

_SIGV4 = ("AWS4-HMAC-SHA256 Credential=AKIAGATEDRILLTEST01/20250101/us-east-1/bedrock/aws4_request, "
          "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64)


def _sse_blocks(raw: bytes) -> list[str]:
    return [b for b in raw.decode("utf-8", "replace").replace("\r\n", "\n").split("\n\n") if b.strip()]


def _openai_labels(raw: bytes) -> list[str]:
    out = []
    for block in _sse_blocks(raw):
        data = block.split("data: ", 1)[1]
        if data == "[DONE]":
            out.append("end")
            continue
        obj = json.loads(data)
        if "error" in obj:
            out.append("error")
        elif obj.get("choices") and (obj["choices"][0]["delta"].get("content") or
                                     obj["choices"][0]["delta"].get("tool_calls")):
            out.append("content")
        else:
            out.append("other")
    return out


def _anthropic_labels(raw: bytes) -> list[str]:
    names = [b.split("\n", 1)[0].removeprefix("event: ") for b in _sse_blocks(raw)]
    return [{"content_block_delta": "content", "message_stop": "end", "error": "error"}.get(n, "other")
            for n in names]


def _gemini_labels(raw: bytes) -> list[str]:
    out = []
    for block in _sse_blocks(raw):
        obj = json.loads(block.removeprefix("data: "))
        if "error" in obj:
            out.append("error")
        elif obj["candidates"][0].get("finishReason"):
            out.append("end")
        else:
            out.append("content")
    return out


def _bedrock_labels(raw: bytes) -> list[str]:
    buf = EventStreamBuffer()
    buf.add_data(raw)
    out = []
    for msg in buf:
        h = msg.headers
        if h[":message-type"] == "exception":
            out.append("error")
        else:
            out.append({"contentBlockDelta": "content", "messageStop": "end"}.get(h[":event-type"], "other"))
    return out


@dataclass
class Wire:
    provider: str
    path: str
    body: dict[str, Any]
    labels: Callable[[bytes], list[str]]
    headers: dict[str, str] = field(default_factory=dict)


_MSGS = [{"role": "user", "content": "Tell me a story."}]
WIRES = [
    Wire("openai", "/v1/chat/completions", {"model": "gpt-4o-mini", "messages": _MSGS, "stream": True},
         _openai_labels, {"authorization": "Bearer sk-test"}),
    Wire("azure", "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21",
         {"messages": _MSGS, "stream": True}, _openai_labels, {"api-key": "az-test"}),
    Wire("anthropic", "/v1/messages", {"model": "claude-haiku-4-5", "max_tokens": 200, "messages": _MSGS,
                                       "stream": True},
         _anthropic_labels, {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}),
    Wire("gemini", "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
         {"contents": [{"role": "user", "parts": [{"text": "Tell me a story."}]}]}, _gemini_labels,
         {"x-goog-api-key": "gk-test"}),
    Wire("bedrock", "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream",
         {"messages": [{"role": "user", "content": [{"text": "Tell me a story."}]}]}, _bedrock_labels,
         {"authorization": _SIGV4, "x-amz-date": "20250101T000000Z"}),
]


@pytest.fixture(scope="module", params=WIRES, ids=[w.provider for w in WIRES])
def wire(request: pytest.FixtureRequest) -> Iterator[tuple[Wire, FakeServer]]:
    w: Wire = request.param
    with FakeServer(provider=w.provider, reply={"output_tokens": {"dist": "fixed", "value": 12}}) as srv:
        yield w, srv


def send(wire: tuple[Wire, FakeServer], fault: dict[str, Any] | None = None) -> tuple[int, bytes, float, float]:
    """(status, body bytes, seconds to headers, seconds to the end); the body stops where the server stopped."""
    w, srv = wire
    headers = {**w.headers, **({"x-gatedrill-fault": json.dumps(fault)} if fault else {})}
    t0 = time.monotonic()
    with httpx.stream("POST", srv.url + w.path, json=w.body, headers=headers, timeout=10) as r:
        t_head = time.monotonic() - t0
        body = bytearray()
        try:
            for chunk in r.iter_raw():
                body += chunk
        except httpx.RemoteProtocolError:
            body += b""  # the server closed mid-body: keep what arrived
        return r.status_code, bytes(body), t_head, time.monotonic() - t0


def last_outcome(srv: FakeServer) -> str | None:
    """The last entry's outcome, once the server has finished writing it (just after the client's last byte)."""
    deadline = time.monotonic() + 2
    while srv.entries()[-1].outcome is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return srv.entries()[-1].outcome


def test_a_clean_stream_has_content_then_its_terminator(wire: tuple[Wire, FakeServer]) -> None:
    status, body, _, _ = send(wire)
    labels = wire[0].labels(body)
    assert (status == 200 and labels.count("content") >= 12 and labels[-1] == "end") or labels[-2:] == ["end", "other"]
    assert "error" not in labels


def test_error_event_after_n_chunks_and_no_terminator(wire: tuple[Wire, FakeServer]) -> None:
    status, body, _, _ = send(wire, {"kind": "stream_error", "after_chunks": 4, "status": 500})
    labels = wire[0].labels(body)
    assert status == 200 and labels.count("content") == 4 and labels[-1] == "error" and "end" not in labels
    assert last_outcome(wire[1]) == "error_event"  # a 200 that is not a success, in the ground truth


def test_error_as_the_only_message_of_a_200_stream(wire: tuple[Wire, FakeServer]) -> None:
    status, body, _, _ = send(wire, {"kind": "error_only_stream", "status": 503})
    assert status == 200 and wire[0].labels(body) == ["error"]
    assert last_outcome(wire[1]) == "error_event"


def test_close_after_partial_content_leaves_no_terminator_and_an_incomplete_body(
        wire: tuple[Wire, FakeServer]) -> None:
    w, srv = wire
    headers = {**w.headers, "x-gatedrill-fault": json.dumps({"kind": "close_mid_stream", "after_chunks": 3})}
    with httpx.stream("POST", srv.url + w.path, json=w.body, headers=headers, timeout=10) as r:
        body = bytearray()
        with pytest.raises(httpx.RemoteProtocolError):  # no last chunk: the client knows the body was cut
            for chunk in r.iter_raw():
                body += chunk
    labels = w.labels(bytes(body))
    assert labels.count("content") == 3 and "end" not in labels and "error" not in labels
    assert last_outcome(srv) == "closed_early"


def test_stall_before_headers_holds_the_status_line(wire: tuple[Wire, FakeServer]) -> None:
    status, body, t_head, _ = send(wire, {"kind": "stall", "seconds": 0.6})
    assert status == 200 and t_head >= 0.55
    assert wire[0].labels(body).count("end") == 1


def test_stall_after_the_first_bytes_sends_headers_then_goes_silent(wire: tuple[Wire, FakeServer]) -> None:
    status, body, t_head, t_end = send(wire, {"kind": "stall", "seconds": 0.6, "after_chunks": 1})
    assert status == 200 and t_head < 0.4 and t_end - t_head >= 0.55
    assert wire[0].labels(body).count("end") == 1


def test_an_outage_rule_with_end_s_goes_down_and_recovers_by_itself(wire: tuple[Wire, FakeServer]) -> None:
    """Down-then-recover is one fault rule (one timeline `set_faults` action): `when.end_s` ends it."""
    _, srv = wire
    srv.set_faults([{"name": "outage", "fault": {"kind": "http_error", "status": 503}, "when": {"end_s": 0.5}}])
    try:
        assert send(wire)[0] == 503
        time.sleep(0.6)
        assert send(wire)[0] == 200
    finally:
        srv.clear_faults()
