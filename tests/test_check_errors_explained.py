"""errors_explained asks why each client request failed: an injected fault, a configured limit, a context overflow,
a gateway cooling down during a fault, or the run's end explain it; anything else is the gateway's own defect.
Synthetic records; the drills' mutant test runs it on real runs."""

from __future__ import annotations

from typing import Any

from gatedrill.harness.checks import Status, judge, parse_params
from gatedrill.harness.checks.check_errors_explained import errors_explained
from gatedrill.harness.checks.synthetic import T0_WALL, client_record, journal_entry, record_of, scenario_with
from gatedrill.harness.record import ClientRecord, JournalEntry, RunRecord, TimelineEvent

SC = scenario_with({"stable": 90, "canary": 10})


def verdict(record: RunRecord, **params: Any) -> Any:
    return errors_explained(record, parse_params("errors_explained", params))


def one(client: ClientRecord, attempts: list[JournalEntry], timeline: list[TimelineEvent] | None = None) -> Any:
    ok = [client_record(f"gd1-s{i}-t1", 1.0 + i) for i in range(5)]
    ok_j = [journal_entry(c.correlation_id, 1.0 + i, 0.05) for i, c in enumerate(ok)]
    return verdict(record_of(SC, [*ok, client], {"stable": ok_j + attempts}, timeline))


def entry(status: int, *, error: str | None = None, fault: str | None = None, duration_s: float = 0.01,
          stream: bool = False) -> JournalEntry:
    e = journal_entry("gd1-bad-t1", 10.0, duration_s, status=status, stream=stream)
    return e.model_copy(update={"error": error, "fault": fault})


def failing(cid: str = "gd1-bad-t1", t: float = 10.0, **kw: Any) -> ClientRecord:
    kw.setdefault("status", 500)
    kw.setdefault("error_class", f"http_{kw['status']}")
    return client_record(cid, t, **kw)


def test_a_run_without_failures_passes() -> None:
    v = one(client_record("gd1-x-t1", 10.0), [journal_entry("gd1-x-t1", 10.0, 0.05)])
    assert v.status is Status.PASS and v.figures["failed"] == 0


def test_an_injected_fault_explains_the_failure() -> None:
    v = one(failing(), [entry(500, fault="http_error")])
    assert v.status is Status.PASS and v.figures["injected"] == 1


def test_an_upstream_that_rejects_what_the_gateway_sent_is_a_gateway_defect() -> None:
    """The realistic bug: an assistant tool-call turn translated into empty Anthropic content, rejected with 400."""
    rejected = "messages.3: all messages must have non-empty content except for the optional final assistant message"
    v = one(failing(status=400), [entry(400, error=rejected)])
    assert v.status is Status.FAIL and v.figures["unexplained"] == 1
    (group,) = v.evidence
    assert group["cause"] == "upstream_400" and "non-empty content" in group["detail"]
    assert group["correlation_ids"] == ["gd1-bad-t1"]


def test_a_stream_cut_that_the_upstream_never_cut_is_a_gateway_defect() -> None:
    cut = failing(status=200, error_class="stream_incomplete", stream=True)
    v = one(cut, [entry(200, duration_s=0.2, stream=True)])
    assert v.status is Status.FAIL and v.evidence[0]["cause"] == "stream_incomplete"


def test_a_context_overflow_and_a_configured_rate_limit_are_explained() -> None:
    ctx = "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens."
    assert one(failing(status=400), [entry(400, error=ctx)]).status is Status.PASS
    assert one(failing(status=429), [entry(429)]).figures["rate_limited"] == 1


def test_a_gateway_refusal_is_explained_only_during_a_fault_and_its_cooldown() -> None:
    timeline = [TimelineEvent.model_validate(
                    {"action": "set_faults", "upstream": "canary", "planned_s": 5.0, "applied_wall": T0_WALL + 5.0,
                     "spec": {"at_s": 5.0, "action": "set_faults", "upstream": "canary",
                              "faults": [{"fault": {"kind": "http_error", "status": 500}}]}}),
                TimelineEvent.model_validate(
                    {"action": "clear_faults", "upstream": "canary", "planned_s": 8.0, "applied_wall": T0_WALL + 8.0,
                     "spec": {"at_s": 8.0, "action": "clear_faults", "upstream": "canary"}})]
    # the fault ends at 8 s; the scenario's cooldown is 5 s and grace 2 s: explained until 15 s
    assert one(failing(t=12.0, status=503), [], timeline).figures.get("cooling") == 1
    late = one(failing(t=16.0, status=503), [], timeline)
    assert late.status is Status.FAIL and late.evidence[0]["cause"] == "no_attempt"
    assert one(failing(t=12.0, status=503), []).status is Status.FAIL  # no fault at all


def standing(t: float, *, injected: bool = True) -> JournalEntry:
    """A failed attempt of another request at `t` s, shaped by a standing fault (no timeline window) when injected."""
    e = journal_entry(f"gd1-f{t}-t1", t, 0.2, status=529)
    return e.model_copy(update={"fault": "overloaded-mid-stream" if injected else None, "outcome": "error"})


