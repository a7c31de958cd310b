"""A fake's memory grows by what its journal keeps and no more, so a long drill (a soak, a game day) runs on the
same heap as a fresh one, and the journal's byte bound (`max_bytes`) is what the process really holds."""

from __future__ import annotations

import gc
import http.client
import json
import time
import tracemalloc

from gatedrill.fakes import FakeServer

BODY = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello."}],
                   "stream": True, "max_tokens": 50})
HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-x"}


def _send(port: int, n: int) -> None:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for _ in range(n):
        c.request("POST", "/v1/chat/completions", BODY, HEADERS)
        c.getresponse().read()
    c.close()


def test_kept_journal_lines_cost_their_size_not_more() -> None:
    n = 1500
    with FakeServer(provider="openai") as srv:
        _send(srv.port, 50)
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            kept_before = srv.fake.journal._bytes
            _send(srv.port, n)
            time.sleep(0.1)
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        kept = srv.fake.journal._bytes - kept_before
    per_request, per_line = grown / n, kept / n
    assert 300 < per_line < 3000, per_line
    assert per_request < per_line + 600, f"{per_request:.0f} B held per request for a {per_line:.0f} B line"
