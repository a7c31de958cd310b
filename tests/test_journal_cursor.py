"""A cursor reader of the journal sees every entry exactly once and finished (with its outcome), even while
requests are in flight; a reset during traffic never makes the open count negative."""

from __future__ import annotations

import threading
import time

import httpx

from gatedrill.fakes import FakeServer

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
AUTH = {"authorization": "Bearer sk-x"}
SLOW = {**AUTH, "x-gatedrill-fault": '{"kind": "delay", "ms": 700}'}


def _post_in_background(url: str, headers: dict[str, str], n: int = 1) -> list[threading.Thread]:
    threads = [threading.Thread(target=httpx.post, args=(url + "/v1/chat/completions",),
                                kwargs={"json": CHAT, "headers": headers, "timeout": 10}) for _ in range(n)]
    for t in threads:
        t.start()
    return threads


def _wait_open(srv: FakeServer, n: int) -> None:
    deadline = time.monotonic() + 5
    while srv.journal.stats()["open"] < n:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_a_cursor_reader_sees_every_entry_once_and_finished() -> None:
    with FakeServer(provider="openai") as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        slow = _post_in_background(srv.url, SLOW)
        _wait_open(srv, 1)
        assert c.post("/v1/chat/completions", json=CHAT, headers=AUTH).status_code == 200
        seen: list[dict] = []
        cursor = 0
        deadline = time.monotonic() + 5
        while len(seen) < 2:
            assert time.monotonic() < deadline, seen
            page = c.get("/_gatedrill/journal", params={"cursor": cursor}).json()
            seen += page["entries"]
            cursor = page["next_cursor"]
            time.sleep(0.05)
        for t in slow:
            t.join()
    assert [e["seq"] for e in seen] == [0, 1]
    assert all(e["outcome"] == "complete" for e in seen), [e["outcome"] for e in seen]


def test_a_reset_during_traffic_keeps_the_open_count_true() -> None:
    with FakeServer(provider="openai") as srv:
        threads = _post_in_background(srv.url, SLOW, 5)
        _wait_open(srv, 5)
        assert httpx.post(srv.url + "/_gatedrill/reset", timeout=10).status_code == 200
        assert srv.journal.stats()["open"] == 5
        for t in threads:
            t.join()
        stats = httpx.get(srv.url + "/_gatedrill/health", timeout=10).json()["journal"]
    assert stats["open"] == 0 and stats["total"] == 0 and stats["finished"] == 0, stats
