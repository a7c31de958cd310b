"""The third way to run a fake: answer in-process httpx/httpx2 clients aimed at real provider hosts.

`intercept()` routes requests for `api.openai.com`, `api.anthropic.com` (or any host you name) through a
respx router to a `Fake`, the same object the HTTP server runs. Clients on httpx (LiteLLM as a library,
older SDKs) and on httpx2 (openai 3.x, anthropic 2.x) are both caught: one respx `Mocker` patches each
library's `Client._transport_for_url`, turns httpx2 requests into httpx requests for the router, and hands
the answer back in the caller's own types. Unmatched hosts go to the client's real transport untouched.

A `Plan` is executed the way the server would put it on the wire, so clients see the same things:
headers when the first chunk is due, body chunks paced against absolute deadlines (time.sleep in sync
clients, anyio.sleep in async ones), resets as `ReadError`, early closes as `RemoteProtocolError`, and a
hang as `ReadTimeout` once the request's read timeout passes (any wait longer than that timeout does the
same). The journal entry's first/last byte times are stamped and `plan.on_finish` is called exactly once.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from types import ModuleType, TracebackType
from typing import Any, TypeVar

import anyio
import httpx
import respx
from respx.mocks import Mocker
from respx.models import AllMockedAssertionError, PassThrough

from .config import FakeConfig
from .errors import ConfigError, GatedrillError
from .fake import Fake
from .plan import END_CLOSE, END_HANG, END_RESET, HttpRequest, Plan

try:  # httpx2 is what the current official SDKs use; interception of plain httpx works without it
    import httpx2
except ImportError:  # pragma: no cover - httpx2 is installed wherever the SDKs are
    httpx2 = None  # type: ignore[assignment]

DEFAULT_HOSTS: dict[str, str] = {"openai": "api.openai.com", "anthropic": "api.anthropic.com",
                                 "gemini": "generativelanguage.googleapis.com"}

F = TypeVar("F", bound=Callable[..., Any])

# -- executing a plan for an in-process client ------------------------------------------------------------

_COALESCE_S = 0.0002  # chunks due this close together leave in one piece, as the server writes them
_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}
_REASONS[529] = b"Site is overloaded"


def _read_timeout(request: Any) -> float | None:
    value = (request.extensions.get("timeout") or {}).get("read")
    return None if value is None else float(value)


class _Execution:
    """One plan, run for one request. Sans-IO: steps yield seconds to sleep (float) or bytes to deliver,
    so the sync and the async driver share every decision. Errors are raised in the caller's library.
    """

    __slots__ = ("base", "finished", "lib", "lock", "plan", "read_timeout", "request", "sent", "sent_head")

    def __init__(self, plan: Plan, base: float, lib: ModuleType, request: Any, lock: threading.Lock) -> None:
        self.plan = plan
        self.base = base
        self.lib = lib
        self.request = request
        self.read_timeout = _read_timeout(request)
        self.lock = lock
        self.finished = False
        self.sent_head = False
        self.sent = 0

    def finish(self, outcome: str) -> None:
        if self.finished:
            return
        self.finished = True
        entry = self.plan.entry
        if entry is not None and entry.last_byte_mono is None and self.sent_head:
            entry.last_byte_mono = time.monotonic()
        if self.plan.on_finish is not None:
            with self.lock:
                self.plan.on_finish(outcome)

    def _error(self, name: str, message: str) -> Exception:
        return getattr(self.lib, name)(message, request=self.request)

    def _wait(self, deadline: float) -> Iterator[float]:
        """Sleep until `deadline`; a wait longer than the read timeout ends as the client gives up."""
        delay = deadline - time.monotonic()
        if delay <= 0:
            return
        if self.read_timeout is not None and delay > self.read_timeout:
            yield self.read_timeout
            self.finish("client_closed")
            raise self._error("ReadTimeout", "timed out")
        yield delay

    def head(self) -> Iterator[float]:
        """Waits until the status line and headers arrive; raises what the client sees if they never do."""
        p = self.plan
        if p.end == END_RESET and not p.chunks:
            self.finish("reset")
            raise self._error("ReadError", "[Errno 104] Connection reset by peer")
        if p.end == END_HANG:
            yield from self._wait(self.base + p.hang_s)
            self.finish("hang_timeout")
            raise self._error("RemoteProtocolError", "Server disconnected without sending a response.")
        if p.drip is not None:  # the head itself trickles out, `n` bytes per write
            n, gap = p.drip
            yield from self._wait(self.base + ((_head_size(p) - 1) // n) * gap)
        elif p.chunks:
            yield from self._wait(self.base + p.chunks[0][0])
        self.sent_head = True
        if p.entry is not None:
            p.entry.first_byte_mono = time.monotonic()

    def body(self) -> Generator[float | bytes, None, None]:
        p = self.plan
        yield from (self._drip(*p.drip) if p.drip is not None else self._paced())
        self._conclude()
        if p.end == END_RESET:
            raise self._error("ReadError", "[Errno 104] Connection reset by peer")
        if p.end == END_CLOSE:
            detail = ("incomplete chunked read" if p.stream else
                      f"received {self.sent} bytes, expected {p.content_length}")
            raise self._error("RemoteProtocolError",
                              f"peer closed connection without sending complete message body ({detail})")

    def _conclude(self) -> None:
        """The last bytes are leaving: like the server, the plan is over once they are written, whether
        or not the client reads them (an SDK stops reading at `[DONE]`)."""
        if self.finished:
            return
        p = self.plan
        if p.entry is not None:
            p.entry.last_byte_mono = time.monotonic()
        self.finish({END_RESET: "reset", END_CLOSE: "closed_early"}.get(p.end, "complete"))

    def _paced(self) -> Iterator[float | bytes]:
        """Chunks at their deadlines; those due together leave together, as one server write."""
        chunks, i, n = self.plan.chunks, 0, len(self.plan.chunks)
        while i < n:
            yield from self._wait(self.base + chunks[i][0])
            horizon = time.monotonic() - self.base + _COALESCE_S
            out = [chunks[i][1]]
            i += 1
            while i < n and chunks[i][0] <= horizon:
                out.append(chunks[i][1])
                i += 1
            data = b"".join(out)
            self.sent += len(data)
            if i >= n:
                self._conclude()
            yield data

    def _drip(self, n: int, gap: float) -> Iterator[float | bytes]:
        """Body bytes as they leave in `n`-byte writes of head+body, one write every `gap` seconds."""
        data = b"".join(c for _, c in self.plan.chunks)
        head = _head_size(self.plan)
        pos = 0
        while pos < len(data):
            k = (head + pos) // n
            end = (k + 1) * n - head
            yield from self._wait(self.base + k * gap)
            piece = data[pos:end]
            pos = end
            self.sent += len(piece)
            if pos >= len(data):
                self._conclude()
            yield piece

    def response_headers(self) -> list[tuple[str, str]]:
        p = self.plan
        headers = [*p.headers, ("date", formatdate(usegmt=True))]
        if p.stream:
            headers.append(("transfer-encoding", "chunked"))
        else:
            length = p.content_length if p.content_length is not None else sum(len(c) for _, c in p.chunks)
            headers.append(("content-length", str(length)))
        return headers


def _head_size(plan: Plan) -> int:
    """Roughly the bytes of the status line and headers the server writes (for slow-drip timing)."""
    return 17 + 37 + sum(len(k) + len(v) + 4 for k, v in plan.headers) + 28 + 24 + 2


class _PlanBody(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body that runs the plan's body steps as the client reads."""

    def __init__(self, execution: _Execution) -> None:
        self._ex = execution
        self._steps: Generator[float | bytes, None, None] = execution.body()

    def __iter__(self) -> Iterator[bytes]:
        for step in self._steps:
            if isinstance(step, bytes):
                yield step
            else:
                time.sleep(step)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for step in self._steps:
            if isinstance(step, bytes):
                yield step
            else:
                await anyio.sleep(step)

    def close(self) -> None:
        """The client is done: if the plan has not ended, the client closed the connection early."""
        self._steps.close()
        self._ex.finish("client_closed")

    async def aclose(self) -> None:
        self.close()


