"""Anthropic routes: (method, path) -> endpoint name."""

from __future__ import annotations

ROUTES: dict[tuple[str, str], str] = {
    ("POST", "/v1/messages"): "messages",
    ("POST", "/v1/messages/count_tokens"): "count_tokens",
    ("GET", "/v1/models"): "models",
}
PREFIX_ROUTES: list[tuple[str, str, str]] = [("GET", "/v1/models/", "model")]
CHAT_ENDPOINTS = frozenset({"messages"})
