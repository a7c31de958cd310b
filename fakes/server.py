"""Run fakes as real HTTP servers on loopback: in a background thread (tests, the harness) or in the
foreground (`gatedrill fake serve`). The same `Fake` object serves HTTP, the control API and Python calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import signal
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ._http import HttpProtocol, sweep
from .config import FakeConfig
from .errors import ConfigError, GatedrillError
from .fake import Fake
from .plan import HttpRequest, Plan

Handler = Callable[[HttpRequest], Plan]


def _new_loop() -> asyncio.AbstractEventLoop:
    """The standard library's loop, on purpose: measured here, uvloop paced 500 streams with a p99 lateness
    of about 5 ms (its timers have millisecond granularity), the stdlib loop under 2 ms, for about 3 us more
    CPU per request. Timing is what a fake is for."""
    return asyncio.new_event_loop()


def tune_gc() -> None:
    """For a process that only serves fakes: move start-up objects out of the collector's sight and collect
    less often, so collection pauses do not show up as stream lateness."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def listen_error(cfg: FakeConfig, exc: OSError) -> GatedrillError:
    """What a user reads when a fake cannot listen: the port in use, or the system's reason."""
    if exc.errno == errno.EADDRINUSE:
        return GatedrillError(f"fake {cfg.name!r}: port {cfg.port} on {cfg.host} is in use; pick another port "
                              "or use 0 for a free one")
    return GatedrillError(f"fake {cfg.name!r}: cannot listen on {cfg.host}:{cfg.port}: {exc.strerror}")


async def start_listener(fake: Fake, registry: set[HttpProtocol], handler: Handler | None = None,
                         sock: socket.socket | None = None) -> asyncio.Server:
    """Serve `fake` (through `handler`, default `fake.handle`) on its host and port, or on a listening socket given
    (a worker's share of a port, `fakes.workers`)."""
    cfg = fake.config
    assert cfg.max_body_bytes is not None
    loop = asyncio.get_running_loop()
    handle = handler or fake.handle

    def protocol() -> HttpProtocol:
        return HttpProtocol(handle, cfg.max_body_bytes or 0, registry, cfg.http)

    try:
        if sock is not None:
            server = await loop.create_server(protocol, sock=sock, backlog=4096)
        else:
            server = await loop.create_server(protocol, host=cfg.host, port=cfg.port, reuse_address=True,
                                              backlog=4096)
    except OSError as exc:
        raise listen_error(cfg, exc) from None
    lim = cfg.http
    sweep(registry, min(1.0, lim.header_timeout_s / 4, lim.body_timeout_s / 4, lim.keepalive_timeout_s / 4),
          server.is_serving)
    return server


class FakeServer:
    """A fake served over HTTP from a background thread. Use as a context manager.

    >>> with FakeServer(provider="anthropic") as srv:
    ...     srv.url  # http://127.0.0.1:PORT
    """

    def __init__(self, config: FakeConfig | dict[str, Any] | Fake | None = None, **overrides: Any) -> None:
        self.fake = config if isinstance(config, Fake) else Fake(config, **overrides)
        if self.fake.config.workers > 1:
            if not isinstance(config, Fake):
                self.fake.close()
            raise ConfigError("`workers` above 1 needs processes of its own: serve the fake with `gatedrill fake serve "
                              "--workers N` or from a scenario; FakeServer serves in this process")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._conns: set[HttpProtocol] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{self.fake.config.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The URL an SDK wants: OpenAI clients take .../v1, Anthropic clients the bare origin."""
        return self.url + "/v1" if self.fake.config.provider == "openai" else self.url

    @property
    def name(self) -> str:
        return self.fake.config.name

    def __getattr__(self, item: str) -> Any:  # delegate the Python handle: patch, journal, reset, ...
        if item.startswith("_"):
            raise AttributeError(item)
        return getattr(self.fake, item)

    def start(self) -> FakeServer:
        ready = threading.Event()
        error: list[BaseException] = []

        def run() -> None:
            loop = _new_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(start_listener(self.fake, self._conns))
                sock = self._server.sockets[0]
                self.port = sock.getsockname()[1]
            except BaseException as exc:
                error.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name=f"gatedrill-fake-{self.name}", daemon=True)
        self._thread.start()
        ready.wait(10)
        if error:
            raise error[0]
        if not self.port:
            raise GatedrillError(f"fake {self.name!r} did not start within 10 s")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None or self._thread is None:
            return

        def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for conn in list(self._conns):
                if conn.transport is not None:
                    conn.transport.abort()
            loop.call_soon(loop.stop)

        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(shutdown)
        self._thread.join(10)
        self._thread = None
        self._loop = None
        self.fake.close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_forever(fakes: list[Fake], announce: Any = print, handlers: Sequence[Handler | None] = (),
                  socks: Sequence[socket.socket | None] = ()) -> None:
    """Serve fakes in the foreground until SIGINT/SIGTERM; print one URL line per fake. `handlers` and `socks`, when
    given, are per fake (see `start_listener`)."""
    loop = _new_loop()
    asyncio.set_event_loop(loop)
    registry: set[HttpProtocol] = set()
    servers = []
    stop = asyncio.Event()
    try:
        for i, fake in enumerate(fakes):
            srv = loop.run_until_complete(start_listener(fake, registry, handlers[i] if handlers else None,
                                                         socks[i] if socks else None))
            servers.append(srv)
            port = srv.sockets[0].getsockname()[1]
            cfg = fake.config
            announce(f"{cfg.name}\t{cfg.provider}\thttp://{cfg.host}:{port}")
        tune_gc()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        loop.run_until_complete(stop.wait())
    finally:
        for srv in servers:
            srv.close()
        for conn in list(registry):
            if conn.transport is not None:
                conn.transport.abort()
        for fake in fakes:
            fake.close()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()


@contextlib.contextmanager
def serve(*configs: FakeConfig | dict[str, Any]) -> Iterator[list[FakeServer]]:
    """Start several fakes, each on its own port, and stop them all on exit."""
    servers: list[FakeServer] = []
    try:
        for c in configs:
            servers.append(FakeServer(c).start())
        yield servers
    finally:
        for s in servers:
            s.stop()
