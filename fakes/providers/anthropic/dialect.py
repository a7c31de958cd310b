"""The Anthropic dialect: it parses requests and renders replies through the wire-format modules beside it."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from ...plan import ApiError, Plan
from ..base import NO_PARAMS, Dialect, FakeView, Rendered, Usage, injected_decision
from . import exceptions as exc
from .rendering import render_message
from .requests import parse_count_tokens, parse_messages
from .urls import CHAT_ENDPOINTS, PREFIX_ROUTES, ROUTES

if TYPE_CHECKING:
    from ...config import ModelSpec
    from ...content import Reply
    from ...conversation import ChatRequest
    from ...faults import HttpError, StreamError
    from ...ratelimit import Decision



_UNLIMITED_KINDS = ("requests", "tokens", "input-tokens", "output-tokens")
_unlimited_cache: list[Any] = [0, []]


def _unlimited_headers() -> list[tuple[str, str]]:
    """Headers for a model without configured limits: a nominal large limit, never used up (cached per second)."""
    now = int(time.time())
    if _unlimited_cache[0] != now:
        reset = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        _unlimited_cache[0] = now
        _unlimited_cache[1] = [h for kind in _UNLIMITED_KINDS for h in (
            (f"anthropic-ratelimit-{kind}-limit", "1000000000"),
            (f"anthropic-ratelimit-{kind}-remaining", "1000000000"),
            (f"anthropic-ratelimit-{kind}-reset", reset))]
    return list(_unlimited_cache[1])


class AnthropicDialect(Dialect):
    name = "anthropic"
    tool_id_prefix = "toolu_01"
    chat_endpoints = CHAT_ENDPOINTS
    routes = ROUTES
    prefix_routes = PREFIX_ROUTES

    def no_route(self, method: str, path: str, path_known: bool) -> ApiError:
        if path_known:
            return ApiError(405, "Method Not Allowed", "invalid_request_error")
        return ApiError(404, "Not Found", "not_found_error")

    def authenticate(self, endpoint: str, headers: dict[str, str], api_keys: list[str] | None,
                     params: Mapping[str, str] = NO_PARAMS) -> None:
        """A key in `x-api-key` or `Authorization: Bearer`, then the `anthropic-version` header."""
        key = headers.get("x-api-key", "").strip()
        if not key:
            auth = headers.get("authorization", "")
            key = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        if not key:
            raise ApiError(401, "x-api-key header is required", "authentication_error")
        if api_keys is not None and key not in api_keys:
            raise ApiError(401, "invalid x-api-key", "authentication_error")
        if not headers.get("anthropic-version"):
            raise ApiError(400, "anthropic-version: header is required", "invalid_request_error")

    def invalid_json(self, detail: str) -> ApiError:
        return exc.invalid(f"The request body is not valid JSON: {detail}")

    def invalid_content_type(self, content_type: str) -> ApiError:
        return exc.invalid(f"content-type: expected application/json, got {content_type}")

    def too_large(self, size: int, limit: int) -> ApiError:
        return ApiError(413, "Request exceeds the maximum size", "request_too_large")

    def parse_chat(self, endpoint: str, body: Any, params: Mapping[str, str] = NO_PARAMS) -> ChatRequest:
        return parse_messages(body)

    def marker_text(self, body: dict[str, Any]) -> str | None:
        md = body.get("metadata")
        if isinstance(md, dict):
            v = md.get("user_id")
            return v if isinstance(v, str) else None
        return None

    def unknown_model(self, model: str) -> ApiError:
        return ApiError(404, f"model: {model}", "not_found_error")

    def not_chat_model(self, endpoint: str, model: str) -> ApiError:
        return ApiError(404, f"model: {model}", "not_found_error")

    def max_tokens_too_large(self, model: ModelSpec, requested: int) -> ApiError:
        return exc.invalid(f"max_tokens: {requested} > {model.max_output_tokens}, which is the maximum allowed "
                           f"number of output tokens for {model.id}")

    def context_error(self, model: ModelSpec, prompt_tokens: int, completion_tokens: int) -> ApiError:
        window = model.context_window
        if prompt_tokens > window:
            return exc.invalid(f"prompt is too long: {prompt_tokens} tokens > {window} maximum")
        return exc.invalid(f"input length and `max_tokens` exceed context limit: {prompt_tokens} + "
                           f"{completion_tokens} > {window}, decrease input length or `max_tokens` and try again")

    def rate_limit_error(self, model: ModelSpec, decision: Decision) -> ApiError:
        by = decision.limited_by or "requests"
        bucket = decision.requests if by == "requests" else decision.tokens
        assert bucket is not None
        unit = "requests" if by == "requests" else "input tokens"
        msg = (f"This request would exceed the rate limit for your organization ({exc.ORGANIZATION_ID}) of "
               f"{bucket.limit:,} {unit} per minute. {exc.RATE_LIMIT_TAIL}")
        wait = 60.0 if math.isinf(decision.retry_after) else decision.retry_after
        headers = exc.retry_after(wait, with_ms=False) + self.ratelimit_headers(model, decision)
        return ApiError(429, msg, "rate_limit_error", None, None, headers)

    def ratelimit_headers(self, model: ModelSpec, decision: Decision | None) -> list[tuple[str, str]]:
        """Real remaining capacity and the RFC 3339 time of full replenishment, per bucket.

        The fake keeps one token bucket (prompt plus max_tokens), so the input- and output-token headers
        report that bucket too.
        """
        if decision is None:
            return _unlimited_headers()
        now = datetime.now(UTC)
        out = []
        kinds = (("requests", decision.requests), ("tokens", decision.tokens), ("input-tokens", decision.tokens),
                 ("output-tokens", decision.tokens))
        for kind, b in kinds:
            if b is None:  # not limited: the nominal unlimited values, as the API always sends every bucket
                out += [h for h in _unlimited_headers() if h[0].startswith(f"anthropic-ratelimit-{kind}-")]
                continue
            reset = (now + timedelta(seconds=math.ceil(b.reset_in()))).strftime("%Y-%m-%dT%H:%M:%SZ")
            out += [(f"anthropic-ratelimit-{kind}-limit", str(b.limit)),
                    (f"anthropic-ratelimit-{kind}-remaining", str(max(0, int(b.level)))),
                    (f"anthropic-ratelimit-{kind}-reset", reset)]
        return out

    def fault_error(self, fault: HttpError, model: str | None) -> ApiError:
        status = fault.status
        message = fault.message or (f"model: {model}" if status == 404 and model else exc.default_message(status))
        headers: list[tuple[str, str]] = []
        if fault.retry_after is not None:
            headers = exc.retry_after(fault.retry_after, with_ms=True)
        elif status == 429:
            headers = exc.retry_after(1.0, with_ms=False)
        if status == 429:  # as the API's own limiter answers: which bucket ran out, and when it refills
            from ...config import ModelSpec

            headers += self.ratelimit_headers(ModelSpec(id=model or "unknown"),
                                              injected_decision(fault.retry_after or 1.0))
        return ApiError(status, message, fault.error_type or exc.error_type(status), None, fault.code, headers)

    def _headers(self, rid: str) -> list[tuple[str, str]]:
        return [("request-id", rid), ("anthropic-organization-id", exc.ORGANIZATION_ID)]

    def render_error(self, endpoint: str | None, err: ApiError, request_id: str) -> Plan:
        body = exc.envelope(err, request_id)
        headers = self._headers(request_id)
        headers.append(("content-type", "application/json"))
        if err.status == 400:
            headers.append(("x-should-retry", "false"))
        headers.extend(err.headers)
        return Plan(err.status, headers, [(0.0, body)], content_length=len(body))

    def render_reply(self, endpoint: str, req: ChatRequest, reply: Reply, usage: Usage, offsets: list[float],
                     end_offset: float, request_id: str) -> Rendered:
        choice = reply.choices[0]
        return render_message(req, choice, usage, offsets, end_offset, "msg_01" + next(self._ids),
                              self._headers(request_id))

    def stream_error_event(self, endpoint: str, fault: StreamError, request_id: str, sent: int) -> bytes:
        err = ApiError(fault.status, fault.message or exc.default_message(fault.status))
        return b"event: error\ndata: " + exc.envelope(err, request_id) + b"\n\n"

    def prompt_filtered(self, endpoint: str, req: ChatRequest, usage: Usage, request_id: str) -> Plan | None:
        raise exc.invalid("Output blocked by content filtering policy")

    def malformed_event(self, endpoint: str) -> bytes:
        return (b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
                b'"delta":{"type":"text_delta","text":"\xff\n\n')

    def handle_other(self, endpoint: str, params: dict[str, str], body: Any, fake: FakeView, request_id: str) -> Plan:
        if endpoint == "count_tokens":
            chat = parse_count_tokens(body)
            if fake.config.model(chat.model) is None:
                raise self.unknown_model(chat.model)
            return self._json(request_id, {"input_tokens": fake.count_prompt(chat)})
        if endpoint == "models":
            data = [_model_obj(m, fake.started_wall) for m in fake.config.models]
            return self._json(request_id, {"data": data, "has_more": False,
                                           "first_id": data[0]["id"] if data else None,
                                           "last_id": data[-1]["id"] if data else None})
        if endpoint == "model":
            spec = fake.config.model(params["id"])
            if spec is None:
                raise self.unknown_model(params["id"])
            return self._json(request_id, _model_obj(spec, fake.started_wall))
        raise ApiError(404, "Not Found", "not_found_error")

    def _json(self, rid: str, obj: Any) -> Plan:
        body = orjson.dumps(obj)
        headers = self._headers(rid)
        headers.append(("content-type", "application/json"))
        return Plan(200, headers, [(0.0, body)], content_length=len(body))


def display_name(model_id: str) -> str:
    """'claude-sonnet-4-5' -> 'Claude Sonnet 4.5': words capitalised, version digits joined, dates dropped."""
    words: list[str] = []
    for part in model_id.split("-"):
        if part.isdigit() and len(part) == 8:
            continue
        if part.isdigit() and words and words[-1][-1:].isdigit():
            words[-1] += "." + part
        else:
            words.append(part if part.isdigit() else part[:1].upper() + part[1:])
    return " ".join(words)


def _model_obj(spec: ModelSpec, created: float) -> dict[str, Any]:
    day = datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT00:00:00Z")
    return {"type": "model", "id": spec.id, "display_name": display_name(spec.id), "created_at": day,
            "lifecycle": "active", "max_input_tokens": spec.context_window, "max_tokens": spec.max_output_tokens}


__all__ = ["AnthropicDialect", "Rendered", "display_name"]
