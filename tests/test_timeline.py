"""The fault timeline sends each action on time, in order, and changes what the fakes do from then on."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from pydantic import TypeAdapter

from gatedrill.fakes import FakeServer
from gatedrill.harness.record import TimelineEvent
from gatedrill.harness.scenario import TimelineAction
from gatedrill.harness.timeline import TimelineRunner

ACTIONS: TypeAdapter[list[TimelineAction]] = TypeAdapter(list[TimelineAction])
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def test_actions_are_sent_on_plan_and_take_effect() -> None:
    actions = ACTIONS.validate_python([
        {"at_s": 0.3, "action": "set_faults", "upstream": "a",
         "faults": [{"fault": {"kind": "http_error", "status": 503}}]},
        {"at_s": 0.7, "action": "clear_faults", "upstream": "a"},
        {"at_s": 0.9, "action": "patch", "upstream": "a", "patch": {"latency": {"ttft_ms": 150}}},
        {"at_s": 1.0, "action": "set_weights", "weights": {"a": 1}},
    ])
    events: list[TimelineEvent] = []
    with FakeServer(provider="openai", name="a") as srv, httpx.Client(
            base_url=srv.url, headers={"authorization": "Bearer k"}) as c:
        runner = TimelineRunner(actions, {"a": srv.url}, None, events.append)
        t0 = time.monotonic()
        runner.start(t0, time.time())
        control = _control_lateness(t0, [a.at_s for a in actions[:3]])
        statuses = []
        while time.monotonic() - t0 < 1.2:
            start = time.monotonic() - t0
            status = c.post("/v1/chat/completions", json=CHAT).status_code
            statuses.append((start, time.monotonic() - t0, status))
            time.sleep(0.02)
        runner.stop()
        t = time.monotonic()
        c.post("/v1/chat/completions", json=CHAT)
        assert time.monotonic() - t >= 0.14  # the patch applied
    assert [e.action for e in events] == ["set_faults", "clear_faults", "patch", "set_weights"]
    for e in events[:3]:
        assert e.ok, e
        assert e.applied_s >= e.sent_s, e
    # the runner's own lateness (a thread waking on a timer), judged against a same-run control thread waking at
    # the same planned times: a busy machine delays both alike. The control round trip after it is recorded in
    # applied_s, which a loaded machine stretches, so effects below are judged against the recorded times
    for e, late in zip(events[:3], control, strict=True):
        assert 0 <= e.sent_s - e.planned_s < late + 0.25, (e, late)
    assert not events[3].ok and "not expressible" in events[3].detail
    faulted, cleared, patched = events[0], events[1], events[2]
    during = [s for start, end, s in statuses if start > faulted.applied_s and end < cleared.sent_s]
    outside = [s for start, end, s in statuses
               if end < faulted.sent_s or (start > cleared.applied_s and end < patched.sent_s)]
    assert during and set(during) == {503}
    assert outside and set(outside) == {200}


def _control_lateness(t0: float, at_s: list[float]) -> list[float]:
    """How late a bare thread wakes at each planned time: the machine's own scheduling delay in this run."""
    lateness: list[float] = []

    def wake() -> None:
        for at in at_s:
            threading.Event().wait(max(0.0, t0 + at - time.monotonic()))
            lateness.append(time.monotonic() - t0 - at)

    threading.Thread(target=wake, daemon=True).start()
    return lateness  # filled as the times pass


def test_stop_cancels_actions_not_yet_due() -> None:
    actions = ACTIONS.validate_python([{"at_s": 5, "action": "clear_faults", "upstream": "a"}])
    events: list[TimelineEvent] = []
    runner = TimelineRunner(actions, {"a": "http://127.0.0.1:9"}, None, events.append)
    runner.start(time.monotonic(), time.time())
    t = time.monotonic()
    runner.stop()
    assert time.monotonic() - t < 1 and events == []


def test_a_set_weights_goes_to_the_gateways_changer_with_the_weights_accumulated() -> None:
    """A switch the load generator makes (Portkey): the event's sent time is when the first request carried it; a
    switch no request carries is recorded as not applied."""
    from gatedrill.harness.gateways.weights import LoadSwitchWeights

    actions = ACTIONS.validate_python([{"at_s": 0.1, "action": "set_weights", "weights": {"canary": 50}},
                                       {"at_s": 0.2, "action": "set_weights", "weights": {"stable": 0}}])
    changer = LoadSwitchWeights("x-portkey-config", wait_s=0.5)
    seen: list[tuple[dict[str, float], dict[str, float]]] = []
    original = changer.set_weights

    def spy(update: dict[str, float], weights: dict[str, float]):  # type: ignore[no-untyped-def]
        seen.append((update, weights))
        return original(update, weights)

    changer.set_weights = spy  # type: ignore[method-assign]
    events: list[TimelineEvent] = []
    runner = TimelineRunner(actions, {}, changer, events.append, initial={"stable": 90, "canary": 10})
    t0 = time.monotonic()
    runner.start(t0, 1000.0)
    time.sleep(0.15)
    changer.switched(0, t0 + 0.13)  # the load generator's word: its first request with switch 0 left at 0.13 s
    time.sleep(1.0)
    runner.stop()
    assert seen == [({"canary": 50}, {"stable": 90, "canary": 50}), ({"stable": 0}, {"stable": 0, "canary": 50})]
    first, second = events
    assert first.ok and abs(first.sent_s - 0.13) < 1e-6 and first.mechanism == changer.mechanism
    assert first.applied_wall is not None and first.applied_wall >= 1000.13
    assert not second.ok and "no request carried the new x-portkey-config" in second.detail


def test_an_action_taken_by_hand_goes_through_the_same_control_call_and_is_recorded_as_manual() -> None:
    from gatedrill.fakes.errors import ConfigError
    from gatedrill.harness.gameday import timeline_action

    events: list[TimelineEvent] = []
    seen: list[TimelineEvent] = []
    with FakeServer(provider="openai", name="a") as srv, httpx.Client(
            base_url=srv.url, headers={"authorization": "Bearer k"}) as c:
        runner = TimelineRunner([], {"a": srv.url}, None, events.append)
        runner.watch(seen.append)
        fault = timeline_action({"kind": "error_rate", "upstream": "a", "status": 502}, ["a"])
        with pytest.raises(ConfigError, match="not running"):  # before the load's start
            runner.submit(fault)
        t0 = time.monotonic()
        runner.start(t0, time.time())
        time.sleep(0.2)
        event = runner.submit(fault)
        assert c.post("/v1/chat/completions", json=CHAT).status_code == 502
        mark = runner.submit(timeline_action({"kind": "mark", "mark": "incident_declared"}, ["a"]))
        runner.stop()
        with pytest.raises(ConfigError, match="not running"):  # after the end
            runner.submit(timeline_action({"kind": "clear", "upstream": "a"}, ["a"]))
        assert c.post("/v1/chat/completions", json=CHAT).status_code == 502  # the refused clear changed nothing
    assert events == seen == [event, mark]
    assert event.source == "manual" and event.ok and event.status == 200
    assert 0.2 <= event.planned_s <= event.sent_s <= event.applied_s < 1.0
    assert event.spec is not None and event.spec.at_s == event.planned_s  # exported at the time it was pressed
    assert mark.ok and mark.mark == "incident_declared" and mark.status == 0 and mark.source == "manual"
