"""Checks: the statistical oracles that judge a run record. Each is a small pure function, registered by name.

Importing this package registers every built-in check (one module per check).
"""

from __future__ import annotations

import importlib
import pkgutil

from ..check_params import PARAMS, CheckParams, parse_overrides, parse_params
from .judge import judge
from .machine_condition import TIMING_CHECKS, apply_host_condition, detection_slack
from .registry import REGISTRY, check
from .verdict import MAX_EVIDENCE, Outcome, Status, Verdict, capped, gate, inconclusive

for _m in pkgutil.iter_modules(__path__):
    if _m.name.startswith("check_"):
        importlib.import_module(f"{__name__}.{_m.name}")

__all__ = ["MAX_EVIDENCE", "PARAMS", "REGISTRY", "TIMING_CHECKS", "CheckParams", "Outcome", "Status", "Verdict",
           "apply_host_condition", "capped", "check", "detection_slack", "gate", "inconclusive", "judge",
           "parse_overrides", "parse_params"]
