"""Redaction for everything a report writes: the one list in `gatedrill.fakes.redaction`, re-exported here."""

from __future__ import annotations

from gatedrill.fakes.redaction import redact, redact_text

__all__ = ["redact", "redact_text"]
