"""The load generator for real: a worker process drives a fake OpenAI upstream directly as the "gateway".

Each test bounds its load in rate, duration and max_requests; a run takes about a second of start-up
(importing Locust) plus its duration.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from gatedrill.fakes import FakeServer
from gatedrill.fakes.conversation import digest, openai_atoms
from gatedrill.harness.load import LoadRun, LoadSpec, Progress, RequestMix, read_records, run_load
from gatedrill.harness.load.records import ClientRecord

MODEL = "gpt-4o-mini"
WITNESS = re.compile(r"witness fake=(\S+) turn=(\d+) digest=([0-9a-f]{16}) atoms=(\d+)")


def _spec(rate: float = 50, profile: str = "constant", **kw: Any) -> LoadSpec:
    mix = kw.pop("mix", {})
    return LoadSpec(arrivals={"profile": profile, "rate": rate}, mix=RequestMix(model=MODEL, **mix), **kw)


def _journal(srv: FakeServer) -> dict[str, dict[str, Any]]:
    entries = srv.journal.records()
    ids = [e["correlation_id"] for e in entries]
    assert len(ids) == len(set(ids)), "a correlation id reached the fake twice"
    return {e["correlation_id"]: e for e in entries}


def _by_id(records: list[ClientRecord]) -> dict[str, ClientRecord]:
    ids = [r.correlation_id for r in records]
    assert len(ids) == len(set(ids)), "a correlation id was recorded twice"
    return {r.correlation_id: r for r in records}


def _gone(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_open_load_sends_the_schedule_and_every_record_joins_exactly_one_journal_entry(tmp_path: Path):
    seen: list[Progress] = []
    with FakeServer(provider="openai", reply={"mode": "witness"}) as srv:
        result = run_load(_spec(rate=50), srv.url, 2.0, 1, tmp_path, on_progress=seen.append)
        journal = _journal(srv)
    records = read_records(tmp_path / "clients.jsonl")
    assert len(records) == 100 == result.requests == result.summary()["scheduled_arrivals"]
    recs = _by_id(records)
    assert set(recs) == set(journal)  # both ways: no lost request, no phantom
    for cid, rec in recs.items():
        entry = journal[cid]
        assert rec.status == entry["status"] == 200 and rec.ok and rec.finished_cleanly
        assert (entry["session_id"], entry["turn"]) == (rec.session_id, rec.turn)
        assert rec.prompt_tokens == entry["tokens_in"]  # the client's count is the fake's count
        assert rec.sent_digest == entry["reply"]["digest"]
        assert rec.intended_mono <= rec.sent_mono <= entry["arrival_mono"] <= rec.end_mono
        assert abs((rec.sent_s - rec.sent_mono) - (entry["arrival_wall"] - entry["arrival_mono"])) < 0.05
    intended = sorted(r.intended_mono for r in records)
    gaps = [b - a for a, b in itertools.pairwise(intended)]
    assert all(abs(g - 0.02) < 1e-6 for g in gaps)  # constant 50/s: the schedule, not when it got sent
    assert not result.generator_saturated and result.warnings == []
    assert result.histogram("send_lag").percentile(99) < 0.05
    assert result.histogram("latency").count == 100
    assert seen and seen[-1].phase == "done" and seen[-1].sent == 100


def test_multi_turn_sessions_resend_the_full_history_they_received(tmp_path: Path):
    spec = _spec(rate=10, mix={"turns": 3, "stream_share": 0.5, "prompt_tokens": 12})
    with FakeServer(provider="openai", reply={"mode": "witness"}) as srv:
        run_load(spec, srv.url, 1.0, 2, tmp_path)
        journal = _journal(srv)
    recs = _by_id(read_records(tmp_path / "clients.jsonl"))
    sessions: dict[str, list[ClientRecord]] = {}
    for r in recs.values():
        sessions.setdefault(r.session_id, []).append(r)
    assert len(sessions) == 10 and all(len(turns) == 3 for turns in sessions.values())
    assert {r.stream for r in recs.values()} == {True, False}
    for turns in sessions.values():
        turns.sort(key=lambda r: r.turn)
        for k, rec in enumerate(turns, start=1):
            assert rec.ok, rec.error
            m = WITNESS.fullmatch(rec.text)
            assert m, rec.text
            sent = journal[rec.correlation_id]["body"]["messages"]
            # The fake's witness digest of turn k is the digest of the history this client sent.
            assert m.group(3) == rec.sent_digest == digest(openai_atoms(sent))
            assert int(m.group(2)) == k
            if k > 1:
                before = journal[turns[k - 2].correlation_id]["body"]["messages"]
                assert sent[: len(before)] == before
                assert sent[len(before)] == {"role": "assistant", "content": turns[k - 2].text}
                assert sent[len(before) + 1]["role"] == "user" and len(sent) == len(before) + 2
        assert all(b.intended_mono >= a.end_mono for a, b in itertools.pairwise(turns))


def test_streams_reassemble_to_exactly_what_the_fake_sent(tmp_path: Path):
    spec = _spec(rate=20, mix={"stream_share": 1.0})
    fake = {"reply": {"mode": "seeded", "output_tokens": 12}, "latency": {"ttft_ms": 20, "itl_ms": 2}}
    with FakeServer(provider="openai", **fake) as srv:
        run_load(spec, srv.url, 1.0, 3, tmp_path)
        journal = _journal(srv)
    recs = _by_id(read_records(tmp_path / "clients.jsonl"))
    assert len(recs) == 20
    for cid, rec in recs.items():
        sent = journal[cid]["reply"]["choices"][0]
        assert rec.stream and rec.ok and rec.finished_cleanly and rec.finish_reason == "stop"
        assert rec.text == sent["text"]
        assert rec.chunks >= sent["chunks"]  # content chunks, plus the finish and usage chunks
        assert rec.usage and rec.usage["completion_tokens"] == journal[cid]["tokens_out"]
        assert rec.ttft_mono is not None and rec.sent_mono + 0.015 < rec.ttft_mono < rec.end_mono
        assert rec.headers.get("content-type", "").startswith("text/event-stream")


def test_faults_show_in_records_as_client_visible_errors(tmp_path: Path):
    spec = _spec(rate=40, mix={"stream_share": 1.0})
    faults = [
        {"name": "limited", "fault": {"kind": "http_error", "status": 429, "retry_after": 2}, "when": {"every_nth": 5}},
        {"name": "cut", "fault": {"kind": "reset_mid_stream", "after_chunks": 2}, "when": {"every_nth": 3}},
    ]
    with FakeServer(provider="openai", reply={"output_tokens": 10}, faults=faults) as srv:
        run_load(spec, srv.url, 1.0, 4, tmp_path)
        journal = _journal(srv)
    recs = _by_id(read_records(tmp_path / "clients.jsonl"))
    assert set(recs) == set(journal)
    classes = Counter()
    for cid, rec in recs.items():
        fault = journal[cid]["fault"]
        classes[rec.error_class] += 1
        if fault == "limited":
            assert rec.status == 429 and rec.error_class == "http_429"
            assert rec.headers["retry-after"] == "2" and "Rate limit reached" in (rec.error or "")
        elif fault == "cut":
            assert rec.status == 200 and rec.error_class == "reset_mid_stream" and not rec.finished_cleanly
            full = journal[cid]["reply"]["choices"][0]["text"]
            assert rec.text and full.startswith(rec.text) and rec.text != full and rec.ttft_mono is not None
        else:
            assert rec.ok and rec.finished_cleanly
    assert classes["http_429"] >= 5 and classes["reset_mid_stream"] >= 5 and classes[None] >= 10


def test_tool_calls_are_answered_with_results_on_the_next_turn(tmp_path: Path):
    spec = _spec(rate=10, mix={"turns": 2, "tools_share": 1.0})
    with FakeServer(provider="openai", reply={"mode": "seeded", "tool_calls": True}) as srv:
        run_load(spec, srv.url, 0.5, 5, tmp_path)
        journal = _journal(srv)
    recs = read_records(tmp_path / "clients.jsonl")
    assert len(recs) == 10
    for rec in recs:
        assert rec.ok and rec.tools
        body = journal[rec.correlation_id]["body"]
        assert body["tools"][0]["function"]["name"] == "get_weather"
        if rec.turn == 1:
            assert rec.finish_reason == "tool_calls" and rec.tool_calls[0]["name"] == "get_weather"
        else:
            assistant, tool = body["messages"][-2:]
            assert assistant["tool_calls"][0]["function"]["name"] == "get_weather"
            assert tool["role"] == "tool" and tool["tool_call_id"] == assistant["tool_calls"][0]["id"]
            assert rec.finish_reason == "stop" and rec.text


def test_near_window_prompts_straddle_the_window_and_the_client_counts_like_the_fake(tmp_path: Path):
    window = 3000
    spec = _spec(rate=40, mix={"near_window_share": 1.0, "near_window_tokens": window, "max_tokens": 50})
    with FakeServer(provider="openai", models=[{"id": MODEL, "context_window": window}]) as srv:
        run_load(spec, srv.url, 1.0, 6, tmp_path)
        journal = _journal(srv)
    recs = read_records(tmp_path / "clients.jsonl")
    assert len(recs) == 40
    over = 0
    for rec in recs:
        assert rec.near_window
        assert rec.prompt_tokens == journal[rec.correlation_id]["tokens_in"]
        assert abs(rec.prompt_tokens + 50 - window) <= 0.05 * window + 1
        if rec.prompt_tokens + 50 > window:
            over += 1
            assert rec.status == 400 and "maximum context length is 3000 tokens" in (rec.error or "")
        else:
            assert rec.status == 200
    assert 5 <= over <= 35


def test_the_worker_stops_at_max_requests(tmp_path: Path):
    spec = _spec(rate=200, max_requests=25)
    with FakeServer(provider="openai") as srv:
        t = time.monotonic()
        result = run_load(spec, srv.url, 30.0, 7, tmp_path)
        took = time.monotonic() - t
        journal = _journal(srv)
    assert took < 10
    assert result.summary()["stop_reason"] == "max_requests"
    assert result.requests == len(journal) == 25
    assert not result.generator_saturated  # a budget stop is not a slow generator


def test_the_worker_stops_at_the_duration_and_cuts_what_outlives_the_drain(tmp_path: Path):
    spec = _spec(rate=20, request_timeout_s=30)
    with FakeServer(provider="openai", latency={"ttft_ms": 5000}) as srv:
        t = time.monotonic()
        result = run_load(spec, srv.url, 1.0, 8, tmp_path, drain_s=0.5)
        took = time.monotonic() - t
    assert took < 8  # start-up + 1 s + 0.5 s drain, nowhere near the fake's 5 s
    recs = read_records(tmp_path / "clients.jsonl")
    assert len(recs) == 20 == result.summary()["started_arrivals"]
    assert {r.error_class for r in recs} == {"aborted"}
    assert all(r.end_mono - r.intended_mono < 3 for r in recs)


def test_requests_that_take_too_long_time_out(tmp_path: Path):
    spec = _spec(rate=10, request_timeout_s=0.3)
    with FakeServer(provider="openai", faults=[{"fault": {"kind": "hang"}, "when": {"every_nth": 2}}]) as srv:
        run_load(spec, srv.url, 1.0, 9, tmp_path)
    recs = read_records(tmp_path / "clients.jsonl")
    assert Counter(r.error_class for r in recs) == {None: 5, "timeout": 5}
    assert all(0.29 < r.service_s < 1.5 for r in recs if r.error_class == "timeout")


def test_closed_mode_keeps_the_concurrency_and_stops_at_the_duration(tmp_path: Path):
    spec = LoadSpec(mode="closed", concurrency=4, mix=RequestMix(model=MODEL, turns=2))
    with FakeServer(provider="openai", latency={"ttft_ms": 20}) as srv:
        result = run_load(spec, srv.url, 1.0, 10, tmp_path)
        journal = _journal(srv)
    recs = read_records(tmp_path / "clients.jsonl")
    assert set(_by_id(recs)) == set(journal)
    # 4 at a time, each >= 19.8 ms (the fake may send up to 0.2 ms early): per worker at most 51 start within the
    # second, and the session running at the end finishes its second turn (CI once saw 208 = 4 x 52)
    assert 40 <= len(recs) <= 4 * (1.0 / 0.0198 + 2)
    assert result.summary()["max_in_flight_seen"] == 4
    assert all(r.ok for r in recs)
    t0 = result.summary()["t0_mono"]
    assert max(r.sent_mono for r in recs if r.turn == 1) - t0 < 1.0  # no session starts after the duration
    assert {r.turn for r in recs if r.sent_mono - t0 >= 1.0} <= {2}  # but started ones finish their turns


def test_cancelling_a_run_kills_the_worker_and_leaves_no_process(tmp_path: Path):
    with FakeServer(provider="openai", latency={"ttft_ms": 50}) as srv:
        run = LoadRun(_spec(rate=20), srv.url, 60.0, 11, tmp_path).start()
        pid = run.pid
        assert pid is not None
        deadline = time.monotonic() + 15
        while (p := run.poll(0.2)) is None or p.sent < 10:
            assert time.monotonic() < deadline, "no progress from the worker"
        t = time.monotonic()
        run.cancel()
        assert time.monotonic() - t < 6
        assert _gone(pid)
        result = run.result()
    assert result.cancelled and result.summary()["stop_reason"] == "cancelled"
    assert result.requests >= 10


def test_finishing_a_run_early_drains_what_is_in_flight_and_reports_per_interval_figures(tmp_path: Path):
    """A game day's Stop: no new request after it, those in flight complete (none cut), and the summary says so;
    progress carries counts per upstream and per error class, and the last interval's latency."""
    import threading

    finish = threading.Event()
    seen: list[Progress] = []

    def on_progress(p: Progress) -> None:
        seen.append(p)
        if p.elapsed_s >= 2.0:
            finish.set()

    with FakeServer(provider="openai", latency={"ttft_ms": 300},
                    faults=[{"fault": {"kind": "http_error", "status": 503}, "when": {"every_nth": 4}}]) as srv:
        t = time.monotonic()
        result = run_load(_spec(rate=20), srv.url, 60.0, 12, tmp_path, on_progress=on_progress, finish=finish)
        took = time.monotonic() - t
    recs = read_records(tmp_path / "clients.jsonl")
    summary = result.summary()
    assert took < 15 and summary["stop_reason"] == "stopped" and not result.cancelled
    assert 2.0 <= summary["ran_s"] < 4.0 and not result.generator_saturated
    assert recs and "aborted" not in {r.error_class for r in recs}  # in flight at the stop: drained, not cut
    assert len(recs) == summary["started_arrivals"]
    assert max(r.sent_mono for r in recs) - summary["t0_mono"] < summary["ran_s"] + 0.1
    last = seen[-1]
    assert last.by_error == {"http_503": sum(r.error_class == "http_503" for r in recs)} and last.by_error["http_503"]
    assert sum(last.by_upstream.values()) == len(recs)
    windowed = [p for p in seen if p.window_latency_p50_ms is not None]
    assert windowed and all(300 <= p.window_latency_p50_ms <= (p.window_latency_p99_ms or 0) for p in windowed)


