"""What the reference gateway needs to know to reach one upstream provider: its URL, auth, request body,
reply shape, stream framing and translator. The client side is always OpenAI's chat completions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson

from ..intent import UpstreamEndpoint
from ..sse import SseParser
from . import bedrock, gemini
from .streams import AnthropicTranslator, OpenAIRelay, StreamRelay
from .translate import from_anthropic_message, to_anthropic

ANTHROPIC_VERSION = "2023-06-01"
AZURE_API_VERSION = "2024-10-21"


@dataclass(frozen=True, slots=True)
class Request:
    """One prepared upstream request: where it goes and what it carries; `model` names it for replies."""

    url: str
    body: dict[str, Any]
    model: str
    stream: bool


@dataclass(frozen=True, slots=True)
class UpstreamDialect:
    provider: str
    prepare: Callable[[str, dict[str, Any], str, int], Request]  # (base, body, model, default max tokens)
    auth: Callable[[UpstreamEndpoint, str, bytes], dict[str, str]]  # (endpoint, url, body bytes) -> headers
    reply: Callable[[dict[str, Any], str], dict[str, Any] | None]  # upstream JSON -> OpenAI chat completion
    relay: Callable[[str, bool], StreamRelay]
    parser: Callable[[], Any] = SseParser


def _openai(base: str, body: dict[str, Any], model: str, _: int) -> Request:
    return Request(base + "/v1/chat/completions", {**body, "model": model}, model, bool(body.get("stream")))


def _azure(base: str, body: dict[str, Any], model: str, _: int) -> Request:
    url = f"{base}/openai/deployments/{quote(model, safe='')}/chat/completions?api-version={AZURE_API_VERSION}"
    return Request(url, {**body, "model": model}, model, bool(body.get("stream")))


def _anthropic(base: str, body: dict[str, Any], model: str, max_tokens: int) -> Request:
    return Request(base + "/v1/messages", to_anthropic(body, model, max_tokens), model, bool(body.get("stream")))


def _gemini(base: str, body: dict[str, Any], model: str, max_tokens: int) -> Request:
    stream = bool(body.get("stream"))
    verb = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return Request(f"{base}/v1beta/models/{model}:{verb}", gemini.to_gemini(body), model, stream)


def _bedrock(base: str, body: dict[str, Any], model: str, max_tokens: int) -> Request:
    stream = bool(body.get("stream"))
    op = "converse-stream" if stream else "converse"
    return Request(f"{base}/model/{quote(model, safe='')}/{op}", bedrock.to_converse(body, max_tokens), model, stream)


def _openai_reply(data: dict[str, Any], model: str) -> dict[str, Any] | None:
    return data if "choices" in data else None


def _anthropic_reply(data: dict[str, Any], model: str) -> dict[str, Any] | None:
    return from_anthropic_message(data) if data.get("type") == "message" else None


DIALECTS: dict[str, UpstreamDialect] = {
    "openai": UpstreamDialect("openai", _openai, lambda e, u, b: {"authorization": f"Bearer {e.api_key}"},
                              _openai_reply, lambda m, u: OpenAIRelay()),
    "azure": UpstreamDialect("azure", _azure, lambda e, u, b: {"api-key": e.api_key}, _openai_reply,
                             lambda m, u: OpenAIRelay()),
    "anthropic": UpstreamDialect("anthropic", _anthropic,
                                 lambda e, u, b: {"x-api-key": e.api_key, "anthropic-version": ANTHROPIC_VERSION},
                                 _anthropic_reply, AnthropicTranslator),
    "gemini": UpstreamDialect("gemini", _gemini, lambda e, u, b: {"x-goog-api-key": e.api_key}, gemini.from_gemini,
                              gemini.GeminiTranslator),
    "bedrock": UpstreamDialect("bedrock", _bedrock, lambda e, u, b: bedrock.sigv4_headers(u, b, e.api_key),
                               bedrock.from_converse, bedrock.BedrockTranslator, bedrock.EventStreamParser),
}


def encode(body: dict[str, Any]) -> bytes:
    return orjson.dumps(body)
