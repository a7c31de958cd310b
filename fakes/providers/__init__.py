"""Provider wire formats. Each subpackage knows only its provider's bytes; behaviour lives in the core."""

from __future__ import annotations

from functools import cache

from ..errors import ConfigError
from .base import Dialect, Rendered, Usage

PROVIDERS = ("openai", "anthropic", "gemini", "azure", "bedrock")


@cache
def get_dialect(provider: str) -> Dialect:
    if provider == "openai":
        from .openai import OpenAIDialect

        return OpenAIDialect()
    if provider == "anthropic":
        from .anthropic import AnthropicDialect

        return AnthropicDialect()
    if provider == "gemini":
        from .gemini import GeminiDialect

        return GeminiDialect()
    if provider == "azure":
        from .azure import AzureDialect

        return AzureDialect()
    if provider == "bedrock":
        from .bedrock import BedrockDialect

        return BedrockDialect()
    raise ConfigError(f"unknown provider {provider!r}: use one of {', '.join(PROVIDERS)}")


__all__ = ["PROVIDERS", "Dialect", "Rendered", "Usage", "get_dialect"]
