"""Mutants prove the checks: each deliberately broken reference gateway fails exactly the checks that should
catch it on its drill, and no unrelated check fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatedrill.harness.checks import Status, judge
from gatedrill.harness.intent import MUTANTS
from gatedrill.harness.mutation import MUTATION_TABLE
from gatedrill.harness.record import RunRecord
from gatedrill.harness.runner import RunOptions, run

TABLE = MUTATION_TABLE


def test_every_mutant_is_in_the_table() -> None:
    assert set(TABLE) == set(MUTANTS)


@pytest.mark.parametrize("mutant", sorted(TABLE))
def test_mutant_fails_exactly_its_checks(tmp_path: Path, mutant: str) -> None:
    case = TABLE[mutant]
    expected = set(case.catches)
    out = run(case.drill, RunOptions(scale=case.scale, mutant=mutant, out=tmp_path / "run"))
    verdicts = judge(RunRecord.load(out.path), case.overrides)
    failed = {v.check for v in verdicts if v.status is Status.FAIL}
    summaries = {v.check: (v.status.value, v.summary) for v in verdicts}
    assert expected <= failed, summaries
    assert failed <= expected, f"unrelated checks failed: {failed - expected}: {summaries}"


def test_the_docs_mutation_table_lists_every_mutant_with_its_checks() -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "drills.md").read_text()
    for name, case in TABLE.items():
        row = next((line for line in text.splitlines() if line.startswith(f"| `{name}` |")), None)
        assert row is not None, f"docs/drills.md has no row for {name}"
        assert row.rstrip(" |").endswith(", ".join(sorted(case.catches))), (name, row)
        assert case.source.split(" ")[0] in row, (name, row)
