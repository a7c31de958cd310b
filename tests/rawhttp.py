"""A raw HTTP/1.1 client on a plain socket, so conformance tests see exactly the bytes the server sends.

No HTTP library sits between a test and the wire: this module frames requests by hand and parses
responses (status line, headers, Content-Length or chunked bodies) with the least code that can be
checked by eye. It keeps the raw bytes and the arrival time of every piece so tests can judge framing
and pacing too.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any

AUTH = ("Authorization", "Bearer sk-test-raw")
CHAT_PATH = "/v1/chat/completions"


def chat_body(stream: bool = False, content: str = "hello there", **extra: Any) -> bytes:
    body: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}]}
    if stream:
        body["stream"] = True
    body.update(extra)
    return json.dumps(body).encode()


def request_bytes(method: str = "POST", path: str = CHAT_PATH, body: bytes | None = None,
                  headers: list[tuple[str, str]] | None = None, version: str = "HTTP/1.1",
                  auth: bool = True, content_length: int | None = None) -> bytes:
    """One request, framed with Content-Length (the body's, unless `content_length` says otherwise)."""
    lines = [f"{method} {path} {version}", "Host: 127.0.0.1"]
    if auth:
        lines.append(f"{AUTH[0]}: {AUTH[1]}")
    if body is not None:
        lines.append("Content-Type: application/json")
        lines.append(f"Content-Length: {len(body) if content_length is None else content_length}")
    lines.extend(f"{k}: {v}" for k, v in headers or [])
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def chunked_head(path: str = CHAT_PATH, headers: list[tuple[str, str]] | None = None) -> bytes:
    """Headers of a POST whose body follows as `Transfer-Encoding: chunked`."""
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"{AUTH[0]}: {AUTH[1]}",
             "Content-Type: application/json", "Transfer-Encoding: chunked"]
    lines.extend(f"{k}: {v}" for k, v in headers or [])
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def encode_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


@dataclass
class Response:
    status: int
    reason: str
    version: str
    headers: list[tuple[str, str]]  # names lower-cased, in arrival order
    body: bytes = b""  # de-chunked
    chunks: list[bytes] = field(default_factory=list)  # chunk payloads, when chunked
    chunk_times: list[float] = field(default_factory=list)  # monotonic arrival of each chunk's last byte
    raw: bytes = b""  # this response exactly as received
    terminated: bool = False  # chunked: the `0\r\n\r\n` terminator arrived

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return None

    @property
    def chunked(self) -> bool:
        return (self.header("transfer-encoding") or "").lower() == "chunked"

    def json(self) -> Any:
        return json.loads(self.body)

    def sse_data(self) -> list[str]:
        """The `data:` payloads of an SSE body, in order."""
        return [line[5:].strip() for line in self.body.decode("latin-1").split("\n") if line.startswith("data:")]


class ConnectionEnded(Exception):
    """The server closed (`how` = "eof") or reset (`how` = "reset") the connection mid-read."""

    def __init__(self, how: str, partial: Response | None = None) -> None:
        super().__init__(how)
        self.how = how
        self.partial = partial


class RawConnection:
    """One TCP connection with a receive buffer; every read has a deadline (socket timeout)."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0  # start of unconsumed bytes in buf
        self.arrivals: list[tuple[float, int]] = []  # (monotonic time, len(buf) after that recv)

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _more(self) -> None:
        """Receive once; raise ConnectionEnded on EOF or RST."""
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            raise ConnectionEnded("reset") from None
        if not data:
            raise ConnectionEnded("eof")
        self.buf += data
        self.arrivals.append((time.monotonic(), len(self.buf)))

    def _arrival_of(self, end: int) -> float:
        for t, size in self.arrivals:
            if size >= end:
                return t
        return time.monotonic()

    def _until(self, sep: bytes) -> bytes:
        while True:
            i = self.buf.find(sep, self.pos)
            if i >= 0:
                out = bytes(self.buf[self.pos:i])
                self.pos = i + len(sep)
                return out
            self._more()

    def _exact(self, n: int) -> bytes:
        while len(self.buf) - self.pos < n:
            self._more()
        out = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return out

    def read_head(self) -> Response:
        """Status line and headers of the next response (an interim 1xx counts as a response)."""
        start = self.pos
        head = self._until(b"\r\n\r\n").decode("latin-1")
        status_line, *lines = head.split("\r\n")
        version, status, reason = [*status_line.split(" ", 2), ""][:3]
        headers = []
        for line in lines:
            k, _, v = line.partition(":")
            headers.append((k.strip().lower(), v.strip()))
        resp = Response(int(status), reason, version, headers)
        resp.raw = bytes(self.buf[start:self.pos])
        return resp

    def read_body(self, resp: Response) -> Response:
        """Read the body the headers announce; on EOF/RST raise ConnectionEnded carrying what arrived."""
        start = self.pos - len(resp.raw)
        try:
            if resp.chunked:
                while True:
                    size_line = self._until(b"\r\n")
                    size = int(size_line.split(b";")[0], 16)
                    if size == 0:
                        while self._until(b"\r\n"):  # trailers, then the blank line
                            pass
                        resp.terminated = True
                        break
                    data = self._exact(size)
                    if self._exact(2) != b"\r\n":
                        raise AssertionError(f"chunk of {size} bytes not followed by CRLF")
                    resp.chunks.append(data)
                    resp.chunk_times.append(self._arrival_of(self.pos))
                resp.body = b"".join(resp.chunks)
            elif resp.header("content-length") is not None:
                resp.body = self._exact(int(resp.header("content-length") or 0))
            elif resp.status >= 200 and resp.status not in (204, 304):
                resp.body = self.read_to_end()[0]
        except ConnectionEnded as ended:
            resp.body = b"".join(resp.chunks) if resp.chunked else bytes(self.buf[start + len(resp.raw):])
            resp.raw = bytes(self.buf[start:])
            ended.partial = resp
            raise
        resp.raw = bytes(self.buf[start:self.pos])
        return resp

    def read_response(self) -> Response:
        return self.read_body(self.read_head())

    def read_to_end(self) -> tuple[bytes, str]:
        """Everything until the server ends the connection, and how: "eof" or "reset"."""
        start = self.pos
        while True:
            try:
                self._more()
            except ConnectionEnded as ended:
                self.pos = len(self.buf)
                return bytes(self.buf[start:]), ended.how

    def ended(self, timeout: float = 2.0) -> str:
        """How the connection ends within `timeout` with no more bytes: "eof", "reset", or "open"."""
        self.sock.settimeout(timeout)
        try:
            data, how = self.read_to_end()
        except TimeoutError:
            return "open"
        assert not data, f"unexpected bytes before the end: {data[:200]!r}"
        return how
