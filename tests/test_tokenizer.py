"""The default tokenizer: deterministic, and within 15% of cl100k on English prose."""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path

import pytest

from gatedrill.fakes.tokenizer import count_approx, get_counter

ENGLISH = [
    (Path(__file__).parent / "data" / "english.txt").read_text(),
    "The quick brown fox jumps over the lazy dog. " * 20,
    "Gateways split traffic between old and new upstreams, fall back when one fails, and must carry a "
    "conversation's context across providers without losing it. Canary releases send a small share first.",
]


def test_counting_is_deterministic_and_zero_for_empty_text() -> None:
    assert count_approx("") == 0
    assert count_approx("hello world") == count_approx("hello world") == 2


def test_short_common_words_are_one_token_each() -> None:
    assert count_approx("the cat sat on the mat") == 6


def test_every_character_is_accounted_for() -> None:
    from gatedrill.fakes.tokenizer import PIECE

    for text in [*ENGLISH, "snake_case_name = 42", "emoji 🎉 and 日本語", "tabs\tand\nnewlines\r\n  "]:
        assert "".join(PIECE.findall(text)) == text


def _cl100k():
    if not os.environ.get("TIKTOKEN_CACHE_DIR") and find_spec("litellm") is None:
        pytest.fail("cl100k needs litellm (the test extra) or TIKTOKEN_CACHE_DIR with the cl100k_base file")
    return get_counter("cl100k")


@pytest.mark.parametrize("index", range(len(ENGLISH)))
def test_default_policy_is_within_15_percent_of_cl100k_on_english(index: int) -> None:
    exact = _cl100k()
    text = ENGLISH[index]
    ratio = count_approx(text) / exact(text)
    assert 0.85 <= ratio <= 1.15, ratio
