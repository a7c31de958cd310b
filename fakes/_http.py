"""A small HTTP/1.1 server on asyncio + httptools that executes `Plan`s, built for speed and exact timing.

It follows uvicorn's httptools layer: one protocol object per connection, keep-alive, Content-Length and
chunked request bodies, pipelining (answered in order), `Connection: close`, `Expect: 100-continue`, and a
400 on bytes that are not HTTP. Writes that are due at the same moment go out in one write; later ones are
scheduled against absolute deadlines so paced streams do not drift. TCP_NODELAY is set on every connection.

Limits (`HttpLimits`, production servers' defaults): header bytes and count (431), a head that does not arrive
or a body that stalls (408), idle keep-alive connections (closed). An error answer that ends the connection is
followed by a lingering close (FIN, then unread bytes drained) so the client reads it instead of a reset.
`Upgrade` (h2c) is ignored, as RFC 9110 allows: the request is answered over HTTP/1.1 and the connection stays
usable. A request with a large body is handled on a helper thread so it does not stall every paced stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import struct
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from typing import Any

import httptools

from .config import HttpLimits
from .plan import END_CLOSE, END_COMPLETE, END_HANG, END_RESET, HttpRequest, Plan

_LINGER_RST = struct.pack("ii", 1, 0)
_STATUS: dict[int, bytes] = {}
for _s in list(HTTPStatus):
    _STATUS[_s.value] = f"HTTP/1.1 {_s.value} {_s.phrase}\r\n".encode()
_STATUS[529] = b"HTTP/1.1 529 Site is overloaded\r\n"
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def _closing_error(status: int, text: bytes) -> bytes:
    return (b"%scontent-type: text/plain\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s"
            % (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n".encode(), len(text), text))


_CLOSING_ERRORS = {
    400: _closing_error(400, b"malformed HTTP request\n"),
    408: _closing_error(408, b"request timed out: the head or body did not arrive in time\n"),
    431: _closing_error(431, b"request header fields too large\n"),
}
# Header names as the handler sees them (lower-cased str), by their bytes: clients send the same few names on every
# request. Bounded, because clients choose the names.
_NAMES: dict[bytes, str] = {}
_NAMES_MAX = 1024
_IDLE, _HEAD, _BODY = 0, 1, 2  # what a connection is waiting for from its client
_offload: list[ThreadPoolExecutor] = []


def _offload_pool() -> ThreadPoolExecutor:
    """One helper thread per process: large requests take turns, so they cannot pile up memory or threads."""
    if not _offload:
        _offload.append(ThreadPoolExecutor(1, thread_name_prefix="gatedrill-large-request"))
    return _offload[0]

_date_cache: list[Any] = [0, b""]


def _date_header() -> bytes:
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[0] = now
        _date_cache[1] = b"date: " + time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now)).encode() + b"\r\n"
    return _date_cache[1]


def status_line(status: int) -> bytes:
    line = _STATUS.get(status)
    if line is None:
        line = _STATUS[status] = f"HTTP/1.1 {status} Status {status}\r\n".encode()
    return line


class HttpProtocol(asyncio.Protocol):
    """One client connection."""

    __slots__ = (
        "_arrival",
        "_bad",
        "_body",
        "_body_size",
        "_continue_pending",
        "_discard",
        "_head_bytes",
        "_headers",
        "_limit",
        "_phase",
        "_since",
        "_upgrade_keep_alive",
        "_upgrade_need",
        "_url",
        "busy",
        "current",
        "handler",
        "limits",
        "loop",
        "parser",
        "queue",
        "registry",
        "timer",
        "transport",
    )

    def __init__(self, handler: Callable[[HttpRequest], Plan], body_limit: int,
                 registry: set[HttpProtocol], limits: HttpLimits | None = None) -> None:
        self.handler = handler
        self.loop = asyncio.get_event_loop()
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.queue: deque[tuple[HttpRequest, bool]] = deque()
        self.busy = False
        self.current: _Run | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.registry = registry
        self._limit = body_limit
        self.limits = limits or HttpLimits()
        self._discard = False
        self._bad = 0  # the status of a closing error owed once the answers in progress are sent
        self._phase = _IDLE
        self._since = time.monotonic()
        self._head_bytes = 0
        self._upgrade_need = 0  # body bytes of an Upgrade request still to read (llhttp leaves them to us)
        self._upgrade_keep_alive = True
        self._continue_pending = False
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._body_size = 0
        self._arrival = (0.0, 0.0)

    # -- connection -------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.registry.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.registry.discard(self)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        run = self.current
        if run is not None:
            self.current = None
            run.finish("client_closed")
        for req, _ in self.queue:  # pipelined requests never answered: still journal them
            plan = self.handler(req)
            if plan.on_finish is not None:
                plan.on_finish("client_closed")
        self.queue.clear()
        self.transport = None

    def data_received(self, data: bytes) -> None:
        while data and not self._discard:
            if self._upgrade_need:
                take = data[: self._upgrade_need]
                data = data[len(take):]
                self._body.append(take)
                self._body_size += len(take)
                self._upgrade_need -= len(take)
                self._since = time.monotonic()
                if self._upgrade_need:
                    return
                self._phase = _IDLE
                self._dispatch(self._upgrade_keep_alive)
                continue
            try:
                self.parser.feed_data(data)
                return
            except httptools.HttpParserUpgrade as exc:  # ignore the upgrade; go on with what follows the head
                offset = exc.args[0] if exc.args and isinstance(exc.args[0], int) else len(data)
                data = data[offset:]
            except httptools.HttpParserError:
                self._fatal(400)
                return

    def _fatal(self, status: int) -> None:
        """Bytes that are not HTTP (400), a head over the limits (431) or too slow (408): answer and close, as
        nginx does. Requests parsed before are still answered first."""
        if self._discard:
            return
        self._discard = True
        self._bad = status
        if self.transport is not None and not self.busy:
            self._send_closing_error()
        # busy: `_next` sends it after the answers in progress

    def _send_closing_error(self) -> None:
        if self.transport is not None:
            self.transport.write(_CLOSING_ERRORS[self._bad])
            self._bad = 0
            self.linger_close()

    def linger_close(self) -> None:
        """Close after what was written, without a reset: send FIN, drop whatever the client still sends, and
        close when it closes or after `linger_s`. Closing with unread bytes would make the kernel send RST,
        and the client would see a reset instead of the answer."""
        t = self.transport
        if t is None:
            return
        self._discard = True
        if self.limits.linger_s <= 0 or not t.can_write_eof():
            t.close()
            return
        with contextlib.suppress(OSError, RuntimeError):
            t.write_eof()
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.loop.call_later(self.limits.linger_s, t.close)

    def eof_received(self) -> bool:
        return False  # the client finished sending: close our side too (answers already queued still go out)

    def check_timeouts(self, now: float) -> None:
        """Called about once a second: close a connection whose client is too slow or idle too long."""
        if self.transport is None or self._discard or self.busy or self.queue:
            return
        age = now - self._since
        lim = self.limits
        if self._phase == _IDLE:
            if age > lim.keepalive_timeout_s:
                self.transport.close()
        elif age > (lim.header_timeout_s if self._phase == _HEAD else lim.body_timeout_s):
            self._fatal(408)

    # -- parser callbacks -------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._body = []
        self._body_size = 0
        self._head_bytes = 0
        self._arrival = (time.monotonic(), time.time())
        self._phase = _HEAD
        self._since = self._arrival[0]

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_bytes += len(url)
        if self._head_bytes > self.limits.max_header_bytes:
            self._fatal(431)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value) + 4
        if self._head_bytes > self.limits.max_header_bytes or len(self._headers) >= self.limits.max_headers:
            self._fatal(431)
            return
        key = _NAMES.get(name)
        if key is None:
            key = name.decode("latin-1").lower()
            if len(_NAMES) < _NAMES_MAX:
                _NAMES[name] = key
        val = value.decode("latin-1")
        prev = self._headers.get(key)
        self._headers[key] = val if prev is None else prev + ", " + val

    def on_headers_complete(self) -> None:
        if self._discard:
            return
        self._phase = _BODY
        self._since = time.monotonic()
        cl = self._headers.get("content-length")
        if cl is not None and cl.isdigit() and int(cl) > self._limit:
            self._body_size = int(cl)
            self._refuse()
            return
        if self._headers.get("expect", "").lower() == "100-continue" and self.transport is not None:
            if self.busy:  # not ahead of the pending response: `_next` sends it once that one is done
                self._continue_pending = True
            else:
                self.transport.write(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        self._since = time.monotonic()
        self._body_size += len(body)
        if self._body_size > self._limit:
            self._refuse()
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._discard:
            return
        self._continue_pending = False  # the body came anyway: no 100 is owed
        keep_alive = self.parser.should_keep_alive()
        if self.parser.should_upgrade():  # llhttp stops at the head; a declared body is ours to read
            cl = self._headers.get("content-length", "0")
            if "chunked" in self._headers.get("transfer-encoding", "").lower() or not cl.isdigit():
                self._fatal(400)
                return
            if int(cl) > 0:
                self._upgrade_need = int(cl)
                self._upgrade_keep_alive = keep_alive
                return
        self._phase = _IDLE
        self._since = time.monotonic()
        self._dispatch(keep_alive)

    def _refuse(self) -> None:
        """A body over the limit: answer now (the fake renders 413), stop reading, close after (lingering)."""
        if self._discard:
            return
        self._body = []
        self._discard = True  # before the dispatch, which may finish the answer (and close) at once
        self._dispatch(False)

    def _dispatch(self, keep_alive: bool) -> None:
        raw = self._url
        q = raw.find(b"?")
        path, query = (raw, b"") if q < 0 else (raw[:q], raw[q + 1:])
        body = b"".join(self._body) if len(self._body) != 1 else self._body[0]
        mono, wall = self._arrival
        req = HttpRequest(self.parser.get_method().decode(), path.decode("latin-1"), query.decode("latin-1"),
                          self._headers, body, mono, wall, self._body_size or len(body))
        req_loop = (req, keep_alive)
        self.queue.append(req_loop)
        if not self.busy:
            self._next(mono)

    # -- executing plans --------------------------------------------------------------------------------

    def _next(self, arrival: float | None = None) -> None:
        """Answer queued requests in order. Plan offsets count from arrival (monotonic), or from now for a
        pipelined request that had to wait its turn."""
        while self.queue and self.transport is not None:
            req, keep_alive = self.queue.popleft()
            base = time.monotonic() if arrival is None else arrival
            arrival = None
            self.busy = True
            if len(req.body) >= self.limits.offload_body_bytes:
                fut = self.loop.run_in_executor(_offload_pool(), self.handler, req)
                fut.add_done_callback(functools.partial(self._planned, keep_alive=keep_alive, base=base))
                return  # `_planned` runs the plan and resumes the queue
            if not self._run(self.handler(req), keep_alive, base):
                return  # waiting on a timer; `_done` resumes the queue
        self.busy = False
        self._since = time.monotonic()
        if self.transport is not None:
            if self._bad:  # garbage arrived behind the requests just answered
                self._send_closing_error()
            elif self._continue_pending:
                self._continue_pending = False
                self.transport.write(_CONTINUE)


    def _run(self, plan: Plan, keep_alive: bool, base: float) -> bool:
        run = _Run(self, plan, keep_alive, base)
        self.current = run
        return run.start()

    def _planned(self, fut: asyncio.Future[Plan], keep_alive: bool, base: float) -> None:
        """A large request's plan, back from the helper thread."""
        plan = fut.result()
        if self.transport is None:
            if plan.on_finish is not None:
                plan.on_finish("client_closed")
            return
        if self._run(plan, keep_alive, base):
            self._next()


