"""cutover judges the seconds around each weight flip against the rest of the same run: synthetic blue-green records
(flips at 12 s and 28 s, 3-turn sessions, half of them streams that run across a flip) pin each rule."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gatedrill.harness.checks import REGISTRY, Status, Verdict, parse_params
from gatedrill.harness.checks.synthetic import T0_WALL, client_record, journal_entry, record_of
from gatedrill.harness.record import ClientRecord, JournalEntry, ReplyChoice, ReplyRecord, RunRecord, TimelineEvent
from gatedrill.harness.scenario import load_scenario
from gatedrill.scenarios import resolve

SC = load_scenario(resolve("blue-green"))
FLIPS = {12.0: {"blue": 0.0, "green": 100.0}, 28.0: {"blue": 100.0, "green": 0.0}}
TEXT = "witness fake=x turn=1 digest=abc atoms=3 and some more words to stream"
CLOSED = "ConnectionResetError: connection closed before any response"
GAP = (0.5, 2.0)  # the check's default gap: 0.5 s before a flip, 2 s after


@dataclass
class Recipe:
    rate: float = 10.0  # sessions per second
    duration_s: float = 40.0
    gap_error_share: float = 0.0  # share of requests in a gap that fail with a 500
    gap_extra_ms: float = 0.0  # added to every request sent in a gap
    crossing: str = "complete"  # what streams in flight at a flip do: complete | corrupt | lose_tail | fail_one
    history_broken: bool = False  # the first turn after a flip arrives with another history
    flips: bool = True
    seed: int = 3
    closed_in_gap: int = 0  # requests in a gap sent on a kept-alive connection the gateway closed (never forwarded)
    closed_reused: bool = True  # False: the closed connection was a fresh one


def in_gap(t: float) -> bool:
    return any(f - GAP[0] <= t < f + GAP[1] for f in FLIPS)


def side_at(t: float) -> str:
    return "green" if 12.0 <= t < 28.0 else "blue"


def build(r: Recipe) -> RunRecord:
    rng = random.Random(r.seed)
    clients: list[ClientRecord] = []
    journals: dict[str, list[JournalEntry]] = {"blue": [], "green": []}
    failed_one = False
    closed = 0
    sessions = int((r.duration_s - 2.5) * r.rate)  # the last turns end before the run does
    for i in range(sessions):
        start = i / r.rate
        crossed = False
        for turn in (1, 2, 3):
            t = start + (turn - 1) * 1.2 + rng.uniform(0, 0.05)
            cid, sid = f"gd1-s{i}-t{turn}", f"gd1-s{i}"
            stream = (i + turn) % 2 == 0
            service = 0.6 + rng.uniform(0, 0.2) if stream else 0.08 + rng.expovariate(40)
            service += r.gap_extra_ms / 1000 if in_gap(t) else 0.0
            u = side_at(t)
            fails = in_gap(t) and rng.random() < r.gap_error_share
            c = client_record(cid, t, session=sid, turn=turn, upstream=u, stream=stream, service_s=service,
                              ttft_s=0.03 + rng.expovariate(50) + (r.gap_extra_ms / 1000 if in_gap(t) else 0.0)
                              if stream else None,
                              status=500 if fails else 200)
            c.sent_digest = f"d-{cid}"
            digest = c.sent_digest
            first_after = turn > 1 and not crossed and any(start <= f <= t for f in FLIPS)
            if first_after:
                crossed = True
                if r.history_broken:
                    digest = "d-other"
            c.text, c.finish_reason, c.done = ("", None, False) if fails else (TEXT, "stop", True)
            if stream and not fails and any(t < f < t + service for f in FLIPS):
                if r.crossing == "corrupt":
                    c.text = TEXT[:12] + TEXT  # the new side's reply spliced after the old one's start
                elif r.crossing == "lose_tail":
                    c.text = TEXT[:20]
                elif r.crossing == "fail_one" and not failed_one:
                    failed_one = True
                    c.text, c.finish_reason, c.done = TEXT[:20], None, False
                    c.error_class, c.finished_cleanly = "stream_error", False
            e = journal_entry(cid, t + 0.001, service - 0.002, status=500 if fails else 200, stream=stream,
                              session=sid)
            e.reply = None if fails else ReplyRecord(choices=[ReplyChoice(text=TEXT, finish="stop", chunks=12)],
                                                     digest=digest)
            e.turn = turn
            if not stream and in_gap(t) and closed < r.closed_in_gap:
                closed += 1
                c.status, c.error_class, c.reused = 0, "connection_closed", r.closed_reused
                c.error, c.text, c.finish_reason, c.finished_cleanly = CLOSED, "", None, False
                clients.append(c)
                continue
            clients.append(c)
            journals[u].append(e)
    timeline = [TimelineEvent.model_validate(
        {"action": "set_weights", "ok": True, "planned_s": f, "applied_s": f, "applied_wall": T0_WALL + f,
         "spec": {"action": "set_weights", "at_s": f, "weights": w}}) for f, w in FLIPS.items()] if r.flips else []
    return record_of(SC, clients, journals, timeline)


def judge(record: RunRecord, **params: Any) -> Verdict:
    return REGISTRY["cutover"].fn(record, parse_params("cutover", params))


def test_a_clean_cutover_passes_with_its_figures() -> None:
    v = judge(build(Recipe()))
    assert v.status is Status.PASS, v.summary
    f = v.figures
    assert [flip["at_s"] for flip in f["flips"]] == [12.0, 28.0]
    assert f["gap_requests"] >= 100 and f["rest_requests"] > 5 * f["gap_requests"]
    assert f["streams_in_flight"] >= 10 and f["streams_completed"] == f["streams_in_flight"]
    assert f["sessions_across"] >= 10 and f["sessions_broken"] == 0
    assert f["latency"]["result"] == "pass" and f["errors"]["result"] == "pass"


def test_errors_around_the_flips_fail() -> None:
    v = judge(build(Recipe(gap_error_share=0.2)))
    assert v.status is Status.FAIL
    assert "client error rate" in v.summary
    assert v.figures["errors"]["p_value"] < 1e-3
    assert v.evidence[0]["what"] == "errors around the flips"


def test_a_small_significant_error_increase_within_the_allowed_margin_passes() -> None:
    v = judge(build(Recipe(gap_error_share=0.2)), max_error_increase=0.5)
    assert v.figures["errors"]["result"] == "pass"


def test_requests_lost_to_the_keepalive_race_of_a_reload_are_counted_apart_within_the_tolerance() -> None:
    v = judge(build(Recipe(closed_in_gap=4)))
    assert v.status is Status.PASS, v.summary
    assert v.figures["keepalive_closed"] == 4 and v.figures["gap_errors"] == 0
    assert "4 more requests around the flips were sent on kept-alive connections the gateway closed" in v.summary
    one = judge(build(Recipe(closed_in_gap=1)))
    assert "1 more request around the flips was sent on a kept-alive connection the gateway closed" in one.summary
    assert sum(f["keepalive_closed"] for f in v.figures["flips"]) == 4


def test_more_keepalive_closes_than_the_tolerance_fail() -> None:
    v = judge(build(Recipe(closed_in_gap=60)))
    assert v.status is Status.FAIL
    assert "kept-alive connections the gateway closed at its reload" in v.summary
    assert v.figures["keepalive_closed_share"] > 0.05
    assert judge(build(Recipe(closed_in_gap=60)), max_keepalive_closed=0.5).status is Status.PASS


def test_a_fresh_connection_closed_before_any_response_is_an_error_not_the_race() -> None:
    v = judge(build(Recipe(closed_in_gap=20, closed_reused=False)))
    assert v.status is Status.FAIL and v.figures["keepalive_closed"] == 0
    assert "client error rate" in v.summary


def test_the_gap_spans_a_slow_reload_from_sent_to_applied() -> None:
    record = build(Recipe())
    slow = [ev.model_copy(update={"sent_s": ev.planned_s - 3.0}) for ev in record.timeline]
    v = judge(dataclasses.replace(record, timeline=slow))
    assert v.figures["gap_requests"] > judge(record).figures["gap_requests"] + 40
    assert [f["sent_s"] for f in v.figures["flips"]] == [9.0, 25.0]


def test_too_few_requests_is_inconclusive_even_when_they_failed() -> None:
    v = judge(build(Recipe(rate=0.5, gap_error_share=0.5)))
    assert v.status is Status.INCONCLUSIVE, v.summary
    assert v.figures["gap_requests"] < 30 and "needed on each side" in v.summary


def test_slower_flips_fail_on_latency_and_not_when_latency_is_not_judged() -> None:
    slow = build(Recipe(gap_extra_ms=300))
    v = judge(slow)
    assert v.status is Status.FAIL and "slower around the flips" in v.summary
    assert v.figures["latency"]["reply"]["rank_biserial"] > 0.3
    assert v.figures["latency"]["stream_ttft"]["result"] == "fail"  # each series judged on its own
    assert judge(slow, max_latency_effect=None).status is Status.PASS


def test_a_tiny_latency_shift_is_below_the_effect_gate() -> None:
    v = judge(build(Recipe(gap_extra_ms=1)))
    assert v.figures["latency"]["result"] == "pass", v.figures["latency"]


def test_a_stream_spliced_at_a_flip_is_corrupted() -> None:
    v = judge(build(Recipe(crossing="corrupt")))
    assert v.status is Status.FAIL and "streams in flight at a flip were corrupted" in v.summary
    assert v.figures["streams_corrupted"] == v.figures["streams_in_flight"]
    bad = [e for e in v.evidence if e.get("what") == "stream corrupted at a flip"]
    assert bad and all(set(e["defects"]) & {"duplicated_chunk", "altered_text"} for e in bad)


def test_a_stream_that_ends_clean_without_its_tail_is_corrupted() -> None:
    v = judge(build(Recipe(crossing="lose_tail")))
    assert v.status is Status.FAIL
    assert any("lost_tail" in e.get("defects", []) for e in v.evidence)


def test_a_stream_that_fails_cleanly_at_a_flip_is_not_corrupted() -> None:
    v = judge(build(Recipe(crossing="fail_one")))
    assert v.status is Status.PASS, v.summary
    assert v.figures["streams_failed_cleanly"] == 1 and v.figures["streams_corrupted"] == 0


def test_a_session_that_loses_its_history_across_a_flip_fails() -> None:
    v = judge(build(Recipe(history_broken=True)))
    assert v.status is Status.FAIL and "lost their history across a flip" in v.summary
    assert v.figures["sessions_broken"] == v.figures["sessions_across"] > 0


def test_without_a_weight_change_there_is_nothing_to_judge() -> None:
    v = judge(build(Recipe(flips=False)))
    assert v.status is Status.INCONCLUSIVE and "no weight change" in v.summary


def test_too_few_streams_in_flight_is_inconclusive() -> None:
    v = judge(build(Recipe()), min_streams=1000)
    assert v.status is Status.INCONCLUSIVE and "streams in flight at a flip" in v.summary


def strained_host(a: float, b: float, duration: float = 40.0) -> list[dict[str, Any]]:
    """Host samples (harness.host) with every core busy and five runnable processes from `a` to `b` s."""
    quiet = {"fakes": 0.1, "gateway": 0.2, "generator": 0.1}
    return [{"mono": 1000 + t / 4, "wall": T0_WALL + t / 4, "dt": 0.25, "cores": 2,
             "busy": 2.0 if a <= t / 4 < b else 0.5, "running": 5 if a <= t / 4 < b else 1, "load1": 1.0,
             "procs": quiet} for t in range(int(duration * 4))]


def cutover_on_strained_host(tmp_path: Path, recipe: Recipe) -> Verdict:
    from gatedrill.harness.checks import judge as judge_run

    record = dataclasses.replace(build(recipe), path=tmp_path, host=strained_host(11.0, 14.5))
    return next(v for v in judge_run(record) if v.check == "cutover")


def test_latency_around_a_flip_on_a_strained_host_is_inconclusive(tmp_path: Path) -> None:
    v = cutover_on_strained_host(tmp_path, Recipe(gap_extra_ms=300))
    assert v.status is Status.INCONCLUSIVE
    assert v.summary.startswith("the host was saturated")
    assert v.figures["finding_on_strained_host"]["status"] == "fail"


def test_corrupted_streams_on_a_strained_host_still_fail(tmp_path: Path) -> None:
    v = cutover_on_strained_host(tmp_path, Recipe(gap_extra_ms=300, crossing="corrupt"))
    assert v.status is Status.FAIL
    assert "fails even judged without its latency comparison" in v.summary
