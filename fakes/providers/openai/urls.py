"""OpenAI routes: (method, path) -> endpoint name."""

from __future__ import annotations

ROUTES: dict[tuple[str, str], str] = {
    ("POST", "/v1/chat/completions"): "chat",
    ("POST", "/v1/responses"): "responses",
    ("POST", "/v1/embeddings"): "embeddings",
    ("GET", "/v1/models"): "models",
}
PREFIX_ROUTES: list[tuple[str, str, str]] = [("GET", "/v1/models/", "model")]
CHAT_ENDPOINTS = frozenset({"chat", "responses"})
