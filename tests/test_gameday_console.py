"""The game-day console's server on 127.0.0.1, without a drill: only the page (with the session's token, from the
loopback address) may act, live state streams as server-sent events (everything so far first, then each tick with
per-second rates from the load's progress counts), and a port in use is one clear error."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from gatedrill.fakes.errors import ConfigError
from gatedrill.harness.gameday.live import LiveState
from gatedrill.harness.gameday.server import TOKEN_HEADER, Console
from gatedrill.harness.gameday.session import Session
from gatedrill.harness.load import Progress


@pytest.fixture
def console() -> Iterator[tuple[Console, Session]]:
    state = LiveState(["stable", "canary"], 30.0, info={"scenario": "demo"})
    session = Session(state, threading.Event())
    server = Console(state, session.act, session.stop, port=0)
    server.start()
    try:
        yield server, session
    finally:
        server.close()


def test_only_the_page_with_its_token_may_act(console: tuple[Console, Session]) -> None:
    server, session = console
    page = httpx.get(server.url)
    assert page.status_code == 200 and server.token in page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'nonce-" in csp and "connect-src 'self'" in csp
    assert re.findall(r'(?:src|href)="([^"]*)"', page.text) == ["data:,"]  # nothing fetched from elsewhere
    body = {"kind": "error_rate", "upstream": "canary"}
    assert httpx.post(server.url + "action", json=body).status_code == 403  # no token: another site's request
    assert httpx.post(server.url + "action", json=body, headers={TOKEN_HEADER: "guess"}).status_code == 403
    rebound = httpx.post(server.url + "action", json=body, headers={TOKEN_HEADER: server.token,
                                                                    "host": f"evil.example:{server.port}"})
    assert rebound.status_code == 421
    early = httpx.post(server.url + "action", json=body, headers={TOKEN_HEADER: server.token})
    assert early.status_code == 422 and "has not started" in early.json()["error"]
    assert not session.finish.is_set()
    assert httpx.post(server.url + "stop", headers={TOKEN_HEADER: server.token}).json() == {"stopping": True}
    assert session.finish.is_set() and "Stop pressed" in session.state.log[-1].text


def _events(lines: Iterator[str], n: int) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    event = ""
    for line in lines:
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            out.append((event, orjson.loads(line[6:])))
            if len(out) == n:
                break
    return out


def test_live_state_streams_as_server_sent_events(console: tuple[Console, Session]) -> None:
    server, session = console
    state = session.state
    state.on_progress(Progress(phase="running", elapsed_s=1.0, by_upstream={"stable": 8, "canary": 2}))
    with httpx.stream("GET", server.url + "events", timeout=10) as r:
        assert r.headers["content-type"] == "text/event-stream"
        lines = r.iter_lines()
        [(kind, hello)] = _events(lines, 1)
        assert kind == "hello" and hello["info"] == {"scenario": "demo"} and len(hello["ticks"]) == 1
        state.on_progress(Progress(phase="running", elapsed_s=3.0, by_upstream={"stable": 18, "canary": 4},
                                   by_error={"http_500": 6}, window_latency_p50_ms=40.0, window_latency_p99_ms=90.0))
        state.note("hello from the test")
        (k1, tick), (k2, log) = _events(lines, 2)
    assert k1 == "tick" and tick["per_upstream"] == {"stable": 5.0, "canary": 1.0} and tick["errors"] == \
        {"http_500": 3.0}
    assert (tick["p50_ms"], tick["p99_ms"], tick["t"]) == (40.0, 90.0, 3.0)
    assert k2 == "log" and log["text"] == "hello from the test" and log["source"] == "console"


def test_a_port_in_use_is_one_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        state = LiveState(["a"], 1.0)
        session = Session(state, threading.Event())
        server = Console(state, session.act, session.stop, port=port)
        with pytest.raises(ConfigError, match=f"127.0.0.1:{port}.*another --port"):
            server.start()
        server.close()
