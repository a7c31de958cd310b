"""The OpenAI wire format: chat completions (JSON and SSE), responses, embeddings and models.

The dialect class lives in `dialect.py`; the wire format in `urls`, `requests`, `rendering` (chat completions),
`responses_api` (the Responses API), `exceptions`."""

from .dialect import OpenAIDialect, deterministic_vector

__all__ = ["OpenAIDialect", "deterministic_vector"]
