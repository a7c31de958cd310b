"""Malformed HTTP on a raw socket: a hand-written corpus of what parsers get wrong, plus seeded byte mutations of
valid requests. Each case is sent whole, the write side is shut (so an incomplete request ends instead of waiting
for a timeout), and the answer is read to the end.

A fake passes a case when every answer it sends has a status below 500 and it ends the connection within the
read timeout; it must also still answer its health check afterwards (otherwise the case crashed it).
"""

from __future__ import annotations

import json
import random
import re
import socket
import time
from collections.abc import Iterator

from .tally import Finding, FuzzTally

READ_TIMEOUT_S = 5.0
_CHAT = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}).encode()
_STREAM = json.dumps({"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hi"}]}).encode()
_AUTH = b"Authorization: Bearer sk-fuzz\r\n"
_STATUS = re.compile(rb"HTTP/1\.[01] (\d{3}) ")


def _post(body: bytes, extra: bytes = b"", path: bytes = b"/v1/chat/completions") -> bytes:
    return (b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + _AUTH + b"Content-Type: application/json\r\n"
            + b"Content-Length: %d\r\n" % len(body) + extra + b"\r\n" + body)


def _chunked(body: bytes) -> bytes:
    return (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n" + _AUTH + b"Content-Type: application/json"
            b"\r\nTransfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")


VALID: list[bytes] = [
    _post(_CHAT), _post(_STREAM), _chunked(_CHAT),
    b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n" + _AUTH + b"\r\n",
    _post(_CHAT) + _post(_CHAT),  # pipelined
]

