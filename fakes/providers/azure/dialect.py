"""The Azure OpenAI dialect: it parses requests and renders replies through the wire-format modules beside it.

Bodies and streams are OpenAI's (this dialect extends the OpenAI one); Azure adds the deployment path with a
required `api-version` (missing or unknown: 404 "Resource not found"; retired: 400 "API version not
supported"), the `api-key` header, 404 `DeploymentNotFound`, content-filter annotations
(`prompt_filter_results`, first in a stream as a chunk with `choices: []`) and its own 429: `retry-after`,
`retry-after-ms` and `x-ratelimit-{limit,remaining}-{requests,tokens}`, no reset headers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from ...plan import ApiError, HttpRequest, Plan
from ..base import NO_PARAMS, FakeView, Rendered, Usage
from ..openai import OpenAIDialect
from ..openai import exceptions as openai_exc
from . import exceptions as exc
from .urls import CHAT_ENDPOINTS, route

if TYPE_CHECKING:
    from ...config import ModelSpec
    from ...content import Reply
    from ...conversation import ChatRequest
    from ...faults import HttpError
    from ...ratelimit import Decision

_UNLIMITED = [("x-ratelimit-limit-requests", "1000000"), ("x-ratelimit-remaining-requests", "1000000"),
              ("x-ratelimit-limit-tokens", "1000000000"), ("x-ratelimit-remaining-tokens", "1000000000")]


class AzureDialect(OpenAIDialect):
    name = "azure"
    chat_endpoints = CHAT_ENDPOINTS

    envelope = staticmethod(exc.envelope)  # Azure's own code/message body for its errors

    def route_request(self, req: HttpRequest) -> tuple[str, dict[str, str]]:
        return route(req.method, req.path, req.query)

    def authenticate(self, endpoint: str, headers: dict[str, str], api_keys: list[str] | None,
                     params: Mapping[str, str] = NO_PARAMS) -> None:
        """`api-key`, or an Entra `Authorization: Bearer` token (accepted when present, not verified)."""
        key = headers.get("api-key", "").strip()
        if not key:
            auth = headers.get("authorization", "")
            key = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        if not key or (api_keys is not None and key not in api_keys):
            raise ApiError(401, exc.NO_KEY_MESSAGE, exc.AZURE, None, "401")

    def parse_chat(self, endpoint: str, body: Any, params: Mapping[str, str] = NO_PARAMS) -> ChatRequest:
        """On the deployment path the deployment names the model, whatever the body says."""
        if "deployment" in params and isinstance(body, dict):
            body = {**body, "model": params["deployment"]}
        return super().parse_chat(endpoint, body, params)

    def unknown_model(self, model: str) -> ApiError:
        return ApiError(404, exc.DEPLOYMENT_NOT_FOUND, exc.AZURE, None, "DeploymentNotFound")

    def rate_limit_error(self, model: ModelSpec, decision: Decision) -> ApiError:
        wait = 60.0 if math.isinf(decision.retry_after) else decision.retry_after
        headers = openai_exc.retry_headers(wait) + self.ratelimit_headers(model, decision)
        return ApiError(429, exc.rate_limited(wait), exc.AZURE, None, "429", headers)

    def ratelimit_headers(self, model: ModelSpec, decision: Decision | None) -> list[tuple[str, str]]:
        if decision is None:
            return list(_UNLIMITED)
        out = []
        for kind, b in (("requests", decision.requests), ("tokens", decision.tokens)):
            if b is None:
                out += [h for h in _UNLIMITED if h[0].endswith(kind)]
                continue
            out += [(f"x-ratelimit-limit-{kind}", str(b.limit)),
                    (f"x-ratelimit-remaining-{kind}", str(max(0, int(b.level))))]
        return out

    def fault_error(self, fault: HttpError, model: str | None) -> ApiError:
        if fault.status == 429 and not fault.message and fault.error_type is None:
            wait = 1.0 if fault.retry_after is None else fault.retry_after
            headers = [*openai_exc.retry_headers(wait), ("x-ratelimit-limit-requests", "500"),
                       ("x-ratelimit-remaining-requests", "0"), ("x-ratelimit-limit-tokens", "80000"),
                       ("x-ratelimit-remaining-tokens", "0")]
            return ApiError(429, exc.rate_limited(wait), exc.AZURE, None, "429", headers)
        if fault.code == "content_filter":
            return exc.content_filter_error()
        return super().fault_error(fault, model)

    def prompt_filtered(self, endpoint: str, req: ChatRequest, usage: Usage, request_id: str) -> Plan | None:
        raise exc.content_filter_error()

    def _headers(self, rid: str, processing_ms: float) -> list[tuple[str, str]]:
        return [("apim-request-id", rid), ("x-request-id", rid), ("x-ms-region", "East US"),
                ("x-ms-rai-invoked", "true"), ("azureml-model-session", "d001-20250101000000")]

    def render_reply(self, endpoint: str, req: ChatRequest, reply: Reply, usage: Usage, offsets: list[float],
                     end_offset: float, request_id: str) -> Rendered:
        r = super().render_reply(endpoint, req, reply, usage, offsets, end_offset, request_id)
        if endpoint != "chat":
            return r
        prompt_filter = [{"prompt_index": 0, "content_filter_results": exc.filter_results()}]
        if r.stream:
            first = orjson.dumps({"choices": [], "created": 0, "id": "", "model": "", "object": "",
                                  "prompt_filter_results": prompt_filter})
            t0 = r.events[0][0] if r.events else 0.0
            r.events.insert(0, (t0, b"data: " + first + b"\n\n", False))
            return r
        t, body, c = r.events[0]
        obj = orjson.loads(body)
        obj["prompt_filter_results"] = prompt_filter
        for ch in obj["choices"]:
            ch["content_filter_results"] = exc.filter_results() if ch["finish_reason"] != "content_filter" else \
                exc.filter_results("violence")
        r.events[0] = (t, orjson.dumps(obj), c)
        return r

    def handle_other(self, endpoint: str, params: dict[str, str], body: Any, fake: FakeView, request_id: str) -> Plan:
        if "deployment" in params:
            if fake.config.model(params["deployment"]) is None:
                raise self.unknown_model(params["deployment"])
            if isinstance(body, dict):
                body = {**body, "model": params["deployment"]}
        return super().handle_other(endpoint, params, body, fake, request_id)


__all__ = ["AzureDialect"]
