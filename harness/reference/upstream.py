"""One upstream as the gateway reaches it: an aiohttp client session with keep-alive, and one attempt's I/O.

`UpstreamClient.send` makes one attempt and returns either a reply the gateway can commit to (a whole
JSON body, or a stream whose first event has already arrived) or an `UpstreamError`. Everything before
that point is under the attempt's timeout, so a hang, a reset or an error event before the first byte is
still a failure the gateway may retry or fall back from.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp
import orjson

from ..intent import UpstreamEndpoint
from ..sse import SseParser
from .dialects import DIALECTS, Request
from .errors import UpstreamError, from_upstream
from .streams import OutEvent, StreamRelay


class JsonReply:
    def __init__(self, body: bytes) -> None:
        self.body = body


class StreamReply:
    """A stream the gateway has committed to: its first client events, and the rest as they arrive."""

    def __init__(self, resp: aiohttp.ClientResponse, parser: SseParser | Any, relay: StreamRelay,
                 first: list[OutEvent]) -> None:
        self._resp = resp
        self._parser = parser
        self.relay = relay
        self.first = first

    @property
    def error(self) -> UpstreamError | None:
        return self.relay.error

    async def rest(self) -> AsyncGenerator[list[OutEvent], None]:
        """The remaining client events, in batches as they arrived (one write each); on a failure it stops
        and `error` says what happened."""
        relay = self.relay
        try:
            if relay.error is None:  # read to the end even after the terminator, so the connection can be reused
                async for chunk in self._resp.content.iter_any():
                    batch = [out for ev in self._parser.feed(chunk) for out in relay.feed(ev)]
                    if batch:
                        yield batch
                    if relay.error is not None:
                        break
                relay.end_of_stream()
        except TimeoutError:
            if not relay.done:
                relay.error = UpstreamError("timeout", 200, "upstream stream stalled (no bytes within the timeout)")
        except (aiohttp.ClientError, OSError) as exc:
            if not relay.done:
                relay.error = UpstreamError("reset", 200, f"upstream stream broke: {type(exc).__name__}: {exc}")
        finally:
            self.close()

    def close(self) -> None:
        if self.relay.done and self.relay.error is None:
            self._resp.release()  # read to the end: the connection goes back to the pool
        else:
            self._resp.close()


Reply = JsonReply | StreamReply | UpstreamError


class UpstreamClient:
    """One upstream provider over keep-alive HTTP. `hold_until_content`: commit to a stream only once content (or
    its end) has arrived, so a stream that breaks before any content is still a failure to fall back from."""

    def __init__(self, endpoint: UpstreamEndpoint, hold_until_content: bool = True) -> None:
        self.endpoint = endpoint
        self.provider = endpoint.provider
        self.dialect = DIALECTS[endpoint.provider]
        self.base = endpoint.base_url.rstrip("/")
        self.hold_until_content = hold_until_content
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30, enable_cleanup_closed=True)
        self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False, skip_auto_headers=(
            "User-Agent",))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def payload(self, body: dict[str, Any], model: str, default_max_tokens: int) -> Request:
        """The request in this upstream's dialect: its URL and body."""
        return self.dialect.prepare(self.base, body, model, default_max_tokens)

    async def send(self, payload: Request, stream: bool, headers: dict[str, str], timeout_s: float,
                   include_usage: bool) -> Reply:
        """One attempt. Never raises for upstream trouble: failures come back as `UpstreamError`."""
        if self._session is None or self._session.closed:
            return UpstreamError("reset", 0, "the gateway is shutting down")
        resp: aiohttp.ClientResponse | None = None
        committed = False
        data = orjson.dumps(payload.body)
        sent_headers = {"content-type": "application/json", **self.dialect.auth(self.endpoint, payload.url, data),
                        **headers}
        try:
            async with asyncio.timeout(timeout_s):
                resp = await self._session.post(
                    payload.url, data=data, headers=sent_headers,
                    timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout_s, sock_read=timeout_s))
                if resp.status != 200:
                    return from_upstream(self.provider, resp.status, resp.headers, await resp.read())
                if not stream:
                    return self._json_reply(await resp.read(), payload.model)
                reply = await self._first_events(resp, payload.model, include_usage)
                committed = isinstance(reply, StreamReply)
                return reply
        except TimeoutError:
            return UpstreamError("timeout", 0, f"no answer within {timeout_s:g}s")
        except (aiohttp.ClientError, OSError) as exc:
            return UpstreamError("reset", 0, f"{type(exc).__name__}: {exc}")
        finally:
            if resp is not None and not committed:
                if stream:
                    resp.close()
                else:
                    resp.release()

    def _ready(self, first: list[OutEvent]) -> bool:
        if self.hold_until_content:
            return any(ev.kind != "role" for ev in first)
        return bool(first)

    async def _first_events(self, resp: aiohttp.ClientResponse, model: str, include_usage: bool) -> Reply:
        parser = self.dialect.parser()
        relay: StreamRelay = self.dialect.relay(model, include_usage)
        first: list[OutEvent] = []
        async for chunk in resp.content.iter_any():
            for ev in parser.feed(chunk):
                first.extend(relay.feed(ev))
            if self._ready(first) or relay.error is not None:
                break
        if not self._ready(first):
            relay.end_of_stream()
            assert relay.error is not None
            err = relay.error
            if err.message.startswith("upstream stream ended"):
                err.message = "upstream stream ended before its first content" if first else \
                    "upstream stream ended before its first event"
            return err
        return StreamReply(resp, parser, relay, first)

    def _json_reply(self, body: bytes, model: str) -> Reply:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return UpstreamError("malformed", 200, "upstream reply is not valid JSON")
        if not isinstance(data, dict):
            return UpstreamError("malformed", 200, "upstream reply is not a JSON object")
        if self.provider in ("openai", "azure"):
            return JsonReply(body) if "choices" in data else UpstreamError("malformed", 200, "reply has no choices")
        reply = self.dialect.reply(data, model)
        if reply is None:
            return UpstreamError("malformed", 200, f"upstream reply is not a {self.provider} reply")
        return JsonReply(orjson.dumps(reply))

    async def discard(self, payload: Request, stream: bool, headers: dict[str, str], timeout_s: float) -> None:
        """Send and throw the answer away (read to the end)."""
        reply = await self.send(payload, stream, headers, timeout_s, False)
        if isinstance(reply, StreamReply):
            with contextlib.suppress(Exception):
                async for _ in reply.rest():
                    pass
