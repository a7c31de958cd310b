"""The HTML drill report as text: one self-contained file (nothing fetched), the charts built from the record and
the verdicts (fault windows, timeline actions, rollback marks, canary split CIs), the continuity diff table, and
everything from the record escaped and redacted."""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from report_records import SECRET, XSS, hostile_record, rollback_run

from gatedrill.cli import main
from gatedrill.harness.checks import judge
from gatedrill.harness.record import RunRecord, TimelineEvent
from gatedrill.harness.report import JudgedRun, html_report, judge_run
from gatedrill.harness.report.html.series import latency_percentiles, percentile, traffic_per_upstream
from gatedrill.harness.scenario import SetWeights

EXTERNAL = re.compile(r"""\b(?:src|href|xlink:href)\s*=|@import|url\((?!#)|<script|<link|<iframe|<object""", re.I)
CHART_IDS = ("traffic", "errors", "latency-ttft", "latency-total", "canary-split")


def svg(html: str, chart_id: str) -> str:
    m = re.search(rf'<svg class="chart" id="{chart_id}".*?</svg>', html, re.S)
    assert m, f"no chart {chart_id}"
    return m.group(0)


def test_report_of_a_real_rollback_run(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    run_dir = rollback_run()
    result = CliRunner().invoke(main, ["report", str(run_dir), "--html", str(out), "--set",
                                       "canary_split.min_detectable=0.1"], env={"CI": "true"})
    assert result.exit_code in (0, 1), result.output  # the split is judged over a faulted canary: may fail
    html = out.read_text()
    assert not EXTERNAL.search(html), EXTERNAL.search(html)
    record = RunRecord.load(run_dir)
    header = html[html.index("<header"):html.index("</header>")]
    for fact in ("canary-rollback", "gateway reference", "seed 2", record.meta.config_hash, "outcome completed",
                 "UTC"):
        assert fact in header, fact
    for chart_id in CHART_IDS:
        chart = svg(html, chart_id)
        assert "<title>" in chart and 'class="legend"' in chart
        assert re.search(r"<path|<rect", chart)
    traffic = svg(html, "traffic")
    assert "time since load start (s)" in traffic and "attempts per second (req/s)" in traffic
    assert traffic.count('class="series"') == 2 and "canary (attempts/s)" in traffic
    assert "canary faulted (http_error 500)" in traffic
    assert "set_faults canary: canary release starts failing" in traffic
    rollback = next(v for v in judge(record) if v.check == "rollback")
    assert f"detected +{rollback.figures['detection_s']:g}s" in traffic
    assert f"recovered +{rollback.figures['recovery_s']:g}s" in traffic
    assert "client errors (% of requests)" in svg(html, "errors")
    assert "latency (ms)" in svg(html, "latency-total") and "p99" in svg(html, "latency-ttft")
    split = svg(html, "canary-split")
    assert "configured 20.0%" in split and "95% CI" in split and "share of requests served (%)" in split
    for section in ("Run", "Verdicts", "Traffic timeline", "Client errors", "Latency", "Canary split", "Rollback",
                    "Context continuity"):
        assert f"<h2>{section}</h2>" in html
    assert "context_continuity was not judged in this run" in html


def test_record_content_is_escaped_and_secrets_redacted_and_the_continuity_diff_is_shown() -> None:
    rec = hostile_record()
    html = html_report(JudgedRun(rec, judge(rec, {"context_continuity": {"min_turns": 5}})))
    assert "<script" not in html.lower() and "<img" not in html.lower()
    assert not re.search(r"<[a-z][^<>]*\bon\w+\s*=", html, re.I)  # no event-handler attribute in any real tag
    assert "&lt;script&gt;alert(&#x27;xss&#x27;)&lt;/script&gt;" in html
    assert SECRET not in html and "[redacted]" in html
    assert XSS not in html
    verdict = next(v for v in judge(rec, {"context_continuity": {"min_turns": 5}}) if v.check == "context_continuity")
    sessions = {ev["session_id"] for ev in verdict.evidence if "session_id" in ev}  # the check caps its evidence
    table = html[html.index('<table class="grid continuity">'):]
    assert f"{len(sessions)} of 8 broken sessions shown" in table
    table = table[:table.index("</table>")]
    assert table.count("<tr>") == 1 + len(sessions)  # header + one row per broken session
    assert table.count('class="minus"') == len(sessions) == table.count('class="plus"') >= 5
    assert "- expected: (&#x27;user&#x27;, &#x27;text&#x27;, &quot;turn 1 &lt;script&gt;" in table
    assert "+ received: (&#x27;user&#x27;, &#x27;text&#x27;, &quot;turn 2 &lt;script&gt;" in table


def test_traffic_series_counts_every_attempt_once() -> None:
    record = RunRecord.load(rollback_run())
    buckets, per = traffic_per_upstream(record)
    t0 = record.load_start()
    for name, values in per.items():
        counted = [e for e in record.journals[name] if e.correlation_id != "warm-up"
                   and buckets.index(e.arrival_wall - t0) is not None]
        assert round(sum(values) * buckets.width) == len(counted) > 0
    _, pcts, counts = latency_percentiles(record, "total")
    assert sum(counts) > 0.9 * len(record.clients) - 5
    assert all(p50 <= p99 for p50, p99 in zip(pcts[50], pcts[99], strict=True) if p50 is not None and p99 is not None)


def test_percentile_matches_numpy_linear() -> None:
    rng = random.Random(3)
    for n in (1, 2, 7, 100):
        xs = sorted(rng.lognormvariate(3, 1) for _ in range(n))
        for q in (50, 90, 99):
            assert abs(percentile(xs, q) - float(np.percentile(xs, q))) < 1e-9


def test_judge_run_drops_checks_this_version_lacks_and_fails_the_gate(tmp_path: Path) -> None:
    run = judge_run(rollback_run(), [])
    assert run.passed and not run.not_judged
    run.not_judged = ["future_check"]
    html = html_report(run)
    assert not run.passed and "NOT JUDGED" in html and "future_check" in html and "FAILED" in html


def test_canary_split_chart_shows_each_weight_period_with_its_interval() -> None:
    from gatedrill.harness.checks.synthetic import T0_WALL, scenario_with, split_record

    sc = scenario_with({"stable": 90, "canary": 10}, checks={"canary_split": {"min_detectable": 0.1}})
    rec = split_record(sc, {"stable": 0.9, "canary": 0.1}, 800, random.Random(1))
    rec.timeline = [TimelineEvent(action="set_weights", planned_s=10, applied_s=10, applied_wall=T0_WALL + 10,
                                  ok=True, spec=SetWeights(action="set_weights", at_s=10,
                                                           weights={"stable": 50, "canary": 50}))]
    verdicts = judge(rec)
    assert verdicts[0].status.value == "fail"  # the second period still routes 90/10
    chart = svg(html_report(JudgedRun(rec, verdicts)), "canary-split")
    rows = re.findall(r'text-anchor="end"[^>]*>([^<]*)<', chart)
    assert rows == ["canary t+0.0-10.0 s", "stable t+0.0-10.0 s", "canary t+10.0-20.0 s", "stable t+10.0-20.0 s"]
    assert "configured 10.0%" in chart and "configured 50.0%" in chart
    assert chart.count("95% CI") >= 4  # each row's tooltip names its interval
