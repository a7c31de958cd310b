"""The reference gateway's HTTP front end (aiohttp.web), and two ways to run it.

Routes: `POST /v1/chat/completions` (JSON and SSE), `GET /v1/models`, `GET /health`, and a small control
API under `/_gatedrill/` (`GET config`, `PUT weights`, `PUT intent`) so a drill's timeline can change
weights at runtime. `ReferenceGateway` runs it in a background thread on an ephemeral loopback port (tests,
in-process use); `serve` runs it in the foreground (`python -m gatedrill.harness.reference CONFIG`). aiohttp sets
TCP_NODELAY on every connection, server and client side, so small writes are not held back by Nagle.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import signal
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from pydantic import ValidationError

from gatedrill.fakes.config import format_validation_error
from gatedrill.fakes.correlation import CORRELATION_HEADER, FAULT_HEADER, SESSION_HEADER, TURN_HEADER, parse_marker
from gatedrill.fakes.errors import ConfigError, GatedrillError

from ..intent import RoutingIntent
from .config import GatewayConfig
from .dispatch import Dispatcher, Outcome
from .errors import ClientError, bad_request, client_error_for
from .mutants import Hooks, StreamTail
from .router import Router
from .streams import OutEvent
from .upstream import JsonReply, StreamReply, UpstreamClient

FORWARDED_HEADERS = (CORRELATION_HEADER, SESSION_HEADER, TURN_HEADER, FAULT_HEADER)
SHUTDOWN_GRACE_S = 2.0
MAX_BODY_BYTES = 64 * 2**20  # context-window drills send prompts near 200k tokens


class Gateway:
    """The gateway's state inside its event loop: router, upstream clients, dispatcher."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.hooks = Hooks(config.mutant)
        self.router = Router(config, self.hooks)
        self.clients = {u.name: UpstreamClient(u, not self.hooks.commits_on_first_event) for u in config.upstreams}
        self.dispatcher = Dispatcher(self.router, self.clients, self.hooks)
        self.started = time.time()

    def provider_of(self, upstream: str | None) -> str:
        endpoint = self.router.endpoints.get(upstream or "")
        return endpoint.provider if endpoint is not None else ""

    async def start(self) -> None:
        for c in self.clients.values():
            await c.start()

    async def close(self) -> None:
        self.dispatcher.closing = True
        await self.dispatcher.close()
        for c in self.clients.values():
            await c.close()


_GATEWAY_KEY = web.AppKey("gateway", Gateway)


def build_app(config: GatewayConfig) -> web.Application:
    gw = Gateway(config)
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[_GATEWAY_KEY] = gw

    async def on_startup(_: web.Application) -> None:
        await gw.start()

    async def on_shutdown(_: web.Application) -> None:
        # Before waiting for requests in flight: abort their upstream I/O so each still gets an answer (a 502)
        # instead of a dropped connection when the grace period runs out.
        await gw.close()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/health", health)
    app.router.add_get("/_gatedrill/config", control_config)
    app.router.add_put("/_gatedrill/weights", control_weights)
    app.router.add_put("/_gatedrill/intent", control_intent)
    return app


def _json(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(obj), status=status, headers=headers, content_type="application/json")


def _error(err: ClientError, extra: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=err.body(), status=err.status, headers={**err.headers, **(extra or {})},
                        content_type="application/json")


# -- chat completions --------------------------------------------------------------------------------------


async def chat_completions(request: web.Request) -> web.StreamResponse:
    gw = request.app[_GATEWAY_KEY]
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return _error(bad_request("We could not parse the JSON body of your request."))
    problem = _invalid(body, gw.router.intent.public_model)
    if problem is not None:
        return _error(problem)
    headers = {h: request.headers[h] for h in FORWARDED_HEADERS if h in request.headers}
    session = headers.get(SESSION_HEADER)
    if session is None:
        user = body.get("user")
        session = parse_marker(user if isinstance(user, str) else None)[1]
    stream = body.get("stream") is True
    if gw.hooks.added_delay_s:
        await asyncio.sleep(gw.hooks.added_delay_s)
    try:
        outcome = await gw.dispatcher.dispatch(body, stream, headers, session)
    except Exception:  # a bug of ours: the client still gets exactly one answer
        traceback.print_exc(file=sys.stderr)
        return _error(ClientError(500, "reference gateway internal error", "server_error", "gateway_error"))
    if outcome.error is not None:
        return _error(outcome.error, outcome.headers())
    if isinstance(outcome.reply, JsonReply):
        return web.Response(body=outcome.reply.body, headers=outcome.headers(), content_type="application/json")
    assert isinstance(outcome.reply, StreamReply)

    async def redispatch() -> Outcome:
        return await gw.dispatcher.dispatch(body, stream, headers, session)

    return await _relay_stream(request, gw, outcome, outcome.reply, redispatch)


