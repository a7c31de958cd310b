"""One test per adapter-kit cell (property x target): a known gap is a strict xfail naming it, so a gateway release
that closes the gap turns the test red until the note is removed."""

from __future__ import annotations

from typing import Any

import pytest

from gatedrill.contracts.adapter_kit import PROPERTIES, Matrix


def cell_params(targets: tuple[str, ...], known_gaps: dict[tuple[str, str], str]) -> list[Any]:
    """(property, target) parameters for every property on every target, the known gaps marked."""
    return [pytest.param(p.name, t, marks=[pytest.mark.xfail(strict=True, reason=known_gaps[(p.name, t)])]
                         if (p.name, t) in known_gaps else [])
            for t in targets for p in PROPERTIES]


def assert_cell_passes(matrix: Matrix, prop: str, target: str) -> None:
    cell = matrix.cell(prop, target)
    assert cell is not None, f"no cell {prop} x {target}"
    assert cell.passed, f"{cell.message}\n{cell.example_json()}"
