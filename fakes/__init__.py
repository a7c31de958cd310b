"""Fake upstream LLM providers (OpenAI, Anthropic) that speak the wire formats exactly, inject faults,
and journal every request as ground truth.
"""

from .config import (
    FIXED_AT_START,
    FakeConfig,
    FakesFile,
    JournalSpec,
    LatencySpec,
    ModelSpec,
    ReplySpec,
    load_fakes_file,
    with_overrides,
)
from .conversation import ChatRequest, anthropic_atoms, digest, openai_atoms
from .correlation import CORRELATION_HEADER, FAULT_HEADER, SESSION_HEADER, TURN_HEADER, make_marker, parse_marker
from .errors import ConfigError, GatedrillError
from .fake import Fake
from .faults import FaultRule, Trigger
from .journal import Entry, Journal
from .redaction import REDACTED, is_credential, redact, redact_body, redact_headers, redact_text
from .server import FakeServer, serve, serve_forever

__all__ = [
    "CORRELATION_HEADER",
    "FAULT_HEADER",
    "FIXED_AT_START",
    "REDACTED",
    "SESSION_HEADER",
    "TURN_HEADER",
    "ChatRequest",
    "ConfigError",
    "Entry",
    "Fake",
    "FakeConfig",
    "FakeServer",
    "FakesFile",
    "FaultRule",
    "GatedrillError",
    "Interception",
    "Journal",
    "JournalSpec",
    "LatencySpec",
    "ModelSpec",
    "ReplySpec",
    "Trigger",
    "anthropic_atoms",
    "digest",
    "intercept",
    "is_credential",
    "load_fakes_file",
    "make_marker",
    "openai_atoms",
    "parse_marker",
    "redact",
    "redact_body",
    "redact_headers",
    "redact_text",
    "serve",
    "serve_forever",
    "with_overrides",
]


def __getattr__(name: str) -> object:
    """`intercept` and `Interception` load respx/httpx2 on first use, keeping `import fakes` light."""
    if name in ("intercept", "Interception"):
        from . import interception

        return getattr(interception, name)
    raise AttributeError(f"module 'fakes' has no attribute {name!r}")