def sweep(registry: set[HttpProtocol], period_s: float, while_: Callable[[], bool]) -> None:
    """Check every connection's timeouts every `period_s`, for as long as `while_()` holds (the server serves)."""
    loop = asyncio.get_running_loop()

    def tick() -> None:
        if not while_():
            return
        now = time.monotonic()
        for conn in list(registry):
            conn.check_timeouts(now)
        loop.call_later(period_s, tick)

    loop.call_later(period_s, tick)


class _Run:
    """Executes one plan on one connection."""

    __slots__ = ("base", "conn", "drip", "finished", "i", "keep_alive", "plan", "sent_head")

    def __init__(self, conn: HttpProtocol, plan: Plan, keep_alive: bool, base: float) -> None:
        self.conn = conn
        self.plan = plan
        self.keep_alive = keep_alive
        self.base = base
        self.i = 0
        self.sent_head = False
        self.finished = False
        self.drip: bytes | None = None

    def finish(self, outcome: str) -> None:
        if not self.finished:
            self.finished = True
            entry = self.plan.entry
            if entry is not None and entry.last_byte_mono is None and self.sent_head:
                entry.last_byte_mono = time.monotonic()
            if self.plan.on_finish is not None:
                self.plan.on_finish(outcome)

    def _head(self) -> bytes:
        p = self.plan
        parts = [status_line(p.status), _date_header()]
        parts.append("".join([f"{k}: {v}\r\n" for k, v in p.headers]).encode("latin-1"))
        if p.stream:
            parts.append(b"transfer-encoding: chunked\r\n")
        else:
            parts.append(b"content-length: %d\r\n" % (p.content_length if p.content_length is not None else
                                                      sum(len(c) for _, c in p.chunks)))
        parts.append(b"connection: keep-alive\r\n\r\n" if self.keep_alive else b"connection: close\r\n\r\n")
        return b"".join(parts)

    def start(self) -> bool:
        """Run what is due now; return True if the plan finished synchronously."""
        p = self.plan
        if p.end == END_RESET and not p.chunks:
            self._reset()
            return False
        if p.end == END_HANG:
            conn = self.conn
            conn.timer = conn.loop.call_later(self.base + p.hang_s - time.monotonic(), self._hang_over)
            return False
        if p.drip is not None:
            self.drip = self._all_bytes()
            return self._drip_step()
        return self._step()

    def _all_bytes(self) -> bytes:
        p = self.plan
        out = [self._head()]
        self.sent_head = True
        for _, data in p.chunks:
            out.append(b"%x\r\n%s\r\n" % (len(data), data) if p.stream else data)
        if p.stream and p.end == END_COMPLETE:
            out.append(b"0\r\n\r\n")
        return b"".join(out)

    def _drip_step(self) -> bool:
        conn = self.conn
        if conn.transport is None or self.drip is None:
            return False
        n, gap = self.plan.drip  # type: ignore[misc]
        piece, self.drip = self.drip[:n], self.drip[n:]
        entry = self.plan.entry
        if entry is not None and entry.first_byte_mono is None:
            entry.first_byte_mono = time.monotonic()
        conn.transport.write(piece)
        if self.drip:
            conn.timer = conn.loop.call_later(gap, self._resume_drip)
            return False
        return self._end()

    def _resume_drip(self) -> None:
        self.conn.timer = None
        if self._drip_step():
            self.conn._next()

    def _step(self) -> bool:
        conn = self.conn
        transport = conn.transport
        if transport is None:
            return False
        p = self.plan
        chunks = p.chunks
        now = time.monotonic()
        out: list[bytes] = []
        i = self.i
        n = len(chunks)
        limit = now + 0.0002 - self.base
        while i < n:
            off, data = chunks[i]
            if off > limit:
                break
            out.append(data)
            i += 1
        self.i = i
        if out:
            # everything due now goes out in one write; a stream's due events share one HTTP chunk (chunk
            # boundaries mean nothing to SSE, and framing each event cost a third of a zero-delay stream's CPU)
            body = b"".join(out) if len(out) > 1 else out[0]
            if p.stream and body:  # an empty chunk would end the chunked body
                body = b"%x\r\n%s\r\n" % (len(body), body)
            if not self.sent_head:
                body = self._head() + body
                self.sent_head = True
                if p.entry is not None:
                    p.entry.first_byte_mono = time.monotonic()
            if i >= n and p.stream and p.end == END_COMPLETE:
                body += b"0\r\n\r\n"
            transport.write(body)
        elif not chunks and not self.sent_head:
            transport.write(self._head() + (b"0\r\n\r\n" if p.stream else b""))
            self.sent_head = True
        if i < n:
            # Absolute deadline: a late wake-up shortens the next wait instead of shifting every later chunk.
            conn.timer = conn.loop.call_later(self.base + chunks[i][0] - now, self._resume)
            return False
        return self._end()

    def _resume(self) -> None:
        self.conn.timer = None
        if self._step():
            self.conn._next()

    def _end(self) -> bool:
        p = self.plan
        if p.entry is not None:
            p.entry.last_byte_mono = time.monotonic()
        if p.end == END_RESET:
            self._reset()
            return False
        if p.end == END_CLOSE:
            self.finish("closed_early")
            self.conn.current = None
            if self.conn.transport is not None:
                self.conn.transport.close()
            return False
        self.finish("complete")
        conn = self.conn
        conn.current = None
        if not self.keep_alive:
            if conn.transport is not None:
                if conn._discard:  # a refused body may still be arriving: drain it, or the client gets a reset
                    conn.linger_close()
                else:
                    conn.transport.close()
            conn.busy = False
            return False
        return True

    def _reset(self) -> None:
        conn = self.conn
        self.finish("reset")
        conn.current = None
        t = conn.transport
        if t is None:
            return
        sock = t.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
        t.abort()

    def _hang_over(self) -> None:
        conn = self.conn
        conn.timer = None
        self.finish("hang_timeout")
        conn.current = None
        if conn.transport is not None:
            conn.transport.close()


__all__ = ["END_CLOSE", "HttpProtocol", "sweep"]
