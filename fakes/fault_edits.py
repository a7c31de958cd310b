"""Editing a fake's fault rules through its one `patch`: the single fake and a workers' group share this, so a rule
list changes the same way (atomically, counters restarted) however the fake is served."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from .config import FakeConfig
from .faults import FaultRule


class FaultEdits:
    """`set_faults`, `add_fault` and `clear_faults`, for a class with `patch`, `config` and a reentrant `_lock`."""

    _lock: threading.RLock

    @property
    def config(self) -> FakeConfig:
        raise NotImplementedError

    def patch(self, patch: dict[str, Any]) -> FakeConfig:
        raise NotImplementedError

    def set_faults(self, rules: Sequence[FaultRule | dict[str, Any]]) -> None:
        """Replace every fault rule; their time windows and counters start now."""
        self.patch({"faults": [r.model_dump(mode="json") if isinstance(r, FaultRule) else r for r in rules]})

    def add_fault(self, rule: FaultRule | dict[str, Any]) -> None:
        with self._lock:
            rules: list[Any] = [r.model_dump(mode="json") for r in self.config.faults]
            rules.append(rule.model_dump(mode="json") if isinstance(rule, FaultRule) else rule)
            self.set_faults(rules)

    def clear_faults(self) -> None:
        self.set_faults([])
