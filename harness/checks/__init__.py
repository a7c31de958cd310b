"""Checks: the statistical oracles that judge a run record. Each is a small pure function, registered by name.

Importing this package registers every built-in check (one module per check).
"""

from __future__ import annotations

import importlib
import pkgutil

from .judge import gate, judge, parse_overrides
from .registry import REGISTRY, CheckParams, check, parse_params
from .verdict import Status, Verdict, inconclusive

for _m in pkgutil.iter_modules(__path__):
    if _m.name.startswith("check_"):
        importlib.import_module(f"{__name__}.{_m.name}")

__all__ = ["REGISTRY", "CheckParams", "Status", "Verdict", "check", "gate", "inconclusive", "judge",
           "parse_overrides", "parse_params"]
