"""The Anthropic wire format: messages (JSON and typed SSE), token counting and models.

The dialect class lives in `dialect.py`; the wire format in `urls`, `requests`, `rendering`, `exceptions`."""

from .dialect import AnthropicDialect

__all__ = ["AnthropicDialect"]
