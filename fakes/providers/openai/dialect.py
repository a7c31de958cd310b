"""The OpenAI dialect: it parses requests and renders replies through the wire-format modules beside it."""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from ...plan import ApiError, Plan
from ...ratelimit import format_duration
from ..base import NO_PARAMS, Dialect, FakeView, Rendered, Usage, injected_decision
from . import exceptions as exc
from .rendering import render_chat
from .requests import parse_chat
from .urls import CHAT_ENDPOINTS, PREFIX_ROUTES, ROUTES

if TYPE_CHECKING:
    from ...config import ModelSpec
    from ...content import Reply
    from ...conversation import ChatRequest
    from ...faults import HttpError, StreamError
    from ...ratelimit import Decision

_STATIC = [("openai-organization", exc.ORG), ("openai-version", "2020-10-01")]
_UNLIMITED = [
    ("x-ratelimit-limit-requests", "1000000"), ("x-ratelimit-limit-tokens", "1000000000"),
    ("x-ratelimit-remaining-requests", "1000000"), ("x-ratelimit-remaining-tokens", "1000000000"),
    ("x-ratelimit-reset-requests", "0s"), ("x-ratelimit-reset-tokens", "0s"),
]


class OpenAIDialect(Dialect):
    name = "openai"
    chat_endpoints = CHAT_ENDPOINTS
    routes = ROUTES
    prefix_routes = PREFIX_ROUTES

    def no_route(self, method: str, path: str, path_known: bool) -> ApiError:
        if path_known:
            return ApiError(405, f"Invalid method for URL ({method} {path})", "invalid_request_error")
        return ApiError(404, f"Invalid URL ({method} {path})", "invalid_request_error")

    def authenticate(self, endpoint: str, headers: dict[str, str], api_keys: list[str] | None,
                     params: Mapping[str, str] = NO_PARAMS) -> None:
        auth = headers.get("authorization", "")
        key = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        if not key:
            raise ApiError(401, exc.NO_KEY_MESSAGE, "invalid_request_error")
        if api_keys is not None and key not in api_keys:
            shown = key[:3] + "*" * 4 + key[-4:] if len(key) > 8 else "****"
            raise ApiError(401, f"Incorrect API key provided: {shown}. You can find your API key at "
                                "https://platform.openai.com/account/api-keys.", "invalid_request_error", None,
                           "invalid_api_key")

    def invalid_json(self, detail: str) -> ApiError:
        return ApiError(400, exc.INVALID_JSON_MESSAGE, "invalid_request_error")

    def invalid_content_type(self, content_type: str) -> ApiError:
        return ApiError(400, f"Invalid Content-Type header ({content_type}), expected application/json. "
                        + exc.INVALID_JSON_MESSAGE, "invalid_request_error")

    def too_large(self, size: int, limit: int) -> ApiError:
        return ApiError(413, f"Request too large: the body is {size} bytes; the limit is {limit} bytes.",
                        "invalid_request_error", None, "request_too_large")

    def parse_chat(self, endpoint: str, body: Any, params: Mapping[str, str] = NO_PARAMS) -> ChatRequest:
        if endpoint == "responses":
            from .responses_api import parse_responses

            return parse_responses(body)
        return parse_chat(body)

    def marker_text(self, body: dict[str, Any]) -> str | None:
        user = body.get("user") or body.get("safety_identifier")
        if isinstance(user, str):
            return user
        md = body.get("metadata")
        if isinstance(md, dict):
            v = md.get("gatedrill") or md.get("user_id")
            return v if isinstance(v, str) else None
        return None

    def unknown_model(self, model: str) -> ApiError:
        return ApiError(404, f"The model `{model}` does not exist or you do not have access to it.",
                        "invalid_request_error", None, "model_not_found")

    def not_chat_model(self, endpoint: str, model: str) -> ApiError:
        path = "v1/responses" if endpoint == "responses" else "v1/chat/completions"
        return ApiError(404, f"This is not a chat model and thus not supported in the {path} endpoint. Did you "
                        "mean to use v1/completions?", "invalid_request_error", "model", None)

    def max_tokens_too_large(self, model: ModelSpec, requested: int) -> ApiError:
        return ApiError(400, f"max_tokens is too large: {requested}. This model supports at most "
                        f"{model.max_output_tokens} completion tokens, whereas you provided {requested}.",
                        "invalid_request_error", "max_tokens", "invalid_value")

    def context_error(self, model: ModelSpec, prompt_tokens: int, completion_tokens: int) -> ApiError:
        msg = (f"This model's maximum context length is {model.context_window} tokens. However, your messages "
               f"resulted in {prompt_tokens} tokens.")
        if completion_tokens:
            msg += (f" With {completion_tokens} tokens requested for the completion, the total is "
                    f"{prompt_tokens + completion_tokens} tokens. Please reduce the length of the messages or "
                    "completion.")
        else:
            msg += " Please reduce the length of the messages."
        return ApiError(400, msg, "invalid_request_error", "messages", "context_length_exceeded")

    def rate_limit_error(self, model: ModelSpec, decision: Decision) -> ApiError:
        by = decision.limited_by or "requests"
        bucket = decision.requests if by == "requests" else decision.tokens
        assert bucket is not None
        unit = "requests per min (RPM)" if by == "requests" else "tokens per min (TPM)"
        requested = 1 if by == "requests" else decision.requested_tokens
        used = max(0, math.ceil(bucket.limit - bucket.level))
        wait = decision.retry_after
        msg = (f"Rate limit reached for {model.id} in organization {exc.ORG} on {unit}: Limit {bucket.limit}, "
               f"Used {used}, Requested {requested}. Please try again in {_human(wait)}. {exc.RATE_LIMIT_DOCS}")
        if math.isinf(wait):
            msg = (f"Request too large for {model.id} in organization {exc.ORG} on {unit}: Limit {bucket.limit}, "
                   f"Requested {requested}. The input or output tokens must be reduced in order to run "
                   f"successfully. {exc.RATE_LIMIT_DOCS}")
            wait = 60.0
        headers = exc.retry_headers(wait) + self.ratelimit_headers(model, decision)
        return ApiError(429, msg, by, None, "rate_limit_exceeded", headers)

    def ratelimit_headers(self, model: ModelSpec, decision: Decision | None) -> list[tuple[str, str]]:
        if decision is None:
            return list(_UNLIMITED)
        out = []
        for kind, b in (("requests", decision.requests), ("tokens", decision.tokens)):
            if b is None:  # this kind is not limited: report the nominal unlimited values, as the API always sends both
                out += [h for h in _UNLIMITED if h[0].endswith(kind)]
                continue
            out += [(f"x-ratelimit-limit-{kind}", str(b.limit)),
                    (f"x-ratelimit-remaining-{kind}", str(max(0, int(b.level)))),
                    (f"x-ratelimit-reset-{kind}", format_duration(b.reset_in()))]
        return out

    def fault_error(self, fault: HttpError, model: str | None) -> ApiError:
        etype, code, message = exc.default_error(fault.status, model)
        if fault.error_type == "insufficient_quota":
            etype, code, message = "insufficient_quota", "insufficient_quota", exc.QUOTA_MESSAGE
        etype = fault.error_type or etype
        code = fault.code if fault.code is not None else code
        wait = fault.retry_after
        if fault.status == 429 and not fault.message and etype != "insufficient_quota":
            wait = 1.0 if wait is None else wait
            message = (f"Rate limit reached for {model} in organization {exc.ORG} on requests per min (RPM): "
                       f"Limit 500, Used 500, Requested 1. Please try again in {_human(wait)}. "
                       f"{exc.RATE_LIMIT_DOCS}")
        headers = exc.retry_headers(wait) if wait is not None else []
        if fault.status == 429 and etype != "insufficient_quota":
            headers += self.ratelimit_headers(_spec(model), injected_decision(wait or 1.0))
        if etype == "insufficient_quota":
            headers.append(("x-should-retry", "false"))
        return ApiError(fault.status, fault.message or message, etype, None, code, headers)

    def _headers(self, rid: str, processing_ms: float) -> list[tuple[str, str]]:
        return [("x-request-id", rid), ("openai-processing-ms", str(int(processing_ms))), *_STATIC]

    envelope = staticmethod(exc.envelope)  # the error body; a dialect that shares OpenAI's wire swaps only this

    def render_error(self, endpoint: str | None, err: ApiError, request_id: str) -> Plan:
        body = self.envelope(err)
        headers = self._headers(request_id, 0)
        headers.append(("content-type", "application/json"))
        headers.extend(err.headers)
        return Plan(err.status, headers, [(0.0, body)], content_length=len(body))

    def render_reply(self, endpoint: str, req: ChatRequest, reply: Reply, usage: Usage, offsets: list[float],
                     end_offset: float, request_id: str) -> Rendered:
        headers = self._headers(request_id, end_offset * 1000)
        if endpoint == "responses":
            from .responses_api import render_response

            return render_response(req, reply, usage, offsets, end_offset, headers)
        cid = "chatcmpl-" + next(self._ids)[3:]
        return render_chat(req, reply, usage, offsets, end_offset, cid, headers)

    def stream_error_event(self, endpoint: str, fault: StreamError, request_id: str, sent: int) -> bytes:
        etype, code, message = exc.default_error(fault.status, None)
        if endpoint == "responses":  # the Responses API's typed error event, numbered like every event
            body = {"type": "error", "code": code or etype, "message": fault.message or message, "param": None,
                    "sequence_number": sent}
            return b"event: error\ndata: " + orjson.dumps(body) + b"\n\n"
        err = ApiError(fault.status, fault.message or message, etype, None, code)
        return b"data: " + self.envelope(err) + b"\n\n"

    def prompt_filtered(self, endpoint: str, req: ChatRequest, usage: Usage, request_id: str) -> Plan | None:
        raise ApiError(400, exc.INVALID_PROMPT_MESSAGE, "invalid_request_error", None, "invalid_prompt")

    def handle_other(self, endpoint: str, params: dict[str, str], body: Any, fake: FakeView, request_id: str) -> Plan:
        if endpoint == "models":
            data = [_model_obj(m.id, fake.started_wall) for m in fake.config.models]
            return self._json(request_id, {"object": "list", "data": data})
        if endpoint == "model":
            spec = fake.config.model(params["id"])
            if spec is None:
                raise self.unknown_model(params["id"])
            return self._json(request_id, _model_obj(spec.id, fake.started_wall))
        if endpoint == "embeddings":
            return self._json(request_id, _embeddings(body, fake, self))
        raise ApiError(404, f"Invalid URL ({endpoint})", "invalid_request_error")

    def _json(self, rid: str, obj: Any) -> Plan:
        body = orjson.dumps(obj)
        headers = self._headers(rid, 0)
        headers.append(("content-type", "application/json"))
        return Plan(200, headers, [(0.0, body)], content_length=len(body))


