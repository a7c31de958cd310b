"""streaming_integrity compares each client stream with the fake's journalled reply: synthetic records pin each rule;
a real streaming-integrity run passes with the reference gateway and fails with the `lose_stream_tail` mutant."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatedrill.harness.checks import REGISTRY, Status, parse_params
from gatedrill.harness.checks.check_streaming_integrity import first_difference
from gatedrill.harness.checks.synthetic import partial_record, shuffle_record
from gatedrill.harness.record import ReplyChoice, ReplyRecord, RunRecord
from gatedrill.harness.runner import RunOptions, run
from gatedrill.harness.scenario import load_scenario
from gatedrill.scenarios import resolve

T0 = 1000.0
SCENARIO = load_scenario(resolve("streaming-integrity"))
WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()


def synthetic(n: int = 40, seed: int = 0, broken_every: int = 10) -> RunRecord:
    """n streams through `primary`; every `broken_every`-th is reset mid-stream upstream and fails at the client."""
    rng = random.Random(seed)
    clients: list[dict[str, Any]] = []
    journal: list[dict[str, Any]] = []
    for i in range(n):
        cid = f"s{i}-t1"
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 30)))
        broken = broken_every > 0 and i % broken_every == broken_every - 1
        journal.append({"correlation_id": cid, "arrival_wall": T0 + i, "status": 200, "stream": True,
                        "outcome": "reset" if broken else "complete",
                        "fault": "reset-mid-stream" if broken else None,
                        "reply": {"choices": [{"text": text, "finish": "end_turn", "chunks": 30}], "digest": "d"}})
        got = text[: len(text) // 2] if broken else text
        clients.append({"correlation_id": cid, "session_id": f"s{i}", "turn": 1, "stream": True,
                        "sent_s": T0 + i, "intended_s": T0 + i, "status": 200,
                        "error_class": "stream_error" if broken else None, "finished_cleanly": not broken,
                        "finish_reason": None if broken else "stop", "text": got})
    meta = {"load_start_wall": T0, "end_wall": T0 + n}
    return partial_record(meta, SCENARIO, [], clients, {"primary": journal})


def judge(record: RunRecord, **params: Any) -> Any:
    return REGISTRY["streaming_integrity"].fn(record, parse_params("streaming_integrity", params))


def test_exact_streams_and_reported_breaks_pass() -> None:
    v = judge(synthetic())
    assert v.status is Status.PASS, v.summary
    assert v.figures["whole_ok"] == 36 and v.figures["broken_reported"] == 4
    assert v.sample_size == 40


def test_a_changed_character_fails_with_lengths_and_first_difference() -> None:
    r = synthetic()
    c = r.clients[3]
    c.text = c.text[:4] + "X" + c.text[5:]
    v = judge(r)
    assert v.status is Status.FAIL
    assert v.figures["altered_text"] == 1
    ev = v.evidence[0]
    assert ev["correlation_id"] == "s3-t1" and ev["first_difference"] == 4
    assert ev["expected_len"] == ev["got_len"]


def test_a_lost_tail_passed_off_as_clean_fails() -> None:
    r = synthetic()
    c = r.clients[0]
    full = c.text
    c.text = full[:-3]
    v = judge(r)
    assert v.status is Status.FAIL
    assert v.evidence[0]["first_difference"] == len(full) - 3
    assert (v.evidence[0]["expected_len"], v.evidence[0]["got_len"]) == (len(full), len(full) - 3)
    assert v.evidence[0]["defects"] == ["lost_tail"]


def test_a_good_upstream_stream_reaching_the_client_unterminated_fails() -> None:
    r = synthetic()
    c = r.clients[5]
    c.finished_cleanly, c.finish_reason, c.error_class = False, None, "stream_incomplete"
    v = judge(r)
    assert v.status is Status.FAIL
    assert v.figures["missing_finish_reason"] == 1 and v.figures["missing_terminator"] == 1
    assert v.evidence[0]["correlation_id"] == "s5-t1"


@pytest.mark.parametrize(("outcome", "fault"), [("reset", None), ("closed_early", None),
                                                ("complete", "truncated"), ("complete", "overloaded-mid-stream")])
def test_an_upstream_break_delivered_as_a_clean_reply_fails(outcome: str, fault: str | None) -> None:
    r = synthetic(broken_every=0)
    r.journals["primary"][7].outcome, r.journals["primary"][7].fault = outcome, fault
    v = judge(r)
    assert v.status is Status.FAIL, v.summary
    assert v.figures["upstream_error_not_surfaced"] == 1
    assert v.evidence[0]["correlation_id"] == "s7-t1"


def test_a_200_whose_only_message_is_an_error_relayed_as_an_error_passes() -> None:
    """An upstream that answers 200 and then only its error event (error_only_stream, journalled as `error_event`)
    broke the stream: the client getting that error is right (Portkey's relay was judged 'error at client')."""
    r = synthetic(broken_every=0)
    r.journals["primary"][6].outcome, r.journals["primary"][6].fault = "error_event", "error_only_stream"
    c = r.clients[6]
    c.text, c.finished_cleanly, c.finish_reason, c.error_class = "", False, None, "stream_error"
    v = judge(r)
    assert v.status is Status.PASS, v.summary
    assert v.figures["broken_reported"] == 1


def test_a_fault_that_never_fired_is_not_a_break() -> None:
    r = synthetic(broken_every=0)
    r.journals["primary"][7].fault = "truncated"  # after_chunks 10
    r.journals["primary"][7].reply.choices[0].chunks = 4
    assert judge(r).status is Status.PASS


def test_the_serving_attempt_is_the_last_200() -> None:
    r = synthetic(broken_every=0)
    first = r.journals["primary"][2].model_copy(update={
        "arrival_wall": T0 + 1.5, "outcome": "reset", "fault": "reset-mid-stream",
        "reply": ReplyRecord(choices=[ReplyChoice(text="other", finish=None, chunks=30)], digest="d")})
    r.journals["primary"].append(first)
    assert judge(r).status is Status.PASS


def test_a_clean_reply_without_any_upstream_stream_fails() -> None:
    r = synthetic(broken_every=0)
    r.journals["primary"][4].status = 529
    v = judge(r)
    assert v.status is Status.FAIL
    assert v.figures["reply_never_produced"] == 1


def test_without_streams_it_is_inconclusive() -> None:
    r = synthetic()
    for c in r.clients:
        c.stream = False
    assert judge(r).status is Status.INCONCLUSIVE
    assert judge(synthetic(n=5)).status is Status.INCONCLUSIVE


@given(st.text(max_size=20), st.text(max_size=20))
def test_first_difference_is_where_the_texts_part(a: str, b: str) -> None:
    i = first_difference(a, b)
    if a == b:
        assert i is None
    else:
        assert i is not None and a[:i] == b[:i]
        assert i == min(len(a), len(b)) or a[i] != b[i]


@given(st.integers(0, 10_000))
def test_shuffling_records_does_not_change_the_verdict(seed: int) -> None:
    r = synthetic(seed=seed)
    r.clients[1].text += "!"
    before = judge(r)
    shuffle_record(r, seed)
    after = judge(r)
    assert (before.status, before.figures) == (after.status, after.figures)


@pytest.mark.parametrize(("mutant", "expected"), [(None, Status.PASS), ("lose_stream_tail", Status.FAIL)])
def test_real_streaming_integrity_run(tmp_path: Path, mutant: str | None, expected: Status) -> None:
    # Scale 0.15: 4.5 s of all-streaming load at 20/s, ~10% of upstream streams broken mid-way.
    out = run("streaming-integrity", RunOptions(scale=0.15, mutant=mutant, out=tmp_path / "run"))
    v = judge(RunRecord.load(out.path))
    assert v.status is expected, (v.summary, v.figures)
    if mutant:
        assert v.figures["missing_finish_reason"] > 0 and v.figures["lost_tail"] > 0
