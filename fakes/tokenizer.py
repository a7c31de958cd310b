"""Token counting policy shared by every fake: fast, deterministic, and close to cl100k on English text.

The default `approx` policy splits text the way cl100k's pre-tokenizer does (contractions, letter runs with
a leading space, digit groups of up to three, punctuation runs, whitespace) and charges one token per
piece, plus one more per 8 letters after the first 8 for long words, and one token per 3 UTF-8 bytes for
non-ASCII letters. On English prose it stays within 15% of cl100k (pinned by a test). The optional
`cl100k` policy uses tiktoken when its encoding file can be loaded offline (TIKTOKEN_CACHE_DIR, or the copy
bundled with litellm).

Message overheads follow OpenAI's published counting recipe: 3 tokens per message, 1 per name,
3 to prime the reply.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

import orjson

from .errors import ConfigError

PIECE = re.compile(
    r"'(?:s|t|re|ve|m|ll|d)|[^\r\n\w]?[^\W\d_]+|\d{1,3}| ?[^\s\w]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+|[\s\S]",
    re.IGNORECASE,
)

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3


def _approx_piece(piece: str) -> int:
    n = len(piece)
    if n <= 9 or not piece.isascii():
        if piece.isascii():
            return 1
        return max(1, (len(piece.encode("utf-8")) + 2) // 3)
    letters = n - (1 if not piece[0].isalnum() else 0)
    return 1 + max(0, (letters - 8 + 7) // 8)


_SLICE = 1 << 16


def _slices(text: str) -> list[str]:
    """A long text cut into about 64 KB pieces, each cut just before a space that follows a non-space. No
    pre-tokenizer piece spans such a point, so the count is exact; and each `findall` is short, so a thread
    counting a 30 MB prompt lets the event loop run between slices instead of holding the GIL for a second."""
    out, start, n = [], 0, len(text)
    while n - start > _SLICE:
        cut = text.find(" ", start + _SLICE)
        while cut > 0 and text[cut - 1].isspace():
            cut = text.find(" ", cut + 1)
        if cut <= 0:
            break
        out.append(text[start:cut])
        start = cut
    out.append(text[start:])
    return out


def count_approx(text: str) -> int:
    """Count tokens with the fast default policy."""
    if not text:
        return 0
    if len(text) > _SLICE:
        return sum(_count_piecewise(part) for part in _slices(text))
    return _count_piecewise(text)


def _count_piecewise(text: str) -> int:
    if text.isascii():
        total = 0
        for piece in PIECE.findall(text):
            total += 1 if len(piece) <= 9 else _approx_piece(piece)
        return total
    return sum(_approx_piece(p) for p in PIECE.findall(text))


@lru_cache(maxsize=1)
def _cl100k() -> Callable[[str], int]:
    if "TIKTOKEN_CACHE_DIR" not in os.environ:
        from importlib.util import find_spec

        spec = find_spec("litellm")
        if spec and spec.submodule_search_locations:
            bundled = os.path.join(next(iter(spec.submodule_search_locations)), "litellm_core_utils", "tokenizers")
            if os.path.isdir(bundled):
                os.environ["TIKTOKEN_CACHE_DIR"] = bundled
    try:
        import tiktoken

        enc = tiktoken.get_encoding("cl100k_base")
    except Exception as exc:  # network or missing file: tiktoken fetches from the internet otherwise
        raise ConfigError(
            "tokenizer 'cl100k' needs tiktoken (pip install 'gatedrill[tiktoken]') and its cl100k_base file offline: "
            f"set TIKTOKEN_CACHE_DIR or install litellm, or use tokenizer 'approx' ({type(exc).__name__})"
        ) from None
    return lambda text: len(enc.encode(text, disallowed_special=()))


def count_atoms(atoms: Iterable[tuple[str, str, Any]], count: Callable[[str], int] = count_approx) -> int:
    """Prompt tokens of a neutral conversation (`fakes.conversation` atoms) by OpenAI's recipe: 3 per message
    plus its content (tool calls as name plus JSON arguments), plus 3 to prime the reply. Shared by the fakes
    and by gateways that must predict what a fake will count (the reference gateway's window checks)."""
    total = REPLY_PRIMING
    for _, kind, payload in atoms:
        if kind == "text":
            total += TOKENS_PER_MESSAGE + count(payload)
        elif kind == "tool_call":
            total += TOKENS_PER_MESSAGE + count(payload[1] or "") + count(orjson.dumps(payload[2]).decode())
        elif kind == "tool_result":
            total += TOKENS_PER_MESSAGE + count(payload[1])
        else:
            total += TOKENS_PER_MESSAGE + count(str(payload))
    return total


def get_counter(policy: str) -> Callable[[str], int]:
    """Return the text -> token count function for a tokenizer policy name."""
    if policy == "approx":
        return count_approx
    if policy == "cl100k":
        return _cl100k()
    raise ConfigError(f"unknown tokenizer {policy!r}: use 'approx' or 'cl100k'")
