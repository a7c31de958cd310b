"""Unique, unguessable-looking ids at the cost of a counter: a random per-process prefix plus a sequence."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterator


def unique_ids() -> Iterator[str]:
    """Yield 32-hex-character ids, unique within this process and (by the random prefix) across processes."""
    prefix = secrets.token_hex(8)
    for n in itertools.count(1):
        yield f"{prefix}{n:016x}"
