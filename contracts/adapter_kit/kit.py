"""Run the adapter contract: every property against every target, Hypothesis drawing the requests, and the
smallest failing request kept as each failure's counter-example.

Hypothesis is bounded (few examples, a fixed seed, no example database, a time budget per cell), so a run
is repeatable and quick. After the budget the shrinker stops making progress and the smallest failure found
so far is reported.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable

from .matrix import Cell, Matrix
from .properties import PROPERTIES, Property, Violation
from .target import Target


def _size(example: Any) -> tuple[int, str]:
    text = orjson.dumps(example, default=str).decode()
    return len(text), text


_VALUES = re.compile(r"'[^']*'|\"[^\"]*\"|\[[^\]]*\]|\{[^}]*\}|\([^)]*\)|\d+(?:\.\d+)?")


def signature(problem: str) -> str:
    """A problem with its values (quoted, bracketed, parenthesised, numbers) blanked out: two examples of one gap
    share it."""
    return _VALUES.sub("_", problem)


def _search(target: Target, prop: Property, known: set[str], max_examples: int, seed_value: int,
            deadline: float) -> tuple[int, tuple[Any, str, list[str]] | None, bool]:
    """One Hypothesis search for a failure not in `known`: (calls, smallest failure, satisfiable)."""
    failures: list[tuple[tuple[int, str], Any, str, list[str]]] = []
    calls = 0

    def attempt(drawn: Any) -> None:
        nonlocal calls
        if failures and time.monotonic() > deadline:
            return  # out of budget: stop shrinking, keep the smallest failure found so far
        calls += 1
        target.reset()
        try:
            prop.check(target, drawn)
        except Violation as v:
            new = [p for p in v.problems if signature(p) not in known]
            if not new:
                return
            failures.append((_size(drawn), drawn, "; ".join(new), new))
            raise Violation("; ".join(new), new) from None

    test = given(prop.strategy(target))(attempt)
    test = settings(max_examples=max_examples, deadline=None, database=None, derandomize=False,
                    suppress_health_check=list(HealthCheck), print_blob=False, report_multiple_bugs=False,
                    phases=[Phase.explicit, Phase.generate, Phase.shrink])(test)
    try:
        seed(seed_value)(test)()
    except Unsatisfiable:
        return calls, None, False
    except Exception:
        if not failures:
            raise
    if not failures:
        return calls, None, True
    _, example, message, problems = min(failures, key=lambda f: f[0])
    return calls, (example, message, problems), True


def run_property(target: Target, prop: Property, max_examples: int | None = None, seed_value: int = 0,
                 budget_s: float = 20.0, max_findings: int = 3) -> Cell:
    """One cell of the matrix: Hypothesis drives `prop` against `target` (already started). After a failure, the
    search runs again with that failure's problems set aside, so one cell can report up to `max_findings`
    distinct gaps, each with its own shrunk counter-example."""
    t0 = time.monotonic()
    known: set[str] = set()
    findings: list[tuple[str, Any]] = []
    calls = 0
    for _ in range(max_findings):
        n, found, satisfiable = _search(target, prop, known, max_examples or prop.max_examples, seed_value,
                                        time.monotonic() + budget_s)
        calls += n
        if not satisfiable and not findings:
            return Cell(prop.name, target.label, False, calls, time.monotonic() - t0,
                        "no drawn request reached the upstream as a valid request (see upstream_request_valid)")
        if found is None:
            break
        example, message, problems = found
        findings.append((message, example))
        known.update(signature(p) for p in problems)
    seconds = time.monotonic() - t0
    if not findings:
        return Cell(prop.name, target.label, True, calls, seconds)
    return Cell(prop.name, target.label, False, calls, seconds, findings[0][0], findings[0][1], findings)


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
