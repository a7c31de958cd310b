"""The Gemini API dialect: it parses requests and renders replies through the wire-format modules beside it.
generateContent, streamGenerateContent (SSE with `alt=sse`, else a JSON array), countTokens and models.

Errors are google.rpc.Status bodies. A 429 is `RESOURCE_EXHAUSTED` whose only retry hint is a `RetryInfo`
detail in the body (`retryDelay: "7s"`): the API sends no Retry-After and no rate-limit headers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from ...plan import ApiError, HttpRequest, Plan
from ..base import NO_PARAMS, Dialect, FakeView, Rendered, Usage
from . import exceptions as exc
from .rendering import FINISH, SSE_END, blocked_json, render_generate, sse_frame
from .requests import parse_count_tokens, parse_generate
from .urls import CHAT_ENDPOINTS, STREAM_ENDPOINTS, route

if TYPE_CHECKING:
    from ...config import ModelSpec
    from ...content import Reply
    from ...conversation import ChatRequest
    from ...faults import HttpError, StreamError
    from ...ratelimit import Decision

_HEADERS = [("server", "scaffolding on HTTPServer2"), ("vary", "Origin, X-Origin, Referer"),
            ("x-content-type-options", "nosniff")]


class GeminiDialect(Dialect):
    name = "gemini"
    tool_id_prefix = "fc_"
    chat_endpoints = CHAT_ENDPOINTS

    def route_request(self, req: HttpRequest) -> tuple[str, dict[str, str]]:
        found = route(req.method, req.path, req.query)
        if found is None:
            raise ApiError(404, "Method not found.", "NOT_FOUND")
        return found

    def authenticate(self, endpoint: str, headers: dict[str, str], api_keys: list[str] | None,
                     params: Mapping[str, str] = NO_PARAMS) -> None:
        """A key in `x-goog-api-key` or `?key=`; none is 403, a wrong one 400 API_KEY_INVALID, as the API does."""
        key = headers.get("x-goog-api-key", "").strip() or params.get("key", "").strip()
        if not key:
            raise ApiError(403, exc.NO_KEY_MESSAGE, "PERMISSION_DENIED")
        if api_keys is not None and key not in api_keys:
            raise ApiError(400, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT", details=[{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}])

    def invalid_json(self, detail: str) -> ApiError:
        return exc.invalid(f"Invalid JSON payload received. {detail}")

    def invalid_content_type(self, content_type: str) -> ApiError:
        return exc.invalid(f"Invalid JSON payload received. Unexpected Content-Type: {content_type}")

    def too_large(self, size: int, limit: int) -> ApiError:
        return ApiError(413, "Request payload size exceeds the limit: 20971520 bytes.", "INVALID_ARGUMENT")

    def parse_chat(self, endpoint: str, body: Any, params: Mapping[str, str] = NO_PARAMS) -> ChatRequest:
        return parse_generate(body, params["model"], endpoint in STREAM_ENDPOINTS)

    def marker_text(self, body: dict[str, Any]) -> str | None:
        labels = body.get("labels")
        if isinstance(labels, dict):
            v = labels.get("gatedrill")
            return v if isinstance(v, str) else None
        return None

    def unknown_model(self, model: str) -> ApiError:
        return ApiError(404, f"models/{model} is not found for API version v1beta, or is not supported for "
                             "generateContent. Call ListModels to see the list of available models and their "
                             "supported methods.", "NOT_FOUND")

    def context_error(self, model: ModelSpec, prompt_tokens: int, completion_tokens: int) -> ApiError:
        window = model.context_window
        if prompt_tokens > window:
            return exc.invalid(f"The input token count ({prompt_tokens}) exceeds the maximum number of tokens "
                               f"allowed ({window}).")
        return exc.invalid(f"Unable to submit request because it has a maxOutputTokens value of {completion_tokens} "
                           f"but the supported range is from 1 (inclusive) to {window - prompt_tokens + 1} "
                           "(exclusive). Update the value and try again.")

    def _quota_error(self, model: str, by: str, limit: int, wait: float) -> ApiError:
        metric, quota_id = (("generate_content_paid_tier_requests", "GenerateRequestsPerMinutePerProjectPerModel")
                            if by == "requests" else
                            ("generate_content_paid_tier_input_token_count",
                             "GenerateContentPaidTierInputTokensPerModelPerMinute"))
        message = f"{exc.QUOTA_MESSAGE}\n* Quota exceeded for metric: generativelanguage.googleapis.com/{metric}, " \
                  f"limit: {limit}, model: {model}\nPlease retry in {wait:.6f}s."
        return ApiError(429, message, "RESOURCE_EXHAUSTED", details=[
            exc.quota_failure(model, metric, quota_id, limit), exc.help_link(), exc.retry_info(wait)])

    def rate_limit_error(self, model: ModelSpec, decision: Decision) -> ApiError:
        by = decision.limited_by or "requests"
        bucket = decision.requests if by == "requests" else decision.tokens
        assert bucket is not None
        wait = 60.0 if math.isinf(decision.retry_after) else decision.retry_after
        return self._quota_error(model.id, by, bucket.limit, wait)

    def ratelimit_headers(self, model: ModelSpec, decision: Decision | None) -> list[tuple[str, str]]:
        return []  # the Gemini API reports quota only in a 429's body

    def fault_error(self, fault: HttpError, model: str | None) -> ApiError:
        if fault.status == 429 and not fault.message:
            return self._quota_error(model or "unknown", "requests", 15, fault.retry_after or 1.0)
        details = [exc.retry_info(fault.retry_after)] if fault.retry_after is not None else []
        return ApiError(fault.status, fault.message or exc.default_message(fault.status),
                        fault.error_type or exc.status_name(fault.status), details=details)

    def render_error(self, endpoint: str | None, err: ApiError, request_id: str) -> Plan:
        body = exc.envelope(err)
        headers = [*_HEADERS, ("content-type", "application/json; charset=UTF-8"), *err.headers]
        return Plan(err.status, headers, [(0.0, body)], content_length=len(body))

    def render_reply(self, endpoint: str, req: ChatRequest, reply: Reply, usage: Usage, offsets: list[float],
                     end_offset: float, request_id: str) -> Rendered:
        headers = [*_HEADERS, ("server-timing", f"gfet4t7; dur={int(end_offset * 1000)}")]
        return render_generate(endpoint, req, reply, usage, offsets, end_offset, self._response_id(), headers)

    def prompt_filtered(self, endpoint: str, req: ChatRequest, usage: Usage, request_id: str) -> Plan | None:
        """A 200 whose body has `promptFeedback.blockReason` and no candidates, streamed or not."""
        body = blocked_json(req, usage, self._response_id())
        headers = list(_HEADERS)
        if endpoint == "stream":
            headers.append(("content-type", "text/event-stream"))
            return Plan(200, headers, [(0.0, b"data: " + body + SSE_END)], stream=True)
        if endpoint == "stream_array":
            headers.append(("content-type", "application/json; charset=UTF-8"))
            return Plan(200, headers, [(0.0, b"[" + body + b"]")], stream=True)
        headers.append(("content-type", "application/json; charset=UTF-8"))
        return Plan(200, headers, [(0.0, body)], content_length=len(body))

    def _response_id(self) -> str:
        return next(self._ids)[:22]

    def stream_error_event(self, endpoint: str, fault: StreamError, request_id: str, sent: int) -> bytes:
        """An error object where the next response would be: `data: {"error": ...}` (the SDK raises on it)."""
        err = orjson.loads(exc.envelope(ApiError(fault.status, fault.message or exc.default_message(fault.status))))
        if endpoint == "stream":
            return sse_frame(err)
        return b",\r\n" + orjson.dumps(err) + b"\r\n]"

    def malformed_event(self, endpoint: str) -> bytes:
        return b'data: {"candidates": [{"content": {"parts": [{"text": "\xff\r\n\r\n'

    def handle_other(self, endpoint: str, params: dict[str, str], body: Any, fake: FakeView, request_id: str) -> Plan:
        if endpoint == "count_tokens":
            model = params["model"]
            chat = parse_count_tokens(body, model)
            if fake.config.model(model) is None:
                raise self.unknown_model(model)
            n = fake.count_prompt(chat)
            return self._json({"totalTokens": n, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": n}]})
        if endpoint == "models":
            return self._json({"models": [_model_obj(m) for m in fake.config.models]})
        if endpoint == "model":
            spec = fake.config.model(params["model"])
            if spec is None:
                raise self.unknown_model(params["model"])
            return self._json(_model_obj(spec))
        raise ApiError(404, "Method not found.", "NOT_FOUND")

    def _json(self, obj: Any) -> Plan:
        body = orjson.dumps(obj)
        headers = [*_HEADERS, ("content-type", "application/json; charset=UTF-8")]
        return Plan(200, headers, [(0.0, body)], content_length=len(body))


def _model_obj(spec: ModelSpec) -> dict[str, Any]:
    return {"name": f"models/{spec.id}", "version": "001", "displayName": spec.id.replace("-", " ").title(),
            "description": "A gatedrill fake model.", "inputTokenLimit": spec.context_window,
            "outputTokenLimit": spec.max_output_tokens,
            "supportedGenerationMethods": ["generateContent", "countTokens"],
            "temperature": 1, "topP": 0.95, "topK": 64, "maxTemperature": 2}


__all__ = ["FINISH", "GeminiDialect"]