def _invalid(body: Any, public_model: str) -> ClientError | None:
    if not isinstance(body, dict):
        return bad_request("Invalid request body: expected a JSON object.")
    model = body.get("model")
    if not isinstance(model, str):
        return bad_request("you must provide a model parameter", "model")
    if model != public_model:
        return ClientError(404, f"The model `{model}` does not exist; this gateway serves `{public_model}`.",
                           "invalid_request_error", "model_not_found", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        return bad_request("'messages' must be a non-empty array of message objects.", "messages")
    return None


async def _relay_stream(request: web.Request, gw: Gateway, outcome: Outcome, reply: StreamReply,
                        redispatch: Callable[[], Awaitable[Outcome]]) -> web.StreamResponse:
    """Send the head (with the routing headers), then the events; a break becomes an error event, no [DONE].
    (`redispatch` sends the request again: only the `restart_streams_on_reload` mutant uses it.)"""
    resp = web.StreamResponse(status=200, headers={**outcome.headers(), "content-type": "text/event-stream",
                                                   "cache-control": "no-cache"})
    tail = gw.hooks.stream_tail(gw.provider_of(outcome.upstream))
    try:
        await resp.prepare(request)
        await _write(resp, tail, reply.first)
        while True:
            moved = None
            version = gw.router.weights_version
            async with contextlib.aclosing(reply.rest()) as batches:
                async for batch in batches:
                    await _write(resp, tail, batch)
                    if gw.hooks.restarts_streams and gw.router.weights_version != version and not reply.relay.done:
                        version = gw.router.weights_version
                        again = await redispatch()
                        if isinstance(again.reply, StreamReply):
                            moved = again
                            break
            if moved is None:
                break
            assert isinstance(moved.reply, StreamReply)
            reply.close()
            gw.dispatcher.stream_ended(outcome, None, False)
            outcome, reply = moved, moved.reply
            await _write(resp, tail, reply.first)
        err = reply.error
        if err is not None:
            assert outcome.upstream is not None
            await resp.write(gw.hooks.broken_stream_end(gw.hooks.relayed_error(client_error_for(err, outcome.upstream)),
                                                        outcome.model or ""))
        await resp.write_eof()
    except ConnectionError:
        pass  # the client went away; the upstream response is closed below
    except Exception:
        traceback.print_exc(file=sys.stderr)
        with contextlib.suppress(Exception):
            await resp.write(ClientError(500, "reference gateway internal error", "server_error").event())
            await resp.write_eof()
    finally:
        reply.close()
        gw.dispatcher.stream_ended(outcome, reply.error, reply.relay.done)
    return resp


async def _write(resp: web.StreamResponse, tail: StreamTail, events: list[OutEvent]) -> None:
    """Events that arrived together go out in one write."""
    data = b"".join([d for ev in events for d in tail.feed(ev)])
    if data:
        await resp.write(data)


# -- models, health, control -------------------------------------------------------------------------------


async def models(request: web.Request) -> web.Response:
    gw = request.app[_GATEWAY_KEY]
    model = {"id": gw.router.intent.public_model, "object": "model", "created": int(gw.started),
             "owned_by": "gatedrill-reference"}
    return _json({"object": "list", "data": [model]})


async def health(request: web.Request) -> web.Response:
    gw = request.app[_GATEWAY_KEY]
    now = time.monotonic()
    policy = gw.router.cooldown
    upstreams = {name: {"state": b.state if policy.enabled else "closed", "opened": b.opened,
                        "reopens_in_s": round(b.reopens_in(now), 3)} for name, b in gw.router.breakers.items()}
    return _json({"status": "ok", "mutant": gw.config.mutant, "upstreams": upstreams})


async def control_config(request: web.Request) -> web.Response:
    gw = request.app[_GATEWAY_KEY]
    return _json({"intent": gw.router.intent.model_dump(mode="json"), "mutant": gw.config.mutant})


async def control_weights(request: web.Request) -> web.Response:
    gw = request.app[_GATEWAY_KEY]
    try:
        weights = orjson.loads(await request.read())
        if not isinstance(weights, dict) or not all(isinstance(v, int | float) for v in weights.values()):
            raise ValueError("expected an object of upstream -> weight, e.g. {\"stable\": 90, \"canary\": 10}")
        intent = gw.router.set_weights({str(k): float(v) for k, v in weights.items()})
    except (ValueError, ValidationError) as exc:
        return _json({"error": str(exc)}, 422)
    return _json({"targets": [t.model_dump(mode="json") for t in intent.targets]})


async def control_intent(request: web.Request) -> web.Response:
    gw = request.app[_GATEWAY_KEY]
    try:
        gw.router.set_intent(RoutingIntent.model_validate_json(await request.read()))
    except ValidationError as exc:
        return _json({"error": format_validation_error(exc)}, 422)
    except ValueError as exc:
        return _json({"error": str(exc)}, 422)
    return _json({"intent": gw.router.intent.model_dump(mode="json")})


# -- running -----------------------------------------------------------------------------------------------


def _config(config: GatewayConfig | dict[str, Any]) -> GatewayConfig:
    if isinstance(config, GatewayConfig):
        return config
    try:
        return GatewayConfig.model_validate(config)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, "gateway config")) from None


