"""One seed per purpose: `derive(seed, purpose)` turns a drill's seed into independent streams (each upstream fake,
the reference gateway's router), so two upstreams with the same fault rules do not draw the same coins."""

from __future__ import annotations

import hashlib


def derive(seed: int, purpose: str) -> int:
    """A 63-bit seed for `purpose`, stable across runs and platforms, unrelated to any other purpose's."""
    digest = hashlib.blake2b(f"gatedrill:{seed}:{purpose}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1