def _spec(model: str | None) -> ModelSpec:
    from ...config import ModelSpec

    return ModelSpec(id=model or "unknown")


def _human(seconds: float) -> str:
    if seconds < 1:
        return f"{max(1, int(seconds * 1000))}ms"
    return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"


def _model_obj(model_id: str, created: float) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": int(created), "owned_by": "gatedrill"}


def _embeddings(body: Any, fake: FakeView, dialect: OpenAIDialect) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise exc.invalid("Invalid request body: expected a JSON object.")
    model = body.get("model")
    if model is None:
        raise exc.invalid("you must provide a model parameter")
    if not isinstance(model, str):
        raise exc.bad_type("model", "a string", model)
    if fake.config.model(model) is None:
        raise dialect.unknown_model(model)
    inputs = body.get("input")
    if inputs is None:
        raise exc.missing("input")
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list) or not inputs or not all(isinstance(x, str | list) for x in inputs):
        raise exc.invalid("'$.input' is invalid. Please check the API reference: "
                          "https://platform.openai.com/docs/api-reference.", "input")
    dims = body.get("dimensions", 1536)
    if not isinstance(dims, int) or isinstance(dims, bool) or not 1 <= dims <= 3072:
        raise exc.invalid("Invalid 'dimensions': expected an integer between 1 and 3072.", "dimensions")
    fmt = body.get("encoding_format", "float")
    if fmt not in ("float", "base64"):
        raise exc.invalid(f"Invalid value: '{fmt}'. Supported values are: 'float' and 'base64'.",
                          "encoding_format", "invalid_value")
    data, total = [], 0
    for i, item in enumerate(inputs):
        text = item if isinstance(item, str) else " ".join(str(t) for t in item)
        total += fake.count(text) if isinstance(item, str) else len(item)
        vec = deterministic_vector(f"{fake.config.seed}|{model}|{text}", dims)
        emb: Any = vec if fmt == "float" else base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode()
        data.append({"object": "embedding", "index": i, "embedding": emb})
    return {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": total, "total_tokens": total}}


def deterministic_vector(key: str, dims: int) -> list[float]:
    """A unit vector that depends only on the key: same text, same vector, on every run."""
    raw = b""
    counter = 0
    while len(raw) < dims * 4:
        raw += hashlib.blake2b(f"{key}|{counter}".encode(), digest_size=64).digest()
        counter += 1
    ints = struct.unpack(f"<{dims}i", raw[: dims * 4])
    vec = [x / 2**31 for x in ints]
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


__all__ = ["OpenAIDialect", "Rendered", "deterministic_vector"]
