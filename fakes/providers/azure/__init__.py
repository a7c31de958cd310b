"""The Azure OpenAI wire format, as the `openai` SDK's `AzureOpenAI` client speaks it.

The dialect class lives in `dialect.py`; the wire format in `urls`, `exceptions`."""

from .dialect import AzureDialect

__all__ = ["AzureDialect"]
