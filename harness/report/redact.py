"""Redaction for everything a report writes: secret header values and strings that look like API keys."""

from __future__ import annotations

import re
from typing import Any

from gatedrill.fakes.journal import REDACTED, SECRET_HEADERS

_KEY_LIKE = re.compile(r"\b(?:sk-(?:ant-|proj-)?[A-Za-z0-9_\-]{8,}|Bearer\s+[A-Za-z0-9._~+/=\-]{8,})")


def redact_text(text: str) -> str:
    """A string with API-key-looking runs (sk-..., Bearer ...) replaced."""
    return _KEY_LIKE.sub(REDACTED, text)


def redact(value: Any) -> Any:
    """A deep copy of JSON-like data with secret headers' values and key-like strings redacted."""
    if isinstance(value, dict):
        return {k: (REDACTED if isinstance(k, str) and k.lower() in SECRET_HEADERS and v else redact(v))
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value
