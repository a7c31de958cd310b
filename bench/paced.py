"""A lean asyncio client that measures how faithfully a fake paces its streams.

Each of N connections keeps one stream in flight, back to back, on keep-alive. For every content chunk
it records the arrival time against the intended time (request sent + TTFT + i * ITL). It uses raw
`asyncio.Protocol`s and `time.perf_counter()` stamps in `data_received`: an HTTP client library adds
more error than the server under test (aiohttp alone adds about 10 ms at p99).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import time
from dataclasses import dataclass, field

_CONTENT = b'"delta":{"content":"'
_END = b"\r\n0\r\n\r\n"


@dataclass
class PacedStats:
    lateness_ms: list[float] = field(default_factory=list)  # arrival - intended, every content chunk
    gap_error_ms: list[float] = field(default_factory=list)  # |gap - ITL| between consecutive chunks
    ttft_error_ms: list[float] = field(default_factory=list)  # first chunk arrival - (sent + TTFT)
    client_lag_ms: list[float] = field(default_factory=list)  # the client's own loop lag: error it adds
    streams: int = 0
    short_streams: int = 0  # streams with fewer content chunks than expected
    errors: int = 0


class _StreamConn(asyncio.Protocol):
    def __init__(self, request: bytes, ttft: float, itl: float, chunks: int, stop_at: float,
                 stats: PacedStats, done: asyncio.Future[None]) -> None:
        self.request = request
        self.ttft, self.itl, self.chunks = ttft, itl, chunks
        self.stop_at = stop_at
        self.stats = stats
        self.done = done
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.scan = 0
        self.sent = 0.0
        self.arrivals: list[float] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._send()

    def _send(self) -> None:
        self.buf.clear()
        self.scan = 0
        self.arrivals = []
        assert self.transport is not None
        self.sent = time.perf_counter()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.buf += data
        while True:
            i = self.buf.find(_CONTENT, self.scan)
            if i < 0:
                break
            self.arrivals.append(now)
            self.scan = i + len(_CONTENT)
        self.scan = max(self.scan, len(self.buf) - len(_CONTENT))
        if self.buf.endswith(_END):
            self._record()
            if time.perf_counter() < self.stop_at:
                self._send()
            elif self.transport is not None:
                self.transport.close()

    def _record(self) -> None:
        st, a = self.stats, self.arrivals
        st.streams += 1
        if len(a) < self.chunks:
            st.short_streams += 1
        if not a:
            return
        base = self.sent + self.ttft
        st.ttft_error_ms.append((a[0] - base) * 1000)
        st.lateness_ms.extend((t - (base + k * self.itl)) * 1000 for k, t in enumerate(a))
        st.gap_error_ms.extend(abs((a[k] - a[k - 1]) - self.itl) * 1000 for k in range(1, len(a)))

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None or time.perf_counter() < self.stop_at:
            self.stats.errors += 1
        if not self.done.done():
            self.done.set_result(None)


async def _watch_lag(stats: PacedStats, period: float = 0.005) -> None:
    """Oversleep of a short timer: how late this client itself notices arrivals."""
    while True:
        t = time.perf_counter()
        await asyncio.sleep(period)
        stats.client_lag_ms.append((time.perf_counter() - t - period) * 1000)


async def _run(port: int, request: bytes, streams: int, ttft: float, itl: float, chunks: int,
               seconds: float) -> PacedStats:
    loop = asyncio.get_running_loop()
    stats = PacedStats()
    stop_at = time.perf_counter() + seconds
    stream_span = ttft + (chunks - 1) * itl
    futures: list[asyncio.Future[None]] = []
    watcher = asyncio.create_task(_watch_lag(stats))
    try:
        for _ in range(streams):  # stagger the starts over one stream's span: steady load, not a burst
            done: asyncio.Future[None] = loop.create_future()
            futures.append(done)

            def factory(done: asyncio.Future[None] = done) -> _StreamConn:
                return _StreamConn(request, ttft, itl, chunks, stop_at, stats, done)

            await loop.create_connection(factory, "127.0.0.1", port)
            await asyncio.sleep(max(0.0, stream_span / streams))
        await asyncio.wait(futures, timeout=seconds + stream_span + 30)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    return stats


def run_paced(port: int, request: bytes, streams: int, ttft_ms: float, itl_ms: float, chunks: int,
              seconds: float) -> PacedStats:
    """Run the client to completion (streams started before `seconds` are finished) and return its samples."""
    loop: asyncio.AbstractEventLoop
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:  # pragma: no cover
        loop = asyncio.new_event_loop()
    main = loop.create_task(_run(port, request, streams, ttft_ms / 1000, itl_ms / 1000, chunks, seconds))
    # The loop swallows exceptions raised by plain signal handlers: cancel the run instead, re-raise after.
    caught: list[int] = []
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}

    def interrupt(sig: int) -> None:
        caught.append(sig)
        main.cancel()

    for sig in previous:
        loop.add_signal_handler(sig, interrupt, sig)
    gc.disable()  # a collection pause would be charged to the server as lateness
    try:
        return loop.run_until_complete(main)
    except asyncio.CancelledError:
        if not caught:
            raise
        if caught[0] == signal.SIGINT:
            raise KeyboardInterrupt from None
        raise SystemExit(128 + caught[0]) from None
    finally:
        gc.enable()
        for sig, handler in previous.items():
            loop.remove_signal_handler(sig)
            signal.signal(sig, handler)
        loop.close()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]
