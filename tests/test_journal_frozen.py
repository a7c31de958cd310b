"""Finished journal entries are kept frozen (compact tuples) and made into records only when read or written: the
records a reader gets and the lines the spill file gets are the same, whole and redacted, and a kept entry costs
the garbage collector nothing (so a full journal adds nothing to collection pauses)."""

from __future__ import annotations

import gc
import http.client
import json
import time
from pathlib import Path

from gatedrill.fakes import REDACTED, FakeServer

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
BODIES = [
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello."}]},
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Stream it."}], "stream": True,
     "stream_options": {"include_usage": True}, "metadata": {"api_key": "sk-secret-in-body-123456"}},
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Weather?"}], "tools": TOOLS},
    {"model": "no-such-model", "messages": [{"role": "user", "content": "Hi"}]},
]


def _send(srv: FakeServer) -> None:
    """Send the bodies and wait until the fake has finished journaling the last one (it answers first)."""
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    for body in BODIES:
        c.request("POST", "/v1/chat/completions", json.dumps(body),
                  {"content-type": "application/json", "authorization": "Bearer sk-header-secret-123456",
                   "x-trace": "t-1"})
        c.getresponse().read()
    c.request("POST", "/v1/chat/completions", b"{not json", {"authorization": "Bearer sk-x"})
    c.getresponse().read()
    c.close()
    deadline = time.monotonic() + 5
    while srv.fake.journal.stats()["open"] and time.monotonic() < deadline:
        time.sleep(0.01)


def test_records_read_and_spilled_lines_are_the_same_whole_and_redacted(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    with FakeServer(provider="openai", journal={"path": str(path)}) as srv:
        _send(srv)
        page, _ = srv.fake.journal.page(0, 100)
    spilled = [json.loads(line) for line in path.read_bytes().splitlines()]
    assert len(page) == len(spilled) == len(BODIES) + 1
    assert page == spilled
    by_seq = {r["seq"]: r for r in page}
    assert by_seq[0]["body"] == BODIES[0]
    assert by_seq[0]["headers"]["authorization"] == REDACTED and by_seq[0]["headers"]["x-trace"] == "t-1"
    assert by_seq[1]["body"]["metadata"]["api_key"] == REDACTED
    assert "sk-secret-in-body" not in path.read_text() and "sk-header-secret" not in path.read_text()
    assert by_seq[1]["reply"]["choices"][0]["chunks"] > 1 and by_seq[1]["stream"] is True
    call = by_seq[2]["reply"]["choices"][0]["tool_calls"][0]
    assert call["name"] == "get_weather" and json.loads(call["arguments"])["city"]
    assert by_seq[3]["status"] == 404 and by_seq[3]["reply"] is None and "does not exist" in by_seq[3]["error"]
    assert by_seq[4]["status"] == 400 and by_seq[4]["body"] is None
    for r in page:
        assert r["outcome"] == "complete" and r["first_byte_wall"] >= r["arrival_wall"]


def test_kept_entries_are_not_tracked_by_the_garbage_collector() -> None:
    with FakeServer(provider="openai") as srv:
        _send(srv)
        gc.collect()  # one collection that sees them untracks them (nested tuples would take one pass a level)
        kept = list(srv.fake.journal._records.values())
        assert len(kept) == len(BODIES) + 1
        assert all(isinstance(k, tuple) for k in kept)
        assert not any(gc.is_tracked(k) for k in kept)
        assert [e.to_dict()["body"] for e in srv.fake.entries()][:1] == [BODIES[0]]