if httpx2 is not None:

    class _PlanBody2(_PlanBody, httpx2.SyncByteStream, httpx2.AsyncByteStream):
        """The same body, typed for httpx2 clients."""


def _response(ex: _Execution, request: httpx.Request) -> httpx.Response:
    body = _PlanBody(ex) if ex.lib is httpx or httpx2 is None else _PlanBody2(ex)
    status = ex.plan.status
    return httpx.Response(status, headers=ex.response_headers(), stream=body, request=request,
                          extensions={"http_version": b"HTTP/1.1",
                                      "reason_phrase": _REASONS.get(status, b"Status %d" % status)})


def _respond_sync(ex: _Execution, request: httpx.Request) -> httpx.Response:
    try:
        for delay in ex.head():
            time.sleep(delay)
    except BaseException:
        ex.finish("client_closed")  # no-op when the plan already ended (reset, hang, timeout)
        raise
    return _response(ex, request)


async def _respond_async(ex: _Execution, request: httpx.Request) -> httpx.Response:
    try:
        for delay in ex.head():
            await anyio.sleep(delay)
    except BaseException:
        ex.finish("client_closed")
        raise
    return _response(ex, request)


# -- the bridge from client transports to the respx router ------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Caller:
    """Who is asking: the client's library, its own request object, and whether it awaits."""

    lib: ModuleType
    request: Any
    is_async: bool