CORPUS: list[tuple[str, bytes]] = [
    ("garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256))),
    ("empty line then garbage", b"\r\n\r\nhello\r\n\r\n"),
    ("no version", b"GET /v1/models\r\n\r\n"),
    ("HTTP/0.9", b"GET /v1/models\n"),
    ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
    ("bad method", b"G\x00T /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("unknown method", b"BREW /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("space in path", b"GET /v1/mo dels HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("absolute URI", b"GET http://127.0.0.1/v1/models HTTP/1.1\r\nHost: x\r\n" + _AUTH + b"\r\n"),
    ("asterisk", b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("CONNECT", b"CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n"),
    ("header without colon", b"GET /v1/models HTTP/1.1\r\nHost x\r\n\r\n"),
    ("space before colon", b"GET /v1/models HTTP/1.1\r\nHost : x\r\n\r\n"),
    ("obs-fold", b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n"),
    ("NUL in header", b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n"),
    ("bare LF", b"GET /v1/models HTTP/1.1\nHost: x\n" + _AUTH.replace(b"\r\n", b"\n") + b"\n"),
    ("bare CR", b"GET /v1/models HTTP/1.1\rHost: x\r\r"),
    ("huge header", b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n"),
    ("many headers", b"GET /v1/models HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(500))
     + b"\r\n"),
    ("huge URL", b"GET /v1/models/" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("negative content-length", _post(b"{}").replace(b"Content-Length: 2", b"Content-Length: -2")),
    ("non-numeric content-length", _post(b"{}").replace(b"Content-Length: 2", b"Content-Length: two")),
    ("two content-lengths", _post(_CHAT, b"Content-Length: 3\r\n")),
    ("content-length and chunked", _chunked(_CHAT).replace(b"Transfer-Encoding", b"Content-Length: 5\r\n"
                                                           b"Transfer-Encoding")),
    ("short body", _post(_CHAT).replace(b"Content-Length: %d" % len(_CHAT), b"Content-Length: %d" % (len(_CHAT) + 50))),
    ("long body", _post(_CHAT).replace(b"Content-Length: %d" % len(_CHAT), b"Content-Length: 10")),
    ("huge content-length", _post(_CHAT).replace(b"Content-Length: %d" % len(_CHAT), b"Content-Length: 99999999999")),
    ("bad chunk size", _chunked(_CHAT).replace(b"%x\r\n" % len(_CHAT), b"zz\r\n", 1)),
    ("huge chunk size", _chunked(_CHAT).replace(b"%x\r\n" % len(_CHAT), b"ffffffffffffffff\r\n", 1)),
    ("chunk without terminator", _chunked(_CHAT)[:-5]),
    ("unknown transfer-encoding", _chunked(_CHAT).replace(b"chunked", b"gzip, chunked, zz")),
    ("expect 100 then nothing", _post(_CHAT, b"Expect: 100-continue\r\n").split(b"\r\n\r\n")[0] + b"\r\n\r\n"),
    ("expect unknown", _post(_CHAT, b"Expect: 999-weird\r\n")),
    ("upgrade h2c", b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
     b"HTTP2-Settings: AAMAAABkAAQAAP__\r\n" + _AUTH + b"\r\n"),
    ("upgrade websocket", b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"),
    ("upgrade with body", _post(_CHAT, b"Connection: Upgrade\r\nUpgrade: h2c\r\n")),
    ("HTTP/1.0 keep-alive", b"GET /v1/models HTTP/1.0\r\nConnection: keep-alive\r\n" + _AUTH + b"\r\n"),
    ("HTTP/1.2", b"GET /v1/models HTTP/1.2\r\nHost: x\r\n\r\n"),
    ("HTTP/9.9", b"GET /v1/models HTTP/9.9\r\nHost: x\r\n\r\n"),
    ("lowercase version", b"GET /v1/models http/1.1\r\nHost: x\r\n\r\n"),
    ("invalid JSON", _post(b'{"model": "gpt-4o-mini", "messages": [')),
    ("invalid UTF-8", _post(b'{"model": "\xff\xfe", "messages": [{"role": "user", "content": "\xc3\x28"}]}')),
    ("deep JSON", _post(b'{"model": "gpt-4o-mini", "messages": ' + b"[" * 5000 + b"]" * 5000 + b"}")),
    ("JSON with NaN", _post(b'{"model": "gpt-4o-mini", "max_tokens": NaN, "messages": []}')),
    ("big numbers", _post(b'{"model": "gpt-4o-mini", "max_tokens": 1e400, "n": 99999999999999999999999, '
                          b'"messages": [{"role": "user", "content": "hi"}]}')),
    ("wrong content type", _post(_CHAT).replace(b"application/json", b"text/plain")),
    ("percent path", b"GET /v1/models/%ff%00%2e%2e%2f HTTP/1.1\r\nHost: x\r\n" + _AUTH + b"\r\n"),
    ("dot segments", b"GET /v1/../v1/./models HTTP/1.1\r\nHost: x\r\n" + _AUTH + b"\r\n"),
    ("control path", b"POST /_gatedrill/config HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nnot json!"),
    ("control patch bomb", b"PATCH /_gatedrill/config HTTP/1.1\r\nHost: x\r\nContent-Length: 47\r\n\r\n"
                           b'{"faults": [{"fault": {"kind": "nope"}}], "a":1}'),
    ("fault header garbage", _post(_CHAT, b"x-gatedrill-fault: {\"kind\": \"http_error\", \"status\": 1e400}\r\n")),
    ("fault header out of range", _post(_CHAT, b'x-gatedrill-fault: {"kind": "http_error", "status": 429, '
                                               b'"retry_after": 1e400}\r\n')),
    ("pipelined then garbage", _post(_CHAT) + b"\x00\x01\x02 garbage"),
]


def mutated(seed: int) -> Iterator[tuple[str, bytes]]:
    """Seeded byte-level mutations of valid requests: flips, insertions, deletions, truncations, header games."""
    rng = random.Random(seed)
    while True:
        base = bytearray(rng.choice(VALID))
        how = rng.randrange(7)
        if how == 0:
            for _ in range(rng.randint(1, 4)):
                base[rng.randrange(len(base))] = rng.randrange(256)
        elif how == 1:
            at = rng.randrange(len(base))
            base[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif how == 2:
            at = rng.randrange(len(base))
            del base[at: at + rng.randint(1, 32)]
        elif how == 3:
            base = base[: rng.randrange(1, len(base))]
        elif how == 4:
            at = base.find(b"\r\n") + 2
            base[at:at] = b"X-Dup: %d\r\n" % rng.randrange(10**6) * rng.randint(1, 3)
        elif how == 5:
            base = base.replace(b"Content-Length: ", b"Content-Length: %d" % rng.randrange(-5, 500), 1)
        else:
            base = base.replace(b"\r\n", rng.choice([b"\n", b"\r", b"\r\n\r\n", b" \r\n"]), rng.randint(1, 3))
        yield f"mutation {how}", bytes(base)


def send_raw(port: int, data: bytes, timeout: float = READ_TIMEOUT_S) -> tuple[list[int], str]:
    """Send `data`, shut the write side, read to the end: (statuses of the answers, how it ended)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may close early (e.g. a 431 or 413): read what it said
        got = bytearray()
        deadline = time.monotonic() + timeout
        how = "eof"
        try:
            while True:
                s.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        except TimeoutError:
            how = "timeout"
        except ConnectionResetError:
            how = "reset"
    return [int(m.group(1)) for m in _STATUS.finditer(bytes(got)) if m.start() == 0 or got[m.start() - 1] == 10], how


def healthy(port: int) -> bool:
    try:
        statuses, _ = send_raw(port, b"GET /_gatedrill/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 5)
    except OSError:
        return False
    return statuses == [200]


def fuzz_raw(port: int, requests: int, seed: int, tally: FuzzTally, health_every: int = 200) -> None:
    """The corpus once, then mutations, `requests` cases in all; findings land in `tally`."""
    cases: Iterator[tuple[str, bytes]] = iter(CORPUS)
    more = mutated(seed)
    for i in range(requests):
        name, data = next(cases, None) or next(more)
        try:
            statuses, how = send_raw(port, data)
        except OSError as exc:
            statuses, how = [], f"connect failed: {exc}"
        tally.sent("raw_http", statuses[0] if statuses else how)
        shown = repr(data[:160])
        if how == "timeout":
            tally.found(Finding("hang", f"raw {name}: no end within {READ_TIMEOUT_S:g} s", shown))
        elif how.startswith("connect failed"):
            tally.found(Finding("crash", f"raw {name}: {how}", shown))
        for st in statuses:
            if st >= 500:
                tally.found(Finding("server_error", f"raw {name}: {st}", shown))
        if (i + 1) % health_every == 0 and not healthy(port):
            tally.found(Finding("crash", f"raw {name}: the fake stopped answering its health check", shown))
            return
