"""One client request through the routing policy: attempts, retries, fallbacks, until a reply or a final error.

The router gives the candidates; for each, the breaker is asked first, then up to `retry.attempts`
attempts are made, waiting as the upstream's `retry-after` (or the backoff) says. A context-length error
goes to the candidate's context-window fallback; another client error (4xx) goes straight back, since no
other upstream would answer it differently; server, rate-limit and transport failures count against the
breaker and move on. Exactly one outcome comes back for every request.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from .errors import ClientError, UpstreamError, client_error_for
from .mutants import Hooks, truncate_to_fit
from .router import Candidate, Router
from .upstream import JsonReply, StreamReply, UpstreamClient


@dataclass(slots=True)
class Outcome:
    """What the client gets: a reply to commit to, or an error; plus what the gateway reports in headers."""

    reply: JsonReply | StreamReply | None
    error: ClientError | None
    upstream: str | None
    model: str | None
    attempts: int
    fallback: bool
    probe: bool = False  # the reply is a stream that is also the breaker's probe: its end decides

    def headers(self) -> dict[str, str]:
        return {"x-gatedrill-upstream": self.upstream or "", "x-gatedrill-model": self.model or "",
                "x-gatedrill-attempts": str(self.attempts),
                "x-gatedrill-fallback": "true" if self.fallback else "false"}


class Dispatcher:
    def __init__(self, router: Router, clients: dict[str, UpstreamClient], hooks: Hooks) -> None:
        self.router = router
        self.clients = clients
        self.hooks = hooks
        self._background: set[asyncio.Task[None]] = set()
        self.closing = False  # shutting down: no more retries or waits

    async def dispatch(self, body: dict[str, Any], stream: bool, headers: dict[str, str],
                       session: str | None) -> Outcome:
        router, hooks = self.router, self.hooks
        intent = router.intent
        queue = deque(router.plan(body, session, time.monotonic()))
        include_usage = bool((body.get("stream_options") or {}).get("include_usage")) if stream else False
        attempts = 0
        last: tuple[UpstreamError, Candidate] | None = None
        tried: set[tuple[str, str]] = set()
        while queue and not (self.closing and attempts):
            cand = queue.popleft()
            if (cand.upstream, cand.model) in tried:
                continue
            tried.add((cand.upstream, cand.model))
            breaker = router.breakers[cand.upstream]
            if not breaker.acquire(time.monotonic(), router.cooldown):
                continue
            probe = breaker.probing
            handed_over = False
            client = self.clients[cand.upstream]
            payload = client.payload(self._messages_for(body, cand, session), cand.model,
                                     router.default_max_tokens(body, cand))
            try:
                for k in range(hooks.attempts(intent.retry.attempts)):
                    if k > 0 and not breaker.available(time.monotonic(), router.cooldown):
                        break  # our own failures opened it: stop knocking, fall back
                    attempts += 1
                    if hooks.duplicates:
                        self._spawn(client.discard(payload, stream, headers, hooks.timeout(intent.timeout_s)))
                    reply = await client.send(payload, stream, headers, hooks.timeout(intent.timeout_s),
                                              include_usage)
                    if not isinstance(reply, UpstreamError):
                        router.served(session, cand.upstream)
                        if isinstance(reply, StreamReply):  # judged when it ends: see stream_ended
                            handed_over = True
                        else:
                            breaker.success()
                        return Outcome(reply, None, cand.upstream, cand.model, attempts, cand.role != "primary",
                                       probe and handed_over)
                    err = reply
                    last = (err, cand)
                    if err.is_context:
                        breaker.success()  # the upstream is healthy; the prompt is the problem
                        nxt = router.context_fallback(cand)
                        if nxt is not None:
                            queue.appendleft(nxt)
                        break
                    if err.kind == "http" and err.status < 500 and err.status not in (408, 429):
                        breaker.success()
                        return self._failed(err, cand, attempts)
                    router.failed(cand.upstream, time.monotonic(), err.retry_after, err.status == 429)
                    if self.closing or not router.retryable(err) or k + 1 >= hooks.attempts(intent.retry.attempts):
                        break
                    wait = router.retry_wait(err, k)
                    if wait is None:
                        break  # the upstream asked for longer than we wait: try the next one now
                    if wait > 0:
                        await asyncio.sleep(wait)
            finally:
                if probe and breaker.probing and not handed_over:
                    breaker.release()
        if last is None:
            error = hooks.own_error(router.unavailable_error(time.monotonic()))
            return Outcome(None, error, None, None, attempts, False)
        return self._failed(*last, attempts)

    def _failed(self, err: UpstreamError, cand: Candidate, attempts: int) -> Outcome:
        error = self.hooks.relayed_error(client_error_for(err, cand.upstream))
        return Outcome(None, error, cand.upstream, cand.model, attempts, cand.role != "primary")

    def _messages_for(self, body: dict[str, Any], cand: Candidate, session: str | None) -> dict[str, Any]:
        """The body to send to `cand`: the client's, unless a mutant (or allowed truncation) rewrites history."""
        provider = self.router.endpoints[cand.upstream].provider
        body = self.hooks.for_provider(body, provider)
        messages = body.get("messages") or []
        rewritten = self.hooks.history(messages, self.router.switched(session, cand.upstream))
        rewritten = self.hooks.tool_args(rewritten, self.router.endpoints[cand.upstream].provider)
        if cand.truncate_to is not None:
            rewritten = truncate_to_fit({**body, "messages": rewritten}, cand.truncate_to, provider)
        return body if rewritten is messages else {**body, "messages": rewritten}

    def stream_ended(self, outcome: Outcome, err: UpstreamError | None, complete: bool) -> None:
        """A committed stream is over: complete, broken by the upstream, or abandoned by the client."""
        assert outcome.upstream is not None
        breaker = self.router.breakers[outcome.upstream]
        if err is not None:
            self.router.failed(outcome.upstream, time.monotonic(), err.retry_after, err.status == 429)
        elif complete:
            breaker.success()
        elif outcome.probe and breaker.probing:
            breaker.release()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
