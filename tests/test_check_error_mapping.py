"""error_mapping: an upstream 429 stays a 429 with retry-after, a context error becomes a 400, a 5xx/529 becomes a
5xx or is served by a fallback, and the body is an OpenAI error envelope. A real rate-limit storm (made harsher so
that retries run out) passes with the reference gateway and fails with the `rate_limit_to_500` mutant."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatedrill.harness.checks import REGISTRY, Status, parse_params
from gatedrill.harness.checks.synthetic import partial_record
from gatedrill.harness.record import RunRecord
from gatedrill.harness.runner import RunOptions, run
from gatedrill.harness.scenario import Scenario, load_scenario
from gatedrill.scenarios import resolve

T0 = 1000.0
SCENARIO = load_scenario(resolve("rate-limit-storm"))
JSON = {"content-type": "application/json"}
CONTEXT = "This model's maximum context length is 4096 tokens. However, your messages resulted in 5000 tokens."


Case = tuple[Any, int, dict[str, str], Any]


def record(cases: list[Case]) -> RunRecord:
    """cases: (upstream attempts as (status, error), client status, client headers, client error message)."""
    clients, entries = [], []
    for i, (atts, status, headers, error) in enumerate(cases):
        cid = f"c{i}"
        clients.append({"correlation_id": cid, "intended_s": T0 + i, "sent_s": T0 + i, "status": status,
                        "error_class": None if status == 200 else f"http_{status}", "headers": headers,
                        "error": error})
        for k, (st_, err) in enumerate(atts):
            entries.append({"correlation_id": cid, "arrival_wall": T0 + i + k * 0.01, "status": st_, "error": err})
    return partial_record({"load_start_wall": T0}, SCENARIO, [], clients, {"primary": entries})


def judge(rec: RunRecord, **params: Any) -> Any:
    return REGISTRY["error_mapping"].fn(rec, parse_params("error_mapping", params))


LIMITED = [(429, "Rate limit reached"), (429, "Rate limit reached")]
GOOD_429: Case = (LIMITED, 429, {**JSON, "retry-after": "1"}, "Rate limit reached")


def test_a_429_kept_with_retry_after_and_a_served_retry_pass() -> None:
    v = judge(record([GOOD_429, ([(429, "x"), (200, None)], 200, JSON, None)]))
    assert v.status is Status.PASS, v.summary
    assert v.figures["judged"]["rate_limit"] == 1 and v.figures["served_despite_failure"] == 1


def test_a_429_turned_into_a_500_fails_with_the_request_as_evidence() -> None:
    v = judge(record([GOOD_429, (LIMITED, 500, JSON, "internal error")]))
    assert v.status is Status.FAIL
    assert v.evidence == [{"correlation_id": "c1", "upstream": "primary", "upstream_status": 429,
                           "client_status": 500, "expected": "429 with retry-after",
                           "why": "upstream 429 became client 500", "at_s": 1.0}]


def test_a_429_without_retry_after_fails() -> None:
    assert judge(record([(LIMITED, 429, JSON, "slow down")])).status is Status.FAIL
    assert judge(record([(LIMITED, 429, JSON, "slow down")]), require_retry_after=False).status is Status.PASS


def test_a_context_error_must_become_a_400() -> None:
    assert judge(record([([(400, CONTEXT)], 400, JSON, CONTEXT)])).status is Status.PASS
    v = judge(record([([(400, CONTEXT)], 502, JSON, "bad gateway")]))
    assert v.status is Status.FAIL and v.evidence[0]["expected"] == "400"


def test_server_errors_become_5xx_and_529_counts_as_one() -> None:
    assert judge(record([([(529, "Overloaded")], 503, JSON, "Overloaded")])).status is Status.PASS
    assert judge(record([([(500, "boom")], 400, JSON, "boom")])).status is Status.FAIL


def test_a_body_that_is_not_an_openai_envelope_fails() -> None:
    v = judge(record([(LIMITED, 429, {"content-type": "text/plain", "retry-after": "1"}, "Too Many Requests")]))
    assert v.status is Status.FAIL
    assert "envelope" in v.evidence[0]["why"]


def test_no_upstream_failure_is_inconclusive() -> None:
    assert judge(record([([(200, None)], 200, JSON, None)])).status is Status.INCONCLUSIVE


@given(st.lists(st.sampled_from(["good", "served", "to500", "ctx"]), min_size=1, max_size=30), st.randoms())
def test_the_verdict_fails_exactly_when_some_mapping_is_wrong_whatever_the_order(kinds: list[str],
                                                                                 rnd: random.Random) -> None:
    table: dict[str, Case] = {"good": GOOD_429, "served": ([(500, "x"), (200, None)], 200, JSON, None),
             "to500": (LIMITED, 500, JSON, "oops"), "ctx": ([(400, CONTEXT)], 400, JSON, CONTEXT)}
    rec = record([table[k] for k in kinds])
    rnd.shuffle(rec.clients)
    v = judge(rec)
    assert (v.status is Status.FAIL) == ("to500" in kinds)
    assert v.figures["violations"] == kinds.count("to500")


def harsh_storm() -> Scenario:
    """rate-limit-storm at scale 0.2 with 90% of requests limited and a retry-after (3 s) longer than the gateway
    may wait (2 s): it gives up at once, so clients see the 429s."""
    data = SCENARIO.scaled(0.2).model_dump(mode="json")
    for action in data["timeline"]:  # the primary's storm and the backup's
        for rule in action.get("faults") or []:
            rule["when"]["probability"] = 0.9
            rule["fault"]["retry_after"] = 3.0
    return Scenario.model_validate(data)


@pytest.mark.parametrize(("mutant", "expected"), [(None, Status.PASS), ("rate_limit_to_500", Status.FAIL)])
def test_real_rate_limit_storm_run(tmp_path: Path, mutant: str | None, expected: Status) -> None:
    out = run(harsh_storm(), RunOptions(mutant=mutant, out=tmp_path / "run"))
    v = judge(RunRecord.load(out.path))
    assert v.status is expected, (v.summary, v.figures)
    assert v.figures["judged"]["rate_limit"] > 0


def _with_dialect(rec: RunRecord, dialect: str) -> RunRecord:
    for c in rec.clients:
        if c.status != 200:
            c.error_dialect = dialect
    return rec


def test_an_anthropic_envelope_or_status_529_passed_to_an_openai_client_fails() -> None:
    """The gateway relayed Anthropic's overloaded error as it was: an OpenAI SDK reads neither the body nor 529."""
    overloaded = [(529, "Overloaded")]
    relayed = judge(_with_dialect(record([(overloaded, 529, JSON, "Overloaded")]), "anthropic"))
    assert relayed.status is Status.FAIL
    (why,) = {e["why"] for e in relayed.evidence}
    assert why == "client 529 body is Anthropic's error envelope, not OpenAI's" or "529 is not a status" in why
    assert "529 is not a status the OpenAI API uses" in relayed.summary
    mapped = judge(_with_dialect(record([(overloaded, 503, JSON, "Overloaded")]), "openai"))
    assert mapped.status is Status.PASS, mapped.summary
    envelope = judge(_with_dialect(record([(overloaded, 503, JSON, "Overloaded")]), "anthropic"))
    assert envelope.status is Status.FAIL and "Anthropic's error envelope" in envelope.summary


def test_the_gateways_own_429_must_say_when_to_come_back() -> None:
    """Every upstream cooling down: the gateway answers 429 itself (no attempt); without retry-after clients guess."""
    own_ok: Case = ([], 429, {**JSON, "retry-after": "2"}, "All upstreams are rate limited")
    own_bad: Case = ([], 429, JSON, "All upstreams are rate limited")
    assert judge(_with_dialect(record([GOOD_429, own_ok]), "openai")).status is Status.PASS
    bad = judge(_with_dialect(record([GOOD_429, own_bad]), "openai"))
    assert bad.status is Status.FAIL and bad.figures["judged"]["own_429"] == 1
    assert [e["why"] for e in bad.evidence] == ["the gateway's own 429 without retry-after"]
