"""Run the adapter contract: every property against every target, Hypothesis drawing the requests, and the
smallest failing request kept as each failure's counter-example.

Hypothesis is bounded (few examples, a fixed seed, no example database, a time budget per cell), so a run
is repeatable and quick. After the budget the shrinker stops making progress and the smallest failure found
so far is reported.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from hypothesis import HealthCheck, Phase, given, seed, settings

from .matrix import Cell, Matrix
from .properties import PROPERTIES, Property, Violation
from .target import Target


def _size(example: Any) -> tuple[int, str]:
    text = orjson.dumps(example, default=str).decode()
    return len(text), text


def run_property(target: Target, prop: Property, max_examples: int | None = None, seed_value: int = 0,
                 budget_s: float = 20.0) -> Cell:
    """One cell of the matrix: Hypothesis drives `prop` against `target` (already started)."""
    failures: list[tuple[tuple[int, str], Any, str]] = []
    calls = 0
    t0 = time.monotonic()

    def attempt(drawn: Any) -> None:
        nonlocal calls
        if failures and time.monotonic() - t0 > budget_s:
            return  # out of budget: stop shrinking, keep the smallest failure found so far
        calls += 1
        target.reset()
        try:
            prop.check(target, drawn)
        except Violation as v:
            failures.append((_size(drawn), drawn, str(v)))
            raise

    test = given(prop.strategy(target))(attempt)
    test = settings(max_examples=max_examples or prop.max_examples, deadline=None, database=None,
                    derandomize=False, suppress_health_check=list(HealthCheck), print_blob=False,
                    phases=[Phase.explicit, Phase.generate, Phase.shrink])(test)
    try:
        seed(seed_value)(test)()
    except Exception:
        if not failures:
            raise
    seconds = time.monotonic() - t0
    if not failures:
        return Cell(prop.name, target.label, True, calls, seconds)
    _, example, message = min(failures, key=lambda f: f[0])
    return Cell(prop.name, target.label, False, calls, seconds, message, example)


def run_kit(targets: Iterable[Target], properties: Sequence[Property] = PROPERTIES, title: str = "adapter contract",
            max_examples: int | None = None, seed_value: int = 0, budget_s: float = 20.0) -> Matrix:
    """Start each target, run every property against it, stop it; the matrix holds every cell."""
    matrix = Matrix(title)
    for target in targets:
        with target:
            for prop in properties:
                matrix.cells.append(run_property(target, prop, max_examples, seed_value, budget_s))
    return matrix


def property_named(name: str) -> Property:
    for p in PROPERTIES:
        if p.name == name:
            return p
    raise KeyError(name)
