"""The scorecard: matrix verdicts become pass / fail / partial / not expressible marks with the rate they ran at and
whether the gateway kept up, the findings that explain a cell are linked, a gateway's own errors are named, and the
dated history shows what a newer run changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gatedrill.harness.findings import published
from gatedrill.harness.scorecard import (
    add_to_history,
    changes,
    latest_rows,
    mark_of,
    read_history,
    row_from_cells,
    scorecard_markdown,
    write_history,
)

LITELLM = {"gateway": "litellm", "version": "1.106.2", "install": "pip", "dependencies": {"prisma": "absent"}}
CHECKS = {"streaming-integrity": ["streaming_integrity", "accounting"], "canary-split": ["canary_split", "overhead"]}


def _cell(drill: str, verdicts: list[tuple[str, str, bool]], **figures: Any) -> dict[str, Any]:
    base = {"requests": 600, "client_errors": 0, "offered_rate": 20.0, "achieved_rate": 19.8, "saturated": False}
    return {"gateway": "litellm", "drill": drill, "status": "ran", "figures": base | figures,
            "verdicts": [{"check": c, "status": s, "summary": "", "expected_failure": "x" if xf else None}
                         for c, s, xf in verdicts]}


def test_verdicts_become_marks() -> None:
    assert mark_of({"status": "pass"}) == "pass"
    assert mark_of({"status": "pass", "expected_failure": "no cooldown"}) == "partial"
    assert mark_of({"status": "fail", "expected_failure": "no cooldown"}) == "not expressible"
    assert mark_of({"status": "fail"}) == "fail"
    assert mark_of({"status": "inconclusive"}) == "inconclusive"


def test_a_cell_names_its_rate_saturation_findings_and_the_gateways_own_errors() -> None:
    cell = _cell("streaming-integrity", [("streaming_integrity", "fail", False), ("accounting", "pass", False)],
                 client_errors=325, own_errors=300, own_error_statuses={"429": 300},
                 own_error_sample="No deployments available for selected model")
    row = row_from_cells([cell], LITELLM, "2026-12-03", 0.5, CHECKS, published())
    stream = row.cells[0]
    assert stream.mark == "fail" and stream.offered_rate == 20.0 and stream.saturated is False
    assert "litellm-stream-errors-are-cooldown-429s" in stream.findings
    assert "300 of them the gateway's own (300 x 429; no upstream attempt)" in stream.note
    text = scorecard_markdown([row], "test")
    assert "20 req/s offered, kept up" in text and "(findings.md#litellm-stream-errors-are-cooldown-429s)" in text


def test_overhead_is_not_quoted_from_a_saturated_gateway() -> None:
    hot = _cell("canary-split", [("canary_split", "pass", False), ("overhead", "fail", False)],
                saturated=True, overhead_p50_ms=300.0, overhead_p99_ms=900.0)
    row = row_from_cells([hot], LITELLM, "2026-12-03", 1, CHECKS, published())
    assert "queueing" in row.cells[1].note and "p99" not in row.cells[1].note
    cool = _cell("canary-split", [("overhead", "pass", False)], overhead_p50_ms=2.0, overhead_p99_ms=9.0)
    assert row_from_cells([cool], LITELLM, "d", 1, CHECKS, []).cells[0].note == "overhead p50 2 / p99 9 ms"


def test_a_drill_that_cannot_be_configured_is_not_expressible_in_every_check() -> None:
    cell = {"gateway": "nginx", "drill": "streaming-integrity", "status": "not expressible", "error": "no OpenAI"}
    build = {"gateway": "nginx", "version": "1.22.1", "install": "Debian package"}
    row = row_from_cells([cell], build, "d", 1, CHECKS, [])
    assert [(c.check, c.mark) for c in row.cells] == [("streaming_integrity", "not expressible"),
                                                     ("accounting", "not expressible")]


def test_the_history_keeps_dated_rows_and_shows_what_changed(tmp_path: Path) -> None:
    old = row_from_cells([_cell("canary-split", [("canary_split", "pass", False), ("overhead", "fail", False)])],
                         LITELLM, "2026-12-02", 1, CHECKS, [])
    new_build = LITELLM | {"version": "1.107.0"}
    new = row_from_cells([_cell("canary-split", [("overhead", "pass", False)])], new_build, "2026-12-03", 1,
                         CHECKS, [])
    path = tmp_path / "history.jsonl"
    write_history(path, add_to_history(add_to_history([], [old]), [new]))
    history = read_history(path)
    assert [r.date for r in history] == ["2026-12-02", "2026-12-03"]
    assert changes(history) == ["- **litellm** 1.106.2 (2026-12-02, scale 1) → 1.107.0 (2026-12-03, scale 1): "
                                "canary-split / overhead: fail → pass"]
    assert [r.version for r in latest_rows(history)] == ["1.106.2", "1.107.0"]
    # the same run again replaces its row instead of adding one
    assert len(add_to_history(history, [new])) == 2


def test_a_smaller_later_run_refreshes_only_its_columns() -> None:
    full = row_from_cells([_cell("canary-split", [("canary_split", "pass", False), ("overhead", "fail", False)])],
                          LITELLM, "2026-12-02", 1, CHECKS, [])
    slice_ = row_from_cells([_cell("canary-split", [("overhead", "pass", False)])], LITELLM, "2026-12-03", 0.3,
                            CHECKS, [])
    (row,) = latest_rows([full, slice_])
    marks = {c.check: (c.mark, c.date) for c in row.cells}
    assert marks == {"canary_split": ("pass", "2026-12-02"), "overhead": ("pass", "2026-12-03")}


def test_the_release_comparison_names_a_regression_between_the_two_newest_runs(tmp_path: Path) -> None:
    from gatedrill.harness.record import RunRecord
    from gatedrill.harness.runner import RunOptions, run
    from gatedrill.harness.scorecard import release_comparisons

    rows = []
    for date, seed, mutant in (("2026-12-02", 1, None), ("2026-12-03", 3, "ignore_weights")):
        path = run("canary-split", RunOptions(out=tmp_path / date, scale=0.3, seed=seed, mutant=mutant)).path
        verdicts = [{"check": "canary_split", "status": "pass", "summary": ""}]
        cell = {"drill": "canary-split", "status": "ran", "run": str(path), "verdicts": verdicts, "figures": {}}
        build = {"gateway": "reference", "version": date, "install": "gatedrill"}
        rows.append(row_from_cells([cell], build, date, 0.3, CHECKS, []))
        assert RunRecord.load(path).clients
    (line,) = release_comparisons(rows)
    assert line.startswith("- **reference** canary-split: 2026-12-02 (2026-12-02) → 2026-12-03 (2026-12-03): "
                           "regression: ") and "split share" in line
    assert release_comparisons(rows[:1]) == []


def test_a_build_that_could_not_run_gives_way_once_the_gateway_ran() -> None:
    from gatedrill.harness.scorecard import ScoreRow

    missing = ScoreRow(date="2026-12-02", gateway="litellm", version="absent", install="pip", scale=1,
                       note="not installed")
    assert [r.note for r in latest_rows([missing])] == ["not installed"]  # shown while nothing else ran
    ran = row_from_cells([_cell("canary-split", [("canary_split", "pass", False)])], LITELLM, "2026-12-03", 1,
                         CHECKS, [])
    assert [r.version for r in latest_rows([missing, ran])] == ["1.106.2"]
    assert "not run" not in scorecard_markdown([missing, ran], "test")
