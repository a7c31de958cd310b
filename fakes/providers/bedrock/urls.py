"""Bedrock Runtime routes: `/model/{modelId}/{operation}`, the model id URL-encoded (`:` as `%3A`; it may be
an inference-profile id or an ARN, whose `/` arrive encoded too)."""

from __future__ import annotations

from urllib.parse import unquote

OPERATIONS = {"converse": "converse", "converse-stream": "converse_stream", "count-tokens": "count_tokens"}
CHAT_ENDPOINTS = frozenset({"converse", "converse_stream"})


def route(method: str, raw_path: str) -> tuple[str, dict[str, str]] | None:
    if method != "POST" or not raw_path.startswith("/model/"):
        return None
    encoded_model, _, op = raw_path[len("/model/"):].rpartition("/")
    endpoint = OPERATIONS.get(op)
    if endpoint is None or not encoded_model:
        return None
    return endpoint, {"model": unquote(encoded_model)}
