"""Gemini API routes. The method rides on the model path after a colon (`models/{m}:generateContent`), and
`?alt=sse` picks the streaming format, so routing reads the decoded path and the query string."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote

VERSIONS = ("v1beta", "v1")
# path method -> endpoint; streamGenerateContent is "stream" with alt=sse and "stream_array" without it
METHODS = {"generateContent": "generate", "streamGenerateContent": "stream", "countTokens": "count_tokens"}
CHAT_ENDPOINTS = frozenset({"generate", "stream", "stream_array"})
STREAM_ENDPOINTS = frozenset({"stream", "stream_array"})


def query_params(query: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(query).items()}


def route(method: str, raw_path: str, query: str) -> tuple[str, dict[str, str]] | None:
    """(endpoint, params) for a Gemini path, or None when the path is not one of the API's."""
    path = unquote(raw_path)
    parts = path.strip("/").split("/", 2)
    if len(parts) < 2 or parts[0] not in VERSIONS or parts[1] != "models":
        return None
    params = query_params(query)
    rest = parts[2] if len(parts) == 3 else ""
    if method == "GET":
        if not rest:
            return "models", params
        if ":" not in rest:
            return "model", {**params, "model": rest}
        return None
    if method != "POST" or ":" not in rest:
        return None
    model, _, verb = rest.rpartition(":")
    endpoint = METHODS.get(verb)
    if endpoint is None or not model:
        return None
    if endpoint == "stream" and params.get("alt") != "sse":
        endpoint = "stream_array"
    return endpoint, {**params, "model": model}
