"""A game day's pieces that need no running drill: the console's forms become the scenario's own timeline actions,
the record keeps manual actions and marks (and still loads records written before they existed), the export turns
a session into a valid scenario with the actions at their times, and the report measures time to detect and to
mitigate from the marks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from click.testing import CliRunner

from gatedrill.cli import main
from gatedrill.fakes.errors import ConfigError
from gatedrill.harness.checks import Status, Verdict
from gatedrill.harness.checks.synthetic import T0_WALL, record_of
from gatedrill.harness.gameday import session_scenario, timeline_action
from gatedrill.harness.gameday.export import BY_HAND, scenario_yaml
from gatedrill.harness.record import COMPLETED, GatewayMeta, LoadSummary, RecordWriter, RunRecord, TimelineEvent
from gatedrill.harness.report import JudgedRun, html_report
from gatedrill.harness.report.incident import incident
from gatedrill.harness.scenario import Mark, Scenario, SetFaults, load_scenario
from gatedrill.scenarios import resolve

UPSTREAMS = ["stable", "canary"]


def rollback_scenario() -> Scenario:
    return load_scenario(resolve("canary-rollback"))


def event(action: Any, at: float, *, source: str = "manual", ok: bool = True) -> TimelineEvent:
    spec = action.model_copy(update={"at_s": at})
    return TimelineEvent(action=spec.action, upstream=getattr(spec, "upstream", None), note=spec.note,
                         planned_s=at, sent_s=at, applied_s=at + 0.01, applied_wall=T0_WALL + at + 0.01, ok=ok,
                         status=200 if ok else 422, detail="" if ok else "bad patch", spec=spec, source=source)


def session_record(stopped_at: float | None = None) -> RunRecord:
    """canary-rollback with its own timeline, plus by hand: 503s on the canary at 6.5 s, a declared incident at
    8.25 s, a failed patch at 9 s, a rollback mark at 10 s and a clear at 12 s."""
    sc = rollback_scenario()
    fault = timeline_action({"kind": "error_rate", "upstream": "canary", "status": 503, "probability": 0.5},
                            UPSTREAMS)
    timeline = [
        event(fault, 6.5),
        event(timeline_action({"kind": "mark", "mark": "incident_declared", "note": "pager"}, UPSTREAMS), 8.25),
        event(timeline_action({"kind": "patch", "upstream": "stable", "patch": {"seed": 3}}, UPSTREAMS), 9.0,
              ok=False),
        event(timeline_action({"kind": "mark", "mark": "rollback_started"}, UPSTREAMS), 10.0),
        event(timeline_action({"kind": "clear", "upstream": "canary"}, UPSTREAMS), 12.0),
        event(sc.timeline[0], 15.0, source="scenario"),
    ]
    rec = record_of(sc, [], {}, timeline, path=Path("/synthetic/canary-rollback-20261203-070000"))
    if stopped_at is not None:
        rec.load_summary = LoadSummary.model_validate({"stop_reason": "stopped", "ran_s": stopped_at,
                                                       "t0_wall": T0_WALL})
    return rec


def test_each_console_form_becomes_the_timeline_action_a_scenario_would_hold() -> None:
    err = timeline_action({"kind": "error_rate", "upstream": "canary", "status": 503, "probability": 0.25},
                          UPSTREAMS)
    assert isinstance(err, SetFaults) and err.upstream == "canary"
    assert err.faults[0].fault.model_dump() == {"kind": "http_error", "status": 503, "error_type": None, "code": None,
                                                "message": None, "retry_after": None}
    assert err.faults[0].when.probability == 0.25 and err.faults[0].name == "gameday-error_rate"
    limit = timeline_action({"kind": "rate_limit", "upstream": "stable", "retry_after": 2}, UPSTREAMS)
    assert isinstance(limit, SetFaults)
    assert (limit.faults[0].fault.kind, getattr(limit.faults[0].fault, "status", None)) == ("http_error", 429)
    assert limit.faults[0].when.probability is None  # 100%: every request
    kinds = {k: timeline_action({"kind": k, "upstream": "canary"}, UPSTREAMS) for k in
             ("latency", "hang", "stream_break")}
    assert {k: a.faults[0].fault.kind for k, a in kinds.items() if isinstance(a, SetFaults)} == {
        "latency": "delay", "hang": "hang", "stream_break": "reset_mid_stream"}
    mark = timeline_action({"kind": "mark", "mark": "resolved"}, UPSTREAMS)
    assert isinstance(mark, Mark) and mark.mark == "resolved"
    assert timeline_action({"kind": "weights", "weights": {"stable": 100, "canary": 0}}, UPSTREAMS).action == \
        "set_weights"


@pytest.mark.parametrize(("body", "says"), [
    ({"kind": "error_rate", "upstream": "nope"}, "unknown upstream 'nope'"),
    ({"kind": "error_rate", "upstream": "canary", "probability": 2}, "probability"),
    ({"kind": "weights", "weights": {"stable": 1, "other": 1}}, "unknown upstream 'other'"),
    ({"kind": "mark", "mark": "panic"}, "mark"),
    ({"kind": "launch"}, "kind"),
])
def test_a_bad_console_request_is_one_clear_line(body: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigError, match=says) as exc:
        timeline_action(body, UPSTREAMS)
    assert "\n" not in str(exc.value)


def test_a_record_written_before_manual_actions_existed_still_loads_as_scheduled_actions(tmp_path: Path) -> None:
    old = {"action": "set_faults", "upstream": "canary", "planned_s": 15, "applied_s": 15.01, "ok": True,
           "spec": {"at_s": 15, "action": "set_faults", "upstream": "canary",
                    "faults": [{"fault": {"kind": "http_error", "status": 500}}]}}
    ev = TimelineEvent.model_validate(orjson.loads(orjson.dumps(old)))
    assert ev.source == "scenario" and ev.mark is None
    marked = TimelineEvent.model_validate_json(event(Mark(at_s=0, action="mark", mark="resolved"), 3).model_dump_json())
    assert marked.source == "manual" and marked.mark == "resolved" and marked.describe() == "resolved"


def test_the_export_puts_each_action_taken_by_hand_at_its_time_and_leaves_out_failed_ones() -> None:
    sc = session_scenario(session_record(), "rehearsed")
    assert sc.name == "rehearsed" and sc.duration_s == rollback_scenario().duration_s
    rows = [(a.at_s, a.action, getattr(a, "upstream", None), a.note) for a in sc.timeline]
    assert rows == [(6.5, "set_faults", "canary", BY_HAND), (8.25, "mark", None, "pager"),
                    (10.0, "mark", None, BY_HAND), (12.0, "clear_faults", "canary", BY_HAND),
                    (15.0, "set_faults", "canary", "canary release starts failing"),
                    (30.0, "clear_faults", "canary", "canary fixed")]
    again = Scenario.model_validate(yaml.safe_load(scenario_yaml(sc)))
    assert again == sc  # the YAML reads back as exactly this scenario


def test_a_session_stopped_early_exports_as_a_drill_of_the_length_that_ran() -> None:
    sc = session_scenario(session_record(stopped_at=20.4))
    assert sc.duration_s == 21 and sc.name == "canary-rollback-gameday"
    assert [a.at_s for a in sc.timeline] == [6.5, 8.25, 10.0, 12.0, 15.0]  # the clear at 30 s never came due


def test_export_from_a_record_folder_validates_with_the_scenarios_command(tmp_path: Path) -> None:
    rec = session_record()
    run_dir = tmp_path / "run"
    writer = RecordWriter(run_dir, rec.scenario, 1.0, GatewayMeta(kind="reference"))
    for ev in rec.timeline:
        writer.timeline_event(ev)
    writer.write_meta(load_start_wall=T0_WALL, end_wall=T0_WALL + 45)
    writer.write_load(LoadSummary(t0_wall=T0_WALL, stop_reason="duration"))
    writer.close(COMPLETED)
    out = tmp_path / "drills" / "rehearsed.yaml"
    runner = CliRunner()
    result = runner.invoke(main, ["gameday", "--export", str(run_dir), "-o", str(out), "--name", "rehearsed"])
    assert result.exit_code == 0, result.output
    assert "4 actions taken by hand" in result.output
    valid = runner.invoke(main, ["scenarios", "validate", str(out)])
    assert valid.exit_code == 0 and "rehearsed" in valid.output, valid.output
    printed = runner.invoke(main, ["gameday", "--export", str(run_dir)])
    assert printed.exit_code == 0 and yaml.safe_load(printed.output)["name"] == "canary-rollback-gameday"
    both = runner.invoke(main, ["gameday", "canary-rollback", "--export", str(run_dir)])
    assert both.exit_code == 2 and "not both" in both.output


def test_the_report_measures_time_to_detect_and_to_mitigate_from_the_first_fault() -> None:
    rec = session_record()
    rollback = Verdict("rollback", Status.PASS, "canary taken out", figures={
        "windows": [{"span_s": [15.01, 30.0], "detection_s": 0.4}], "recovery_s": 1.5})
    run = JudgedRun(rec, [rollback])
    inc = incident(run)
    assert inc is not None and inc.upstream == "canary"
    assert inc.start_s == pytest.approx(6.51)
    assert inc.time_to_detect == pytest.approx(8.26 - 6.51) and inc.time_to_mitigate == pytest.approx(10.01 - 6.51)
    assert inc.time_to_resolve is None
    # the gateway's detection is measured in the window the rollback verdict judged, not from the first fault
    assert inc.gateway_time_to_detect == pytest.approx(0.4) and inc.gateway_recovered_s == pytest.approx(31.5)
    assert [m.who for m in inc.moments if m.who == "gateway"] == ["gateway", "gateway"]
    page = html_report(run)
    assert 'id="gameday"' in page and "time to detect" in page and "by hand" in page
    assert "set faults on canary: http_error (status=503) on 50% of requests" in page
    plain = JudgedRun(record_of(rollback_scenario(), [], {}, [event(rollback_scenario().timeline[0], 15.0,
                                                                      source="scenario")]), [])
    assert incident(plain) is None and 'id="gameday"' not in html_report(plain)