async def _start_site(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    # On shutdown, requests in flight get a moment to finish; a hung upstream must not hold the exit for long.
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_GRACE_S)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True, backlog=4096)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        if exc.errno == errno.EADDRINUSE:
            raise GatedrillError(f"reference gateway: port {port} on {host} is in use; pick another port or use 0 "
                                 "for a free one") from None
        raise GatedrillError(f"reference gateway: cannot listen on {host}:{port}: {exc.strerror}") from None
    return runner, runner.addresses[0][1]


class ReferenceGateway:
    """The reference gateway served from a background thread. Use as a context manager.

    >>> with ReferenceGateway({"intent": {...}, "upstreams": [...]}) as gw:
    ...     gw.base_url  # http://127.0.0.1:PORT/v1, for an OpenAI SDK
    """

    def __init__(self, config: GatewayConfig | dict[str, Any]) -> None:
        self.config = _config(config)
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._app: web.Application | None = None
        self._stopped: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    @property
    def gateway(self) -> Gateway:
        assert self._app is not None, "the gateway is not running"
        return self._app[_GATEWAY_KEY]

    def start(self) -> ReferenceGateway:
        ready = threading.Event()
        error: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                self._app = build_app(self.config)
                runner, self.port = loop.run_until_complete(_start_site(self._app, self.config.host,
                                                                        self.config.port))
                self._stopped = asyncio.Event()
            except BaseException as exc:
                error.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_until_complete(self._stopped.wait())
            finally:
                loop.run_until_complete(runner.cleanup())
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="gatedrill-reference-gateway", daemon=True)
        self._thread.start()
        ready.wait(10)
        if error:
            raise error[0]
        if not self.port:
            raise GatedrillError("the reference gateway did not start within 10 s")
        return self

    def stop(self) -> None:
        loop, thread, stopped = self._loop, self._thread, self._stopped
        if loop is None or thread is None or stopped is None:
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(stopped.set)
        thread.join(10)
        self._thread = self._loop = self._stopped = None

    def _call(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` on the gateway's loop (router state belongs to it) and return its result."""
        assert self._loop is not None, "the gateway is not running"

        async def call() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(10)

    def set_intent(self, intent: RoutingIntent | dict[str, Any]) -> None:
        """Replace the routing intent while running (sticky assignments and breaker state are kept)."""
        parsed = intent if isinstance(intent, RoutingIntent) else RoutingIntent.model_validate(intent)
        self._call(lambda: self.gateway.router.set_intent(parsed))

    def set_weights(self, weights: dict[str, float]) -> RoutingIntent:
        result: RoutingIntent = self._call(lambda: self.gateway.router.set_weights(weights))
        return result

    def __enter__(self) -> ReferenceGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(config: GatewayConfig | dict[str, Any], announce: Callable[[str], None] | None = None) -> None:
    """Serve in the foreground until SIGINT/SIGTERM; announce `reference<TAB>URL` once listening."""
    cfg = _config(config)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    stop = asyncio.Event()
    runner: web.AppRunner | None = None
    try:
        runner, port = loop.run_until_complete(_start_site(build_app(cfg), cfg.host, cfg.port))
        line = f"reference\thttp://{cfg.host}:{port}"
        if announce is None:
            print(line, flush=True)
        else:
            announce(line)
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        loop.run_until_complete(stop.wait())
    finally:
        if runner is not None:
            loop.run_until_complete(runner.cleanup())
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