def test_a_refusal_after_standing_faults_could_open_the_declared_breaker_is_explained() -> None:
    """streaming-integrity seed 8: three standing mid-stream faults within 10 s opened the reference gateway's breaker
    on its only upstream, and it refused two requests by itself. The declared breaker (3 failures in 10 s, 5 s
    cooldown, grace 2 s) could open at the third failure, so a refusal up to 7 s after it is explained."""
    three = [standing(3.0), standing(9.0), standing(10.0)]
    v = one(failing(t=15.0, status=503), three)
    assert v.status is Status.PASS and v.figures.get("cooling") == 1, v.summary
    assert one(failing(t=9.5, status=503), three).status is Status.FAIL  # before the third failure
    assert one(failing(t=17.5, status=503), three).status is Status.FAIL  # past cooldown and grace
    spread = [standing(1.0), standing(9.0), standing(11.5)]  # never three within 10 s
    assert one(failing(t=12.0, status=503), spread).status is Status.FAIL
    not_injected = [standing(8.0, injected=False), standing(9.0, injected=False), standing(10.0, injected=False)]
    assert one(failing(t=12.0, status=503), not_injected).status is Status.FAIL


def test_a_truncated_stream_counts_as_a_failure_and_a_delay_does_not() -> None:
    """streaming-integrity seed 17: a reset, a truncated stream (the fake calls it complete, the gateway a failure:
    no clean end) and an error event within 0.25 s opened the breaker. A delayed answer is whole: it opens nothing."""
    from gatedrill.fakes.faults import FaultRule

    def run(second: str) -> Any:
        ok_clients = [client_record(f"gd1-s{i}-t1", 1.0 + i) for i in range(5)]
        journal = [journal_entry(c.correlation_id, 1.0 + i, 0.05) for i, c in enumerate(ok_clients)]
        journal += [standing(3.0), journal_entry("gd1-tr-t1", 3.1, 0.1).model_copy(update={"fault": second}),
                    standing(3.3)]
        record = record_of(SC, [*ok_clients, failing(t=3.6, status=503)], {"stable": journal})
        record.scenario.upstreams["stable"].faults = [
            FaultRule.model_validate({"name": "truncated", "fault": {"kind": "truncate", "after_chunks": 10}}),
            FaultRule.model_validate({"name": "slow", "fault": {"kind": "delay", "ms": 200}})]
        return verdict(record)

    assert run("truncated").figures.get("cooling") == 1
    assert run("slow").status is Status.FAIL


def test_a_failed_probe_reopens_the_breaker() -> None:
    """The probe after the cooldown failed too, so the breaker is open again though three failures no longer fit in
    the window; a refusal after the next cooldown's end (plus grace) is not explained."""
    opened = [standing(1.0), standing(2.0), standing(3.0), standing(8.5), standing(15.0)]
    assert one(failing(t=19.0, status=503), opened).figures.get("cooling") == 1
    assert one(failing(t=22.5, status=503), opened).status is Status.FAIL
    late_probe = [standing(1.0), standing(2.0), standing(3.0), standing(13.0)]  # after cooldown and grace: no re-open
    assert one(failing(t=14.0, status=503), late_probe).status is Status.FAIL


def test_a_kept_alive_connection_closed_at_a_reload_is_explained_only_there() -> None:
    timeline = [TimelineEvent.model_validate(
        {"action": "set_weights", "planned_s": 9.0, "sent_s": 9.0, "applied_s": 9.5, "applied_wall": T0_WALL + 9.5,
         "spec": {"at_s": 9.0, "action": "set_weights", "weights": {"stable": 0, "canary": 100}}})]

    def closed(t: float, reused: bool = True) -> ClientRecord:
        c = failing(t=t, status=0, error_class="connection_closed")
        c.reused, c.error = reused, "ConnectionResetError: [Errno 104] Connection reset by peer"
        return c

    v = one(closed(10.0), [], timeline)
    assert v.status is Status.PASS and v.figures.get("keepalive_closed") == 1, v.summary
    assert "closed at a reload" in v.summary
    for late in (one(closed(12.0), [], timeline), one(closed(10.0), []), one(closed(10.0, reused=False), [], timeline)):
        assert late.status is Status.FAIL and late.evidence[0]["cause"] == "no_attempt"


def test_it_runs_by_default_in_every_drill_and_the_scenario_may_tolerate_some() -> None:
    rec = record_of(SC, [failing(status=404)], {"stable": [entry(404)]})
    assert "errors_explained" in rec.scenario.checks  # added to every scenario that does not list it
    (v,) = [v for v in judge(rec) if v.check == "errors_explained"]
    assert v.status is Status.FAIL
    (tolerant,) = [v for v in judge(rec, {"errors_explained": {"max_unexplained": 1}}) if v.check == "errors_explained"]
    assert tolerant.status is Status.PASS
