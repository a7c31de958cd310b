"""The JSON report: format_version, the verdicts exactly as Verdict.to_dict gives them (redacted), and the run's
figures from the record; it round-trips through json and back into Verdicts."""

from __future__ import annotations

import json
import math
from pathlib import Path

from click.testing import CliRunner
from report_records import SECRET, hostile_record, rollback_run

from gatedrill.cli import main
from gatedrill.harness.checks import Status, Verdict, judge
from gatedrill.harness.record import RunRecord
from gatedrill.harness.report import FORMAT_VERSION, JudgedRun, json_report, report_dict
from gatedrill.harness.report.redact import redact


def test_a_real_run_round_trips_with_verdicts_and_run_figures(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    run_dir = rollback_run()
    result = CliRunner().invoke(main, ["check", str(run_dir), "--json", str(out)], env={"CI": "true"})
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["format_version"] == FORMAT_VERSION and doc["gate"]["passed"] is True
    record = RunRecord.load(run_dir)
    verdicts = judge(record)
    assert [v["check"] for v in doc["verdicts"]] == ["rollback", "retry_amplification", "accounting",
                                                     "errors_explained"]
    for got, v in zip(doc["verdicts"], verdicts, strict=True):
        want = json.loads(json.dumps(redact(v.to_dict()), default=str))
        assert {k: got[k] for k in want} == want
        assert got["label"] == "PASS" and got["counts_against_gate"] is False
        back = Verdict(**{**{k: got[k] for k in want}, "status": Status(got["status"])})
        assert back.to_dict() == want
    run = doc["run"]
    clients = [c for c in record.clients if c.correlation_id != "warm-up"]
    assert run["requests"] == len(clients) and run["drill"] == "canary-rollback"
    assert run["achieved_rate"] == record.load_summary.achieved_rate and run["target_rate"] == 30.0
    accounting = next(v for v in verdicts if v.check == "accounting")
    assert sum(u["attempts"] for u in run["upstreams"].values()) == accounting.figures["upstream_attempts"]
    assert set(run["upstreams"]) == {"stable", "canary"}
    assert [e["action"] for e in run["timeline"]] == ["set_faults", "clear_faults"]
    assert run["gateway"]["kind"] == "reference" and run["outcome"] == "completed"
    assert run["seed"] == 2 and run["config_hash"] == record.meta.config_hash and run["versions"]["python"]


def test_nan_becomes_null_secrets_are_redacted_and_the_gate_is_recorded() -> None:
    rec = hostile_record()
    v = Verdict("overhead", Status.INCONCLUSIVE, "few", {"p_value": math.nan, "ci": [-math.inf, 1.0]},
                evidence=[{"headers": {"Authorization": f"Bearer {SECRET}"}, "note": f"key {SECRET}"}])
    text = json_report(JudgedRun(rec, [v]))
    assert "NaN" not in text and "Infinity" not in text and SECRET not in text
    doc = json.loads(text)
    (got,) = doc["verdicts"]
    assert got["figures"] == {"p_value": None, "ci": [None, 1.0]}
    assert got["evidence"][0]["headers"]["Authorization"] == "[redacted]"
    assert doc["gate"] == {"passed": False, "allow_inconclusive": False, "not_judged": []}
    assert got["counts_against_gate"] is True
    assert report_dict(JudgedRun(rec, [v], allow_inconclusive=True))["gate"]["passed"] is True
