"""`Fake`: one fake upstream's state and behaviour, shared by every way of running it.

It takes an `HttpRequest` and returns a `Plan`, deciding in this order: control API, route, auth,
body checks, parse, model, forced or scheduled fault, scripted failure, context window, rate limit,
and finally the reply. Every request outside the control API gets exactly one journal entry.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import orjson
from pydantic import ValidationError

from .config import FIXED_AT_START, FakeConfig, format_validation_error, merge_patch, with_overrides
from .content import compose_reply, script_fault
from .conversation import ChatRequest
from .correlation import CORRELATION_HEADER, FAULT_HEADER, SESSION_HEADER, TURN_HEADER, parse_marker
from .errors import ConfigError
from .fault_edits import FaultEdits
from .faults import (
    ContentFilter,
    Delay,
    ErrorOnlyStream,
    Fault,
    FaultPlan,
    Hang,
    HttpError,
    Malformed,
    Reset,
    ResetMidStream,
    SlowDrip,
    StreamError,
    Truncate,
)
from .journal import Entry, Journal
from .metrics import OTHER_MODEL, FakeMetrics
from .plan import END_CLOSE, END_COMPLETE, END_HANG, END_RESET, ApiError, HttpRequest, Plan
from .providers import get_dialect
from .providers.base import Usage
from .redaction import redact_body
from .state import LocalState
from .stream_breaks import STREAM_BREAKS, filter_reply, shape_stream_break
from .tokenizer import count_atoms, get_counter

CONTROL_PREFIX = "/_gatedrill/"
ERROR_EVENT = "error_event"  # journal outcome of a 200 stream that ended with the provider's error event
_BODY_FAULTS = (ResetMidStream, Truncate, Malformed, StreamError)


class _Live:
    """Everything a request reads from the configuration, built in full before it is swapped in, so a request
    sees either the old state or the new one, never half of each, and a failing change leaves no trace."""

    __slots__ = ("config", "count", "dialect", "fault_plan", "model_ids", "no_latency", "timing_rng")

    def __init__(self, config: FakeConfig, fault_plan: FaultPlan, timing_rng: random.Random) -> None:
        self.config = config
        self.dialect = get_dialect(config.provider)
        self.count = get_counter(config.tokenizer)  # raises ConfigError (e.g. tiktoken missing) before any swap
        self.fault_plan = fault_plan
        self.timing_rng = timing_rng
        lat = config.latency
        self.no_latency = lat.ttft_ms.is_zero and lat.itl_ms.is_zero
        self.model_ids = frozenset(m.id for m in config.models)

    def model_label(self, model: str | None) -> str:
        """A metrics label for a requested model: configured ids as they are, anything a client made up `other`
        (one series, however many names clients invent)."""
        return model if model in self.model_ids else (OTHER_MODEL if model else "")


class Fake(FaultEdits):
    """A fake provider. Thread-safe for control calls made while a server thread serves requests."""

    def __init__(self, config: FakeConfig | dict[str, Any] | None = None, *, state: LocalState | None = None,
                 **overrides: Any) -> None:
        if config is None or isinstance(config, dict):
            config = _validate({**(config or {}), **overrides})
        else:
            config = with_overrides(config, overrides)
        self._lock = threading.RLock()
        self._state = state or LocalState()  # fault counters, rate-limit buckets, latency stream (`fakes.state`)
        self.journal = Journal(config.journal, config.name)
        self.metrics = FakeMetrics()
        self.limiter = self._state.rate_limiter()
        self.started_mono = time.monotonic()
        self.started_wall = time.time()
        self._live = self._fresh(config)

    def _fresh(self, config: FakeConfig) -> _Live:
        """The state for `config` with fault counters and the latency stream started afresh."""
        return _Live(config, self._state.fault_plan(config.faults, config.seed), self._state.latency_rng(config.seed))

    # -- configuration -------------------------------------------------------------------------------------

    @property
    def config(self) -> FakeConfig:
        return self._live.config

    @property
    def dialect(self) -> Any:
        return self._live.dialect

    @property
    def count(self) -> Callable[[str], int]:
        return self._live.count

    @property
    def fault_plan(self) -> FaultPlan:
        return self._live.fault_plan

    def patch(self, patch: dict[str, Any]) -> FakeConfig:
        """Apply a JSON merge patch to the config. The whole new state (schema, tokenizer, fault rules) is built
        first and swapped in as one object; a bad patch raises ConfigError and changes nothing."""
        if not isinstance(patch, dict):
            raise ConfigError("a patch is a JSON object (merge patch), e.g. {\"latency\": {\"ttft_ms\": 200}}")
        with self._lock:
            live = self._live
            current = live.config.model_dump(mode="json")
            merged = merge_patch(current, patch)
            for fixed in FIXED_AT_START:
                if merged.get(fixed) != current.get(fixed):
                    raise ConfigError(f"`{fixed}` cannot change at runtime; start another fake instead")
            new = _validate(merged)
            faults_changed = merged.get("faults") != current.get("faults")
            plan = self._state.fault_plan(new.faults, new.seed) if faults_changed else live.fault_plan
            self._live = _Live(new, plan, live.timing_rng)
            return new

    def reset(self) -> None:
        """Clear the journal, metrics, rate-limit state and fault counters; keep the config."""
        with self._lock:
            self.journal.clear()
            self.metrics.clear()
            self.limiter.reset()
            self._live = self._fresh(self.config)

    def close(self) -> None:
        self.journal.close()

    # -- request handling ----------------------------------------------------------------------------------

    def handle(self, req: HttpRequest) -> Plan:
        if req.path.startswith(CONTROL_PREFIX):
            from .control import handle_control

            return handle_control(self, req)
        entry = self.journal.open(req.method, req.path, req.headers, req.body_size, req.arrival_mono,
                                  req.arrival_wall)
        live = self._live  # one state for the whole request, even if a patch lands meanwhile
        rid = live.dialect.new_request_id()
        endpoint: str | None = None
        try:
            plan = self._decide(live, req, entry, rid)
        except ApiError as err:
            entry.status = err.status
            entry.error = err.message
            plan = live.dialect.render_error(entry.endpoint, err, rid)
        except Exception as exc:  # a bug of ours: answer like a provider would, never crash the server
            entry.status = 500
            entry.error = f"internal fake error: {type(exc).__name__}: {exc}"
            plan = live.dialect.render_error(endpoint, ApiError(500, "The server had an error while processing "
                                                                "your request. Sorry about that!"), rid)
        if entry.status is None:
            entry.status = plan.status
        plan.entry = entry
        journal, metrics = self.journal, self.metrics

        def on_finish(outcome: str, _e: Entry = entry, _error_event: bool = plan.error_event) -> None:
            if _error_event and outcome == "complete":
                outcome = ERROR_EVENT
            journal.finish(_e, outcome)
            metrics.count(_e.endpoint or "unknown", live.model_label(_e.model), _e.status or 0, _e.fault,
                          _e.tokens_in, _e.tokens_out)

        plan.on_finish = on_finish
        return plan

    def _decide(self, live: _Live, req: HttpRequest, entry: Entry, rid: str) -> Plan:
        d = live.dialect
        cfg = live.config
        endpoint, params = d.route_request(req)
        entry.endpoint = endpoint
        headers = req.headers
        entry.correlation_id = headers.get(CORRELATION_HEADER)
        entry.session_id = headers.get(SESSION_HEADER)
        turn_h = headers.get(TURN_HEADER)
        if turn_h and turn_h.isdigit():
            entry.turn = int(turn_h)
        d.authenticate(endpoint, headers, cfg.api_keys, params)
        assert cfg.max_body_bytes is not None
        if req.body_size > cfg.max_body_bytes:
            raise d.too_large(req.body_size, cfg.max_body_bytes)
        body: Any = None
        if req.method == "POST":
            ctype = headers.get("content-type", "")
            if ctype and not ctype.lower().startswith("application/json"):
                raise d.invalid_content_type(ctype)
            try:
                body = orjson.loads(req.body)
            except orjson.JSONDecodeError as exc:
                raise d.invalid_json(str(exc)) from None
            entry.body = clean = redact_body(body)  # the same object unless it names a credential
            if clean is body:
                entry.body_json = req.body  # the journal keeps the request's own JSON text
        if endpoint not in d.chat_endpoints:
            if isinstance(body, dict) and isinstance(body.get("model"), str):
                entry.model = body["model"]
            return d.handle_other(endpoint, params, body, self, rid)
        chat = d.parse_chat(endpoint, body, params)
        entry.model = chat.model
        entry.stream = chat.stream
        if entry.correlation_id is None:
            c, s, t = parse_marker(d.marker_text(body)) if isinstance(body, dict) else (None, None, None)
            if c is None:
                c, s, t = parse_marker(chat.marker)
            entry.correlation_id = c
            entry.session_id = entry.session_id or s
            entry.turn = entry.turn if entry.turn is not None else t
        model = cfg.model(chat.model)
        if model is None:
            raise d.unknown_model(chat.model)
        if model.kind == "embedding":
            raise d.not_chat_model(endpoint, chat.model)
        if chat.max_tokens is not None and chat.max_tokens > model.max_output_tokens:
            raise d.max_tokens_too_large(model, chat.max_tokens)
        forced = headers.get(FAULT_HEADER)
        fault_name, fault = live.fault_plan.choose(chat, chat.model, forced)
        if fault is None:
            scripted = script_fault(cfg, chat)
            if scripted is not None:
                fault_name, fault = f"script[{scripted[0]}]", scripted[1]
        entry.fault = fault_name
        extra_delay = 0.0
        if isinstance(fault, Delay):
            extra_delay, fault = fault.ms / 1000.0, None
        if isinstance(fault, HttpError):
            raise d.fault_error(fault, chat.model)
        if isinstance(fault, Reset):
            entry.status = 0
            return Plan(status=0, headers=[], end=END_RESET)
        if isinstance(fault, Hang):
            entry.status = 0
            return Plan(status=0, headers=[], end=END_HANG, hang_s=fault.max_seconds)
        count = live.count
        prompt_tokens = chat.extra_prompt_tokens + count_atoms(chat.atoms, count)
        entry.tokens_in = prompt_tokens
        completion_budget = chat.max_tokens or 0
        if prompt_tokens + completion_budget > model.context_window:
            raise d.context_error(model, prompt_tokens, completion_budget)
        decision = None
        if model.rpm is not None or model.tpm is not None:
            decision = self.limiter.check(model.id, model.rpm, model.tpm, prompt_tokens + completion_budget)
            if not decision.allowed:
                raise d.rate_limit_error(model, decision)
        if isinstance(fault, StreamError | ErrorOnlyStream) and not chat.stream:
            raise d.fault_error(HttpError(kind="http_error", status=fault.status, message=fault.message), chat.model)
        if isinstance(fault, ContentFilter) and fault.stage == "prompt":
            blocked = d.prompt_filtered(endpoint, chat, Usage(prompt_tokens, 0), rid)
            if blocked is not None:
                return blocked
        reply = compose_reply(cfg, chat, count, d.tool_id_prefix)
        if isinstance(fault, ContentFilter):
            filter_reply(reply, fault)
        completion_tokens = 0
        n_pieces = 0
        for ch in reply.choices:
            n_pieces += len(ch.pieces)
            if ch.tokens >= 0:
                completion_tokens += ch.tokens
            elif ch.pieces:
                completion_tokens += count(ch.text)
            for call in ch.tool_calls:
                completion_tokens += count(call.name) + count(call.arguments)
                n_pieces += 1
        entry.tokens_out = completion_tokens
        offsets, end_offset, injected = _timing(live, max(1, n_pieces), extra_delay)
        entry.latency_injected_ms = injected * 1000.0
        rendered = d.render_reply(endpoint, chat, reply, Usage(prompt_tokens, completion_tokens), offsets,
                                  end_offset, rid)
        rendered.headers.extend(d.ratelimit_headers(model, decision))
        entry.reply = reply
        return _shape(d, endpoint, rendered, fault, rid)

    def count_prompt(self, chat: ChatRequest) -> int:
        """Prompt tokens: OpenAI's recipe (3 per message, 3 to prime the reply) over the neutral atoms."""
        return chat.extra_prompt_tokens + count_atoms(chat.atoms, self.count)

    # -- python handle -------------------------------------------------------------------------------------

    def entries(self, **filters: Any) -> list[Entry]:
        return self.journal.entries(**filters)

    def query_journal(self, query: str) -> dict[str, Any]:
        q = {k: v[-1] for k, v in parse_qs(query).items()}
        since = int(q.pop("cursor", q.pop("since", "0")) or 0)
        limit = min(int(q.pop("limit", "1000") or 1000), 10_000)
        filters: dict[str, Any] = {}
        for key in ("model", "path", "correlation_id", "session_id", "fault", "endpoint", "outcome"):
            if key in q:
                filters[key] = q.pop(key)
        for key in ("status", "turn"):
            if key in q:
                filters[key] = int(q.pop(key))
        if q:
            raise ConfigError(f"unknown journal filter(s): {', '.join(sorted(q))}")
        items, next_cursor = self.journal.page(since, max(1, limit), **filters)
        return {"entries": items, "next_cursor": next_cursor, **self.journal.stats()}