_CALLER: ContextVar[_Caller | None] = ContextVar("gatedrill_intercept_caller", default=None)


def to_http_request(request: httpx.Request) -> HttpRequest:
    """What the fake's server would have parsed from this request (names lower-cased, repeats joined)."""
    mono, wall = time.monotonic(), time.time()
    path, _, query = request.url.raw_path.decode("latin-1").partition("?")
    headers: dict[str, str] = {}
    for raw_name, raw_value in request.headers.raw:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        prev = headers.get(name)
        headers[name] = value if prev is None else prev + ", " + value
    body = request.content
    return HttpRequest(request.method, path, query, headers, body, mono, wall, len(body))


class InterceptMocker(Mocker):
    """Patches `_transport_for_url` of httpx and httpx2 clients so their requests meet our routers."""

    name = "gatedrill"
    targets = ["httpx._client.Client", "httpx._client.AsyncClient"] + (
        ["httpx2._client.Client", "httpx2._client.AsyncClient"] if httpx2 is not None else [])
    target_methods = ["_transport_for_url"]

    @classmethod
    def mock(cls, spec: Callable[..., Any]) -> Callable[..., Any]:
        def _transport_for_url(self: Any, *args: Any, **kwargs: Any) -> _InterceptTransport:
            lib = httpx if isinstance(self, (httpx.Client, httpx.AsyncClient)) else httpx2
            return _InterceptTransport(lib, spec(self, *args, **kwargs))

        return _transport_for_url

    @classmethod
    def handler(cls, httpx_request: httpx.Request) -> httpx.Response | None:
        """The routers' answer, or None when no route matches (the caller then passes through)."""
        try:
            return super().handler(httpx_request)
        except (AllMockedAssertionError, PassThrough):
            return None

    @classmethod
    async def async_handler(cls, httpx_request: httpx.Request) -> httpx.Response | None:
        try:
            return await super().async_handler(httpx_request)
        except (AllMockedAssertionError, PassThrough):
            return None


class _InterceptTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Stands in for the client's transport for one request: the router first, else the real transport."""

    def __init__(self, lib: ModuleType, real: Any) -> None:
        self.lib = lib
        self.real = real

    def _as_httpx(self, request: Any) -> httpx.Request:
        if self.lib is httpx:
            return request
        return httpx.Request(request.method, str(request.url), headers=request.headers.raw,
                             content=request.content, extensions=request.extensions)

    def _native(self, response: httpx.Response, content: bytes | None) -> Any:
        if self.lib is httpx:
            return response
        if content is not None:  # a plain respx route (not a fake): hand over its bytes
            return httpx2.Response(response.status_code, headers=response.headers.raw, content=content,
                                   extensions=response.extensions)
        return httpx2.Response(response.status_code, headers=response.headers.raw, stream=response.stream,  # type: ignore[arg-type]
                               extensions=response.extensions)

    def handle_request(self, request: Any) -> Any:
        request.read()
        token = _CALLER.set(_Caller(self.lib, request, False))
        try:
            response = InterceptMocker.handler(self._as_httpx(request))
        finally:
            _CALLER.reset(token)
        if response is None:
            return self.real.handle_request(request)
        foreign = self.lib is not httpx and not isinstance(response.stream, _PlanBody)
        return self._native(response, response.read() if foreign else None)

    async def handle_async_request(self, request: Any) -> Any:
        await request.aread()
        token = _CALLER.set(_Caller(self.lib, request, True))
        try:
            response = await InterceptMocker.async_handler(self._as_httpx(request))
        finally:
            _CALLER.reset(token)
        if response is None:
            return await self.real.handle_async_request(request)
        foreign = self.lib is not httpx and not isinstance(response.stream, _PlanBody)
        return self._native(response, await response.aread() if foreign else None)


class _Responder:
    """The side effect of one fake's routes: request in, the fake's plan out as a (paced) response."""

    def __init__(self, fake: Fake) -> None:
        self.fake = fake
        self.lock = threading.Lock()  # in-process clients may call from many threads; the server uses one

    def respond(self, request: httpx.Request) -> httpx.Response | Awaitable[httpx.Response]:
        caller = _CALLER.get() or _Caller(httpx, request, False)
        req = to_http_request(request)
        with self.lock:
            plan = self.fake.handle(req)
        ex = _Execution(plan, req.arrival_mono, caller.lib, caller.request, self.lock)
        if caller.is_async:
            return _respond_async(ex, request)
        return _respond_sync(ex, request)


# -- public API -------------------------------------------------------------------------------------------

Target = Fake | FakeConfig | Mapping[str, Any] | str | Any  # Any: a FakeServer (its .fake is used)


