"""Fuzzing the fakes: spec-generated requests from OpenAI's official OpenAPI document (and the curated Anthropic
one), plus malformed HTTP on raw sockets, judged for crashes, non-injected 5xx, hangs and spec violations.
`bench/fuzz.py` runs it in bulk; tests/test_fuzz_subset.py runs a fast subset."""

from .official import official_openai
from .quirks import QUIRKS, Quirk, documented_quirk
from .raw_http import CORPUS, fuzz_raw, healthy, send_raw
from .spec_fuzz import SpecTarget, fuzz_spec
from .tally import HARD, Finding, FuzzTally

__all__ = ["CORPUS", "HARD", "QUIRKS", "Finding", "FuzzTally", "Quirk", "SpecTarget", "documented_quirk",
           "fuzz_raw", "fuzz_spec", "healthy", "official_openai", "send_raw"]
