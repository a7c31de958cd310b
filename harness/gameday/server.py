"""The console's web server: aiohttp on 127.0.0.1, in its own thread and event loop beside the runner.

GET /         the page (page.py): inline CSS and JS, nothing fetched from elsewhere
GET /events   server-sent events: `hello` (everything so far), then `tick`, `log` and `end` as they happen
POST /action  a console form (actions.py) -> applied through the run's timeline -> the log line
POST /stop    end the session (the load drains, then the record is judged)

Only this page may act: POSTs need the session's token (in the page, sent as a header, so another site's form or
script cannot post one: a custom header makes a cross-origin request preflighted, and no preflight is answered),
and the Host header must name the loopback address (no DNS rebinding).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import secrets
import threading
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import ClientSession, ClientTimeout, web

from gatedrill.fakes.errors import ConfigError

from .live import LiveState
from .page import page_html

TOKEN_HEADER = "x-gameday-token"
HEALTH_EVERY_S = 1.0
KEEPALIVE_S = 15.0
_STATE: web.AppKey[Console] = web.AppKey("console")


class Console:
    """The server for one session. `start()` binds (ConfigError if the port is taken) and returns the URL."""

    def __init__(self, state: LiveState, act: Callable[[Any], dict[str, Any]], stop: Callable[[], None],
                 port: int = 0) -> None:
        self.state = state
        self.act = act  # blocking (it calls the fakes): run in the default executor
        self.stop_session = stop
        self.port = port
        self.token = secrets.token_urlsafe(24)
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._streams: set[asyncio.Task[Any]] = set()
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # -- life cycle (caller's thread) -----------------------------------------------------------------------

    def start(self) -> str:
        self._thread = threading.Thread(target=self._serve, name="gatedrill-gameday", daemon=True)
        self._thread.start()
        self._ready.wait(15)
        if self._error is not None:
            raise self._error
        if not self.url:
            raise ConfigError("the game-day console did not start within 15 s")
        return self.url

    def close(self) -> None:
        loop = self._loop
        if loop is not None and loop.is_running():  # not after a failed bind: nothing would await the shutdown
            with contextlib.suppress(Exception):  # a server that will not close in time is left to the daemon thread
                asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10)
            with contextlib.suppress(RuntimeError):  # closed meanwhile
                loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._bind())
        except OSError as exc:
            self._error = ConfigError(f"the console cannot listen on 127.0.0.1:{self.port} ({exc.strerror}); "
                                      "choose another --port, or 0 for a free one")
        except BaseException as exc:  # handed to the caller's thread, raised there
            self._error = exc
        finally:
            self._ready.set()
        if self._error is None:
            loop.run_forever()
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()

    async def _bind(self) -> None:
        app = web.Application()
        app[_STATE] = self
        app.router.add_get("/", _page)
        app.router.add_get("/events", _events)
        app.router.add_post("/action", _action)
        app.router.add_post("/stop", _stop)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self.url = f"http://127.0.0.1:{self.port}/"

    async def _shutdown(self) -> None:
        for task in list(self._streams):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()

    def poll_health(self, url: str) -> None:
        """From any thread: read breaker states from the gateway's `url` (its /health) once a second from now on."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(lambda: self._streams.add(loop.create_task(self._poll_health(url))))

    async def _poll_health(self, url: str) -> None:
        """Breaker state per upstream from the gateway's /health, once a second (the reference gateway's shape:
        {"upstreams": {NAME: {"state": closed|open|half_open}}}); an unanswered poll keeps the last states."""
        async with ClientSession(timeout=ClientTimeout(total=HEALTH_EVERY_S)) as http:
            while True:
                with contextlib.suppress(Exception):
                    async with http.get(url) as r:
                        body = await r.json(content_type=None)
                    ups = body.get("upstreams") if isinstance(body, dict) else None
                    if isinstance(ups, dict):
                        self.state.set_breakers({str(k): str(v.get("state")) for k, v in ups.items()
                                                 if isinstance(v, dict) and v.get("state")})
                await asyncio.sleep(HEALTH_EVERY_S)

    # -- request guards --------------------------------------------------------------------------------------

    def allowed_host(self, request: web.Request) -> bool:
        return request.host in (f"127.0.0.1:{self.port}", f"localhost:{self.port}")

    def has_token(self, request: web.Request) -> bool:
        given = request.headers.get(TOKEN_HEADER, "")
        return hmac.compare_digest(given.encode(), self.token.encode())


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(obj), status=status, content_type="application/json")


def _guard(request: web.Request, token: bool) -> web.Response | None:
    console = request.app[_STATE]
    if not console.allowed_host(request):
        return _json({"error": "the console answers on 127.0.0.1 only"}, 421)
    if token and not console.has_token(request):
        return _json({"error": f"missing or wrong {TOKEN_HEADER}: act from the console page"}, 403)
    return None


async def _page(request: web.Request) -> web.StreamResponse:
    refused = _guard(request, token=False)
    if refused is not None:
        return refused
    console = request.app[_STATE]
    nonce = secrets.token_urlsafe(16)
    csp = (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; connect-src 'self'; "
           "img-src data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
    return web.Response(text=page_html(console.token, nonce), content_type="text/html",
                        headers={"content-security-policy": csp, "cache-control": "no-store",
                                 "x-content-type-options": "nosniff"})


async def _events(request: web.Request) -> web.StreamResponse:
    refused = _guard(request, token=False)
    if refused is not None:
        return refused
    console = request.app[_STATE]
    resp = web.StreamResponse(headers={"content-type": "text/event-stream", "cache-control": "no-store"})
    await resp.prepare(request)
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    hello, unsubscribe = console.state.subscribe(asyncio.get_running_loop(), queue.put_nowait)
    task = asyncio.current_task()
    if task is not None:
        console._streams.add(task)
    try:
        await resp.write(_sse("hello", hello))
        while True:
            try:
                event, data = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
            except TimeoutError:
                await resp.write(b": keep-alive\n\n")
                continue
            await resp.write(_sse(event, data))
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        unsubscribe()
        if task is not None:
            console._streams.discard(task)
    return resp


def _sse(event: str, data: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


async def _action(request: web.Request) -> web.StreamResponse:
    refused = _guard(request, token=True)
    if refused is not None:
        return refused
    console = request.app[_STATE]
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return _json({"error": "the body is not JSON"}, 400)
    try:
        line = await asyncio.get_running_loop().run_in_executor(None, console.act, body)
    except ConfigError as exc:
        return _json({"error": str(exc)}, 422)
    return _json(line)


async def _stop(request: web.Request) -> web.StreamResponse:
    refused = _guard(request, token=True)
    if refused is not None:
        return refused
    request.app[_STATE].stop_session()
    return _json({"stopping": True})
