"""The Gemini API wire format (generativelanguage.googleapis.com, as the `google-genai` SDK speaks it):

The dialect class lives in `dialect.py`; the wire format in `urls`, `requests`, `rendering`, `exceptions`."""

from .dialect import GeminiDialect

__all__ = ["GeminiDialect"]