class Interception:
    """Fakes answering their providers' hostnames for in-process clients. A context manager (sync or
    async) and a decorator, like `respx.mock`. `.fakes` maps fake names to `Fake`s (journals, patch,
    faults); `.router` is the respx router, whose `.calls` record every intercepted request while active.
    """

    def __init__(self, *targets: Target, hosts: Mapping[str, str | Sequence[str]] | None = None) -> None:
        self.fakes: dict[str, Fake] = {}
        self._owned: list[Fake] = []
        self._active = False
        self.router = respx.MockRouter(assert_all_called=False, assert_all_mocked=True,
                                       using=InterceptMocker.name)
        for target in targets or ("openai", "anthropic"):
            fake = self._fake_for(target)
            if fake.config.name in self.fakes:
                raise ConfigError(f"two fakes are named {fake.config.name!r}; give each a distinct `name`")
            self.fakes[fake.config.name] = fake
        self._route(dict(hosts or {}))

    def _fake_for(self, target: Target) -> Fake:
        if isinstance(target, Fake):
            return target
        if isinstance(target, str):
            fake = Fake(provider=target)
        elif isinstance(target, FakeConfig | Mapping):
            fake = Fake(target if isinstance(target, FakeConfig) else dict(target))
        elif isinstance(getattr(target, "fake", None), Fake):
            return target.fake
        else:
            raise ConfigError(f"cannot intercept with {target!r}: pass a Fake, FakeConfig, dict or provider name")
        self._owned.append(fake)
        return fake

    def _route(self, hosts: dict[str, str | Sequence[str]]) -> None:
        known = set(self.fakes) | {f.config.provider for f in self.fakes.values()}
        unknown = sorted(set(hosts) - known)
        if unknown:
            raise ConfigError(f"hosts names {', '.join(unknown)}, which is neither a fake name nor a provider "
                              f"here; use one of {', '.join(sorted(known))}")
        claimed: dict[str, str] = {}
        for name, fake in self.fakes.items():
            chosen = hosts.get(name, hosts.get(fake.config.provider, DEFAULT_HOSTS.get(fake.config.provider)))
            if chosen is None:
                raise ConfigError(f"fake {name!r} has no default host; pass hosts={{{name!r}: 'api.example.com'}}")
            responder = _Responder(fake)
            for host in [chosen] if isinstance(chosen, str) else list(chosen):
                if host in claimed:
                    raise ConfigError(f"fakes {claimed[host]!r} and {name!r} both claim host {host!r}; "
                                      "pass hosts= to give each its own")
                claimed[host] = name
                self.router.route(host=host, name=f"{name}@{host}").mock(side_effect=responder.respond)

    def __getitem__(self, name: str) -> Fake:
        return self.fakes[name]

    @property
    def calls(self) -> Any:
        return self.router.calls

    def start(self) -> Interception:
        if self._active:
            raise GatedrillError("this interception is already active; nest a second intercept() instead")
        self._active = True
        self.router.reset()
        InterceptMocker.register(self.router)
        InterceptMocker.start()
        return self

    def stop(self) -> None:
        if not self._active:
            return
        self._active = False
        InterceptMocker.unregister(self.router)
        InterceptMocker.stop()
        for fake in self._owned:
            fake.journal.flush()

    def __enter__(self) -> Interception:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    async def __aenter__(self) -> Interception:
        return self.start()

    async def __aexit__(self, *exc: object) -> None:
        self.stop()

    def __call__(self, func: F) -> F:
        """Decorate a sync or async function; a parameter named `intercepted` receives this object."""
        call: Callable[..., Any] = func
        if "intercepted" in inspect.signature(func).parameters:
            call = functools.partial(func, intercepted=self)

        if inspect.iscoroutinefunction(func):

            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return await call(*args, **kwargs)

            wrapper: Callable[..., Any] = run_async
        else:

            def run(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return call(*args, **kwargs)

            wrapper = run
        functools.update_wrapper(wrapper, func)
        wrapper.__wrapped__ = call  # type: ignore[attr-defined]  # pytest must not see `intercepted` as a fixture
        return wrapper  # type: ignore[return-value]


def intercept(*fakes_or_configs: Target, hosts: Mapping[str, str | Sequence[str]] | None = None) -> Interception:
    """Answer requests to provider hosts from in-process httpx/httpx2 clients with fakes.

    >>> with intercept("openai") as ic:
    ...     openai.OpenAI(api_key="k", max_retries=0).models.list()
    ...     assert ic.fakes["openai"].journal.total == 1

    Targets are `Fake`s, `FakeConfig`s, config dicts, provider names or `FakeServer`s (sharing their
    fake); none means one fake per provider. `hosts` maps a fake name or provider to a host or hosts
    (defaults: openai -> api.openai.com, anthropic -> api.anthropic.com). Other hosts pass through.
    """
    return Interception(*fakes_or_configs, hosts=hosts)


__all__ = ["DEFAULT_HOSTS", "InterceptMocker", "Interception", "intercept", "to_http_request"]
