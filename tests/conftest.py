"""Shared test settings: fakes run for real on 127.0.0.1; Hypothesis profiles for CI and local runs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy  # noqa: F401
import pytest
import scipy.stats  # noqa: F401
from hypothesis import HealthCheck, settings
from needs import CHROMIUM, need

# numpy and scipy are loaded here, once: gatedrill imports them lazily, and a pytester in-process run restores
# sys.modules afterwards, so a first import inside one would leave numpy unable to load again ("cannot load module
# more than once per process").

# Tests talk only to loopback: stop LiteLLM (a test dependency) from fetching its cost map from GitHub.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """The system's Chromium, headless, driven by Playwright (the report's and the game-day console's tests)."""
    need(CHROMIUM is not None, "no chromium on PATH (Debian: apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