_ORPHAN_PARENT = """
import sys, time
from gatedrill.harness.load import LoadRun, LoadSpec, RequestMix
spec = LoadSpec(arrivals={"profile": "constant", "rate": 20}, mix=RequestMix(model="gpt-4o-mini"))
run = LoadRun(spec, sys.argv[1], 60.0, 1, sys.argv[2]).start()
print(run.pid, flush=True)
time.sleep(60)
"""


def test_a_worker_whose_parent_dies_stops_by_itself(tmp_path: Path):
    with FakeServer(provider="openai") as srv:
        parent = subprocess.Popen([sys.executable, "-c", _ORPHAN_PARENT, srv.url, str(tmp_path)],
                                  stdout=subprocess.PIPE, start_new_session=True)
        worker = None
        try:
            assert parent.stdout is not None
            worker = int(parent.stdout.readline())
            deadline = time.monotonic() + 15
            while srv.journal.total < 5:  # the worker is sending
                assert time.monotonic() < deadline
                time.sleep(0.05)
            parent.kill()
            parent.wait()
            deadline = time.monotonic() + 5
            while not _gone(worker):
                assert time.monotonic() < deadline, "the orphaned worker kept running"
                time.sleep(0.05)
        finally:
            parent.kill()
            if worker is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(worker, signal.SIGKILL)
    summary = orjson.loads((tmp_path / "logs" / "load_summary.json").read_bytes())
    assert summary["stop_reason"] == "parent_gone"
