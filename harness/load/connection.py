"""A lean HTTP/1.1 client for the load generator: keep-alive connections that POST and read JSON or SSE.

Why not geventhttpclient (Locust's FastHttpUser client)? Measured here against a fake that answers with
about fifteen headers, it spent 180 us of CPU per request, most of it in per-header Python callbacks and
header objects; this client spends about 50. The generator's ceiling is its CPU per request.

It is plain blocking `socket` code, which gevent's monkey-patching makes cooperative in the worker
process; elsewhere (tests) it works as ordinary blocking I/O. It reads what the load needs and no more:
Content-Length, chunked and close-delimited bodies, interim 1xx responses, keep-alive. Response bodies
are yielded as bytes arrive (de-chunked), so a stream's first token is stamped when it lands. A request
is never retried: the caller records every failure as the client saw it.
"""

from __future__ import annotations

import contextlib
import select
import socket
from collections.abc import Callable, Iterator
from typing import Any

try:  # gevent's patched select yields to its hub; a zero-timeout poll for liveness must not
    from gevent.monkey import get_original

    _select: Callable[..., Any] = get_original("select", "select")
except ImportError:  # pragma: no cover - gevent comes with locust
    _select = select.select

_RECV = 1 << 16
_MAX_HEAD = 1 << 16


class ProtocolError(Exception):
    """The server's bytes are not HTTP/1.x as expected."""


class IncompleteBody(ConnectionError):
    """The connection closed before the body was complete."""