def _validate(data: dict[str, Any]) -> FakeConfig:
    try:
        return FakeConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None


def _timing(live: _Live, pieces: int, extra: float) -> tuple[list[float], float, float]:
    """Offsets of each content piece and of the end, from the seeded latency model."""
    if live.no_latency and extra == 0:
        return [0.0] * pieces, 0.0, 0.0
    lat = live.config.latency
    rng = live.timing_rng
    t = extra + lat.ttft_ms.sample(rng) / 1000.0
    offsets = [t]
    itl = lat.itl_ms
    if itl.is_zero:
        offsets.extend([t] * (pieces - 1))
    else:
        for _ in range(pieces - 1):
            t += itl.sample(rng) / 1000.0
            offsets.append(t)
    return offsets, t, t

def _shape(dialect: Any, endpoint: str, r: Any, fault: Fault | None, rid: str) -> Plan:
    """Turn rendered events into a plan, applying a body/stream fault if one was chosen."""
    if isinstance(fault, STREAM_BREAKS):
        return shape_stream_break(fault, r, dialect, endpoint, rid)
    events = r.events
    end = END_COMPLETE
    drip = None
    error_event = False
    if isinstance(fault, _BODY_FAULTS):
        if r.stream:
            kept, seen = [], 0
            last_t = 0.0
            cut = False
            for ev in events:
                if ev[2]:
                    if seen >= fault.after_chunks:
                        cut = True
                        break
                    seen += 1
                kept.append(ev)
                last_t = ev[0]
            if isinstance(fault, ResetMidStream):
                end = END_RESET
            elif isinstance(fault, Malformed):
                kept.append((last_t, dialect.malformed_event(endpoint), False))
            elif isinstance(fault, StreamError):
                error_event = True
                if not cut:  # the reply ran out of content first: fail before the stream's own ending
                    kept = kept[: 1 + max((i for i, ev in enumerate(kept) if ev[2]), default=0)]
                kept.append((last_t, dialect.stream_error_event(endpoint, fault, rid, len(kept)), False))
            events = kept
        else:
            t, body, _ = events[0]
            if isinstance(fault, Malformed):
                broken = body[: max(1, len(body) // 2)] + b'\x00"}'
                return Plan(r.status, r.headers, [(t, broken)], content_length=len(broken))
            half = body[: max(1, len(body) // 2)]
            return Plan(r.status, r.headers, [(t, half)], content_length=len(body),
                        end=END_RESET if isinstance(fault, ResetMidStream) else END_CLOSE)
    elif isinstance(fault, SlowDrip):
        drip = (fault.chunk_bytes, fault.interval_ms / 1000.0)
    chunks = [(t, b) for t, b, _ in events]
    if r.stream:
        return Plan(r.status, r.headers, chunks, stream=True, end=end, drip=drip, error_event=error_event)
    return Plan(r.status, r.headers, chunks, content_length=len(chunks[0][1]), end=end, drip=drip)
