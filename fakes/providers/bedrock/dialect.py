"""The Bedrock Converse dialect: it parses requests and renders replies through the wire-format modules beside it.
converse-stream (AWS event-stream binary framing with CRCs) and count-tokens.

Auth: a well-formed SigV4 `Authorization` header (`AWS4-HMAC-SHA256 Credential=AKID/date/region/bedrock/
aws4_request, SignedHeaders=..., Signature=<64 hex>`) or a Bedrock API key (`Authorization: Bearer`) is
accepted; an absent one is 403 MissingAuthenticationTokenException. The fake does **not** verify the
signature: it cannot know the secret key, and a fake that re-signed would only test botocore against itself.
With `api_keys` configured, the access key id (or bearer token) must be one of them.

Errors carry `x-amzn-ErrorType` and a `{"message"}` body, and no Retry-After or rate-limit headers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from ...plan import ApiError, HttpRequest, Plan
from ..base import NO_PARAMS, Dialect, FakeView, Rendered, Usage
from . import exceptions as exc
from .eventstream import corrupt, event
from .eventstream import exception as exception_message
from .rendering import render_converse
from .requests import parse_converse, parse_count_tokens
from .urls import CHAT_ENDPOINTS, route

if TYPE_CHECKING:
    from ...config import ModelSpec
    from ...content import Reply
    from ...conversation import ChatRequest
    from ...faults import HttpError, StreamError
    from ...ratelimit import Decision

SIGV4 = re.compile(r"^AWS4-HMAC-SHA256 Credential=([A-Z0-9]{16,128})/\d{8}/[a-z0-9-]+/bedrock/aws4_request, ?"
                   r"SignedHeaders=[a-z0-9;-]+, ?Signature=[0-9a-f]{64}$")


class BedrockDialect(Dialect):
    name = "bedrock"
    tool_id_prefix = "tooluse_"
    chat_endpoints = CHAT_ENDPOINTS

    def route_request(self, req: HttpRequest) -> tuple[str, dict[str, str]]:
        found = route(req.method, req.path)
        if found is None:
            raise ApiError(404, "Not Found", "UnknownOperationException")
        return found

    def authenticate(self, endpoint: str, headers: dict[str, str], api_keys: list[str] | None,
                     params: Mapping[str, str] = NO_PARAMS) -> None:
        auth = headers.get("authorization", "").strip()
        if not auth:
            raise ApiError(403, "Missing Authentication Token", "MissingAuthenticationTokenException")
        if auth[:7].lower() == "bearer ":
            key = auth[7:].strip()
        else:
            m = SIGV4.match(auth)
            if m is None or not headers.get("x-amz-date"):
                raise ApiError(403, "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' "
                                    "parameters, and the request an X-Amz-Date header.",
                               "IncompleteSignatureException")
            key = m.group(1)
        if api_keys is not None and key not in api_keys:
            raise ApiError(403, "The security token included in the request is invalid.",
                           "UnrecognizedClientException")

    def invalid_json(self, detail: str) -> ApiError:
        return exc.validation("Malformed input request, please reformat your input and try again.")

    def invalid_content_type(self, content_type: str) -> ApiError:
        return exc.validation(f"Unsupported Content-Type: {content_type}")

    def too_large(self, size: int, limit: int) -> ApiError:
        return exc.validation("Input is too long for requested model.")

    def parse_chat(self, endpoint: str, body: Any, params: Mapping[str, str] = NO_PARAMS) -> ChatRequest:
        return parse_converse(body, params["model"], endpoint == "converse_stream")

    def marker_text(self, body: dict[str, Any]) -> str | None:
        md = body.get("requestMetadata")
        if isinstance(md, dict):
            v = md.get("gatedrill")
            return v if isinstance(v, str) else None
        return None

    def unknown_model(self, model: str) -> ApiError:
        return exc.validation(exc.INVALID_MODEL)

    def context_error(self, model: ModelSpec, prompt_tokens: int, completion_tokens: int) -> ApiError:
        if prompt_tokens > model.context_window:
            return exc.validation(exc.TOO_LONG)
        return exc.validation(f"The model returned the following errors: input length and `max_tokens` exceed "
                              f"context limit: {prompt_tokens} + {completion_tokens} > {model.context_window}, "
                              "decrease input length or `max_tokens` and try again")

    def rate_limit_error(self, model: ModelSpec, decision: Decision) -> ApiError:
        what = "requests" if (decision.limited_by or "requests") == "requests" else "tokens"
        return ApiError(429, f"Too many {what}, please wait before trying again.", "ThrottlingException")

    def ratelimit_headers(self, model: ModelSpec, decision: Decision | None) -> list[tuple[str, str]]:
        return []  # Bedrock sends no rate-limit headers, on a 429 or otherwise

    def fault_error(self, fault: HttpError, model: str | None) -> ApiError:
        return ApiError(fault.status, fault.message or exc.default_message(fault.status),
                        fault.error_type or exc.error_type(fault.status))

    def render_error(self, endpoint: str | None, err: ApiError, request_id: str) -> Plan:
        body = exc.body(err)
        etype = err.error_type or exc.error_type(err.status)
        headers = [("x-amzn-requestid", request_id), ("x-amzn-errortype", etype + exc.CORAL),
                   ("content-type", "application/json"), *err.headers]
        return Plan(err.status, headers, [(0.0, body)], content_length=len(body))

    def new_request_id(self) -> str:
        h = next(self._ids).rjust(32, "0")[-32:]
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def render_reply(self, endpoint: str, req: ChatRequest, reply: Reply, usage: Usage, offsets: list[float],
                     end_offset: float, request_id: str) -> Rendered:
        return render_converse(req, reply.choices[0], usage, offsets, end_offset,
                               [("x-amzn-requestid", request_id)])

    def stream_error_event(self, endpoint: str, fault: StreamError, request_id: str, sent: int) -> bytes:
        member, payload = exc.stream_exception(fault.status, fault.message)
        return exception_message(member, payload)

    def malformed_event(self, endpoint: str) -> bytes:
        return corrupt(event("contentBlockDelta", b'{"contentBlockIndex":0,"delta":{"text":"x"}}'))

    def handle_other(self, endpoint: str, params: dict[str, str], body: Any, fake: FakeView, request_id: str) -> Plan:
        if endpoint == "count_tokens":
            chat = parse_count_tokens(body, params["model"])
            if fake.config.model(chat.model) is None:
                raise self.unknown_model(chat.model)
            out = orjson.dumps({"inputTokens": fake.count_prompt(chat)})
            return Plan(200, [("x-amzn-requestid", request_id), ("content-type", "application/json")],
                        [(0.0, out)], content_length=len(out))
        raise ApiError(404, "Not Found", "UnknownOperationException")



__all__ = ["BedrockDialect"]
