"""Shared test settings: fakes run for real on 127.0.0.1; Hypothesis profiles for CI and local runs."""

from __future__ import annotations

import os

import numpy  # noqa: F401
import scipy.stats  # noqa: F401
from hypothesis import HealthCheck, settings

# numpy and scipy are loaded here, once: gatedrill imports them lazily, and a pytester in-process run restores
# sys.modules afterwards, so a first import inside one would leave numpy unable to load again ("cannot load module
# more than once per process").

# Tests talk only to loopback: stop LiteLLM (a test dependency) from fetching its cost map from GitHub.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")