class Response:
    """Status and headers are read; the body is read through `iter_body` or `read`."""

    __slots__ = ("_buf", "_conn", "_done", "_length", "_mode", "headers", "keep_alive", "status")

    def __init__(self, conn: Connection, status: int, headers: dict[str, str], buf: bytearray) -> None:
        self._conn = conn
        self.status = status
        self.headers = headers
        self._buf = buf
        self._done = False
        te = headers.get("transfer-encoding", "").lower()
        conn_hdr = headers.get("connection", "").lower()
        self.keep_alive = "close" not in conn_hdr
        self._length = -1
        if status in (204, 304):
            self._mode = "none"
        elif "chunked" in te:
            self._mode = "chunked"
        elif "content-length" in headers:
            self._mode = "length"
            try:
                self._length = int(headers["content-length"])
            except ValueError:
                raise ProtocolError(f"bad content-length {headers['content-length']!r}") from None
        else:
            self._mode = "eof"
            self.keep_alive = False

    @property
    def complete(self) -> bool:
        return self._done

    def _more(self) -> bool:
        data = self._conn.sock.recv(_RECV)
        if not data:
            return False
        self._buf += data
        return True

    def iter_body(self) -> Iterator[bytes]:
        """Body bytes as they arrive; raises `IncompleteBody` if the connection ends first."""
        buf = self._buf
        mode = self._mode
        if mode == "none":
            self._done = True
            return
        if mode == "length":
            left = self._length
            while left > 0:
                if not buf and not self._more():
                    raise IncompleteBody(f"connection closed with {left} body bytes missing")
                take = min(left, len(buf))
                yield bytes(buf[:take])
                del buf[:take]
                left -= take
            self._done = True
            return
        if mode == "eof":
            while True:
                if buf:
                    yield bytes(buf)
                    buf.clear()
                if not self._more():
                    self._done = True
                    return
        # chunked
        while True:
            while True:
                nl = buf.find(b"\r\n")
                if nl >= 0:
                    break
                if len(buf) > 1024:
                    raise ProtocolError("chunk size line too long")
                if not self._more():
                    raise IncompleteBody("connection closed between chunks")
            try:
                size = int(bytes(buf[:nl]).split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise ProtocolError(f"bad chunk size {bytes(buf[:nl][:40])!r}") from None
            del buf[: nl + 2]
            if size == 0:
                while True:  # trailers, then the blank line
                    nl = buf.find(b"\r\n")
                    if nl < 0:
                        if not self._more():
                            raise IncompleteBody("connection closed in the chunked trailer")
                        continue
                    line = bytes(buf[:nl])
                    del buf[: nl + 2]
                    if not line:
                        self._done = True
                        return
            while size > 0:
                if not buf and not self._more():
                    raise IncompleteBody("connection closed inside a chunk")
                take = min(size, len(buf))
                yield bytes(buf[:take])
                del buf[:take]
                size -= take
            while len(buf) < 2:
                if not self._more():
                    raise IncompleteBody("connection closed after a chunk")
            if buf[:2] != b"\r\n":
                raise ProtocolError("chunk not followed by CRLF")
            del buf[:2]

    def read(self) -> bytes:
        return b"".join(self.iter_body())


class Connection:
    __slots__ = ("exchanges", "host", "sock")

    def __init__(self, host: str, port: int, timeout: float, connect_timeout: float) -> None:
        self.host = host
        self.exchanges = 0  # requests sent on it: above 0, the next one reuses a kept-alive connection
        sock = socket.create_connection((host, port), timeout=connect_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # No per-operation timeout: under gevent each timed wait costs a timer; the caller bounds the whole
        # request instead (the driver's gevent.Timeout). `timeout` stays for callers without one.
        sock.settimeout(timeout if timeout > 0 else None)
        self.sock = sock

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def idle_and_open(self) -> bool:
        """A pooled connection is reusable when nothing is waiting to be read (no FIN, no stray bytes)."""
        try:
            if self.sock.fileno() < 0:
                return False
            readable, _, _ = _select([self.sock], [], [], 0)
            return not readable
        except (OSError, ValueError):
            return False

    def exchange(self, head: bytes, body: bytes) -> Response:
        """Send one request, read the response head (skipping interim 1xx responses)."""
        self.exchanges += 1
        self.sock.sendall(head + body)
        buf = bytearray()
        while True:
            end = buf.find(b"\r\n\r\n")
            while end < 0:
                if len(buf) > _MAX_HEAD:
                    raise ProtocolError("response head larger than 64 KiB")
                data = self.sock.recv(_RECV)
                if not data:
                    if buf:
                        raise IncompleteBody("connection closed inside the response head")
                    raise ConnectionResetError("connection closed before any response")
                buf += data
                end = buf.find(b"\r\n\r\n")
            status, headers = parse_head(bytes(buf[:end]))
            del buf[: end + 4]
            if 100 <= status < 200:
                continue
            return Response(self, status, headers, buf)


def parse_head(raw: bytes) -> tuple[int, dict[str, str]]:
    """Status code and lower-cased headers (repeated headers joined with ', ')."""
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise ProtocolError(f"not an HTTP/1.x status line: {lines[0][:60]!r}")
    try:
        status = int(parts[1])
    except ValueError:
        raise ProtocolError(f"bad status code {parts[1][:10]!r}") from None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise ProtocolError(f"bad header line {line[:60]!r}")
        key = name.strip().lower()
        val = value.strip()
        headers[key] = f"{headers[key]}, {val}" if key in headers else val
    return status, headers


class Pool:
    """Keep-alive connections to one origin, most recently used first. The caller bounds concurrency."""

    def __init__(self, host: str, port: int, timeout: float, connect_timeout: float = 10.0,
                 extra_headers: dict[str, str] | None = None) -> None:
        self.host, self.port = host, port
        self.timeout, self.connect_timeout = timeout, connect_timeout
        self._idle: list[Connection] = []
        self.opened = 0
        host_hdr = host if port == 80 else f"{host}:{port}"
        fixed = {"host": host_hdr, "user-agent": "gatedrill-load", **{k.lower(): v for k, v in
                                                                      (extra_headers or {}).items()}}
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in fixed.items())

    def head(self, method: str, path: str, headers: dict[str, str], body_len: int) -> bytes:
        """The request head: fixed headers, these headers and the content length."""
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        return f"{method} {path} HTTP/1.1\r\n{self._fixed}{extra}content-length: {body_len}\r\n\r\n".encode("latin-1")

    def acquire(self) -> Connection:
        while self._idle:
            conn = self._idle.pop()
            if conn.idle_and_open():
                return conn
            conn.close()
        self.opened += 1
        return Connection(self.host, self.port, self.timeout, self.connect_timeout)

    def release(self, conn: Connection, reusable: bool) -> None:
        if reusable:
            self._idle.append(conn)
        else:
            conn.close()

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()
