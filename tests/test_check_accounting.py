"""accounting reconciles the client records with the fakes' journals: one final answer per request, and no orphaned,
lost or duplicated upstream calls beyond what retries explain. Synthetic records."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gatedrill.harness.checks import Status, parse_params
from gatedrill.harness.checks.check_accounting import accounting
from gatedrill.harness.checks.synthetic import (
    client_record,
    journal_entry,
    record_of,
    scenario_with,
    shuffle_record,
    split_record,
)
from gatedrill.harness.record import ClientRecord, JournalEntry, RunRecord

SC = scenario_with({"stable": 90, "canary": 10})


def judge(record: RunRecord, **params: Any) -> Any:
    return accounting(record, parse_params("accounting", params))


def kinds(v: Any) -> set[str]:
    return {e["kind"] for e in v.evidence if "kind" in e}


def healthy(n: int = 200, seed: int = 1) -> RunRecord:
    return split_record(SC, {"stable": 0.9, "canary": 0.1}, n, random.Random(seed))


def test_a_clean_run_reconciles() -> None:
    v = judge(healthy())
    assert v.status is Status.PASS, v.summary
    assert v.figures["upstream_attempts"] == 200 and v.figures["attempts_per_request"] == 1.0
    assert v.sample_size == 200


def test_a_retry_after_a_failure_is_explained() -> None:
    c = client_record("gd1-s0-t1", 0.0, upstream="stable", attempts=2, service_s=0.5)
    j = [journal_entry("gd1-s0-t1", 0.01, 0.05, status=500), journal_entry("gd1-s0-t1", 0.2, 0.1)]
    assert judge(record_of(SC, [c], {"stable": j})).status is Status.PASS


def test_a_retry_after_a_failure_is_explained_without_the_attempts_header() -> None:
    c = client_record("gd1-s0-t1", 0.0, upstream="stable", attempts=None, service_s=0.5)
    j = [journal_entry("gd1-s0-t1", 0.01, 0.05, status=500), journal_entry("gd1-s0-t1", 0.2, 0.1)]
    assert judge(record_of(SC, [c], {"stable": j})).status is Status.PASS


def test_more_attempts_than_the_gateway_reports_are_duplicates() -> None:
    c = client_record("gd1-s0-t1", 0.0, upstream="stable", attempts=1)
    j = [journal_entry("gd1-s0-t1", 0.01, 0.05, status=500), journal_entry("gd1-s0-t1", 0.07, 0.02)]
    v = judge(record_of(SC, [c], {"stable": j}))
    assert v.status is Status.FAIL and kinds(v) == {"duplicate"}
    assert v.evidence[0]["request"] == "gd1-s0-t1" and v.evidence[0]["extra_attempts"] == 1


def test_a_parallel_attempt_is_a_duplicate_when_the_gateway_does_not_say_its_count() -> None:
    c = client_record("gd1-s0-t1", 0.0, upstream="stable", attempts=None)
    j = [journal_entry("gd1-s0-t1", 0.01, 0.05, status=500), journal_entry("gd1-s0-t1", 0.02, 0.05)]
    assert kinds(judge(record_of(SC, [c], {"stable": j}))) == {"duplicate"}


def test_an_upstream_call_with_no_client_record_is_an_orphan() -> None:
    rec = healthy()
    rec.journals["canary"].append(journal_entry("gd1-ghost-t1", 1.0, 0.05))
    v = judge(rec)
    assert v.status is Status.FAIL and kinds(v) == {"orphan"}
    assert v.evidence[0]["request"] == "gd1-ghost-t1"


def test_uncorrelated_upstream_calls_are_orphans_unless_allowed() -> None:
    rec = healthy()
    probe = journal_entry("x", 1.0, 0.05)
    probe.correlation_id = None
    rec.journals["stable"].append(probe)
    assert kinds(judge(rec)) == {"orphan"}
    assert judge(rec, allow_uncorrelated=True).status is Status.PASS


def test_the_warm_up_request_is_ignored() -> None:
    rec = healthy()
    rec.journals["stable"].append(journal_entry("warm-up", 0.0, 0.05))
    assert judge(rec).status is Status.PASS


def test_a_2xx_from_a_claimed_upstream_that_never_saw_the_request_is_lost() -> None:
    rec = healthy()
    cid = rec.clients[0].correlation_id
    for entries in rec.journals.values():
        entries[:] = [e for e in entries if e.correlation_id != cid]
    v = judge(rec)
    assert v.status is Status.FAIL and kinds(v) == {"lost"}


def test_a_2xx_without_upstream_claim_or_attempt_is_reported_not_failed() -> None:
    rec = record_of(SC, [client_record("gd1-s0-t1", 0.0, upstream=None, attempts=None)], {})
    v = judge(rec)
    assert v.status is Status.PASS and v.figures["unsourced_2xx"] == 1


def test_requests_without_a_final_answer_fail() -> None:
    rec = healthy(20)
    rec.clients[3].status = 0
    rec.clients[3].error_class = None
    rec.load_summary.started_arrivals = 22  # two requests started but left no record
    v = judge(rec)
    assert v.status is Status.FAIL and kinds(v) == {"unanswered"}
    assert v.figures["unanswered"] == 3


def test_two_records_for_one_request_fail() -> None:
    rec = healthy(20)
    rec.clients.append(dataclasses.replace(rec.clients[0]))
    rec.load_summary.started_arrivals = 21
    assert kinds(judge(rec)) == {"double_answer"}


def test_a_client_error_with_no_upstream_call_is_accounted_for() -> None:
    c = client_record("gd1-s0-t1", 0.0, upstream=None, status=503, attempts=0)
    assert judge(record_of(SC, [c], {})).status is Status.PASS


def test_no_client_records_is_inconclusive() -> None:
    assert judge(record_of(SC, [], {})).status is Status.INCONCLUSIVE


# -- property: a duplicated upstream call is always caught -----------------------------------------------------------


def _retried_record(n: int, seed: int, header: bool) -> RunRecord:
    """Requests with 1-3 attempts each (all but the last failed, each after the previous ended)."""
    rng = random.Random(seed)
    clients: list[ClientRecord] = []
    journals: dict[str, list[JournalEntry]] = {"stable": [], "canary": []}
    for i in range(n):
        cid, t, u = f"gd1-s{i}-t1", i * 0.05, rng.choice(["stable", "canary"])
        tries = rng.choice([1, 1, 1, 2, 3])
        at = t + 0.001
        for k in range(tries):
            journals[u].append(journal_entry(cid, at, 0.01, status=200 if k == tries - 1 else 503))
            at += 0.02
        clients.append(client_record(cid, t, upstream=u, attempts=tries if header else None, service_s=at - t))
    return record_of(SC, clients, journals)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 40), seed=st.integers(0, 10_000), pick=st.integers(0, 10_000), header=st.booleans(),
       delay=st.floats(0.0, 0.5))
def test_adding_a_duplicated_upstream_call_is_always_caught(n: int, seed: int, pick: int, header: bool,
                                                            delay: float) -> None:
    rec = _retried_record(n, seed, header)
    assert judge(rec).status is Status.PASS
    entries = [(u, e) for u, es in rec.journals.items() for e in es]
    ok = [(u, e) for u, e in entries if e.status == 200]
    # with the attempts header any copy is countable; without it, only a copy of the successful call
    upstream, original = (entries if header else ok)[pick % len(entries if header else ok)]
    dup = original.model_copy(deep=True)
    for k in ("arrival_wall", "arrival_mono", "first_byte_mono", "last_byte_mono", "first_byte_wall",
              "last_byte_wall"):
        setattr(dup, k, getattr(dup, k) + delay)
    rec.journals[upstream].append(dup)
    v = judge(rec)
    assert v.status is Status.FAIL and "duplicate" in kinds(v)
    assert any(e.get("request") == original.correlation_id for e in v.evidence)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), shuffle_seed=st.integers(0, 10_000))
def test_shuffling_records_does_not_change_the_verdict(seed: int, shuffle_seed: int) -> None:
    rec = _retried_record(30, seed, header=False)
    rec.journals["stable"].append(journal_entry("gd1-ghost-t1", 0.3, 0.01))
    before = judge(rec)
    shuffle_record(rec, shuffle_seed)
    after = judge(rec)
    assert (after.status, after.figures) == (before.status, before.figures)
