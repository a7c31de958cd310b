"""context_continuity compares each later turn's client digest with what the fake received: synthetic sessions that
alternate providers pin the rules and the evidence; a real context-continuity run passes with the reference gateway
and fails with the `drop_history_on_switch` mutant."""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatedrill.fakes.conversation import digest, openai_atoms
from gatedrill.harness.checks import REGISTRY, Status, parse_params
from gatedrill.harness.checks.check_context_continuity import first_break
from gatedrill.harness.checks.synthetic import partial_record
from gatedrill.harness.record import RunRecord
from gatedrill.harness.runner import RunOptions, run
from gatedrill.harness.scenario import load_scenario
from gatedrill.scenarios import resolve

T0 = 1000.0
SCENARIO = load_scenario(resolve("context-continuity"))  # upstreams: openai (openai), anthropic (anthropic)
SYSTEM = "You are a careful travel agent."
WORDS = "sea sky road town hill lake farm city port bay".split()


def body_for(upstream: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    if upstream == "openai":
        return {"model": "gpt-4o-mini", "messages": [{"role": "system", "content": SYSTEM}, *messages]}
    return {"model": "claude-haiku-4-5", "system": SYSTEM, "messages": messages}


def synthetic(sessions: int = 6, turns: int = 4, seed: int = 0, drop_on_switch: bool = False) -> RunRecord:
    """Sessions whose turns alternate between the two upstreams at random; `drop_on_switch`: a turn that moves to
    the other upstream gets only the last user message (what the mutant does)."""
    rng = random.Random(seed)
    clients: list[dict[str, Any]] = []
    journals: dict[str, list[dict[str, Any]]] = {"openai": [], "anthropic": []}
    t = 0.0
    for s in range(sessions):
        history: list[dict[str, Any]] = []
        last = None
        for turn in range(1, turns + 1):
            t += 0.1
            history.append({"role": "user", "content": " ".join(rng.choice(WORDS) for _ in range(6))})
            up = rng.choice(["openai", "anthropic"])
            sent = [{"role": "system", "content": SYSTEM}, *history]
            sent_digest = digest(openai_atoms(sent))
            got = history[-1:] if drop_on_switch and last is not None and up != last else history
            received = body_for(up, copy.deepcopy(got))
            atoms = openai_atoms([{"role": "system", "content": SYSTEM}, *got])
            cid = f"s{s}-t{turn}"
            journals[up].append({"correlation_id": cid, "arrival_wall": T0 + t, "status": 200, "outcome": "complete",
                                 "body": received, "reply": {"choices": [{"text": "ok"}], "digest": digest(atoms)}})
            clients.append({"correlation_id": cid, "session_id": f"s{s}", "turn": turn, "sent_s": T0 + t,
                            "status": 200, "error_class": None, "sent_digest": sent_digest, "messages": len(sent)})
            history.append({"role": "assistant", "content": f"reply {s}.{turn}"})
            last = up
    meta = {"load_start_wall": T0, "end_wall": T0 + t + 1}
    return partial_record(meta, SCENARIO, [], clients, journals)


def judge(record: RunRecord, **params: Any) -> Any:
    return REGISTRY["context_continuity"].fn(record, parse_params("context_continuity", params))


def test_intact_histories_across_providers_pass() -> None:
    v = judge(synthetic())
    assert v.status is Status.PASS, v.summary
    assert v.figures["later_turns"] == 18 and v.figures["mismatched"] == 0
    assert v.figures["upstream_switches"] > 0


def test_dropped_history_fails_naming_session_turn_and_first_differing_atom() -> None:
    v = judge(synthetic(drop_on_switch=True))
    assert v.status is Status.FAIL
    assert v.figures["mismatched"] > 0
    ev = v.evidence[0]
    assert {"session_id", "turn", "upstream", "expected_digest", "got_digest"} <= ev.keys()
    assert ev["expected_digest"] != ev["got_digest"]
    assert ev["upstream"] != ev["previous_upstream"]
    assert ev["turn_received"] == 1 and ev["turn"] > 1 and ev["atoms_received"] == 2
    assert ev["first_differing_atom"]["index"] == 1  # the system prompt survived, the first user turn did not


def test_an_altered_assistant_turn_is_caught_even_without_a_switch() -> None:
    r = synthetic(sessions=4)
    entry = next(e for es in r.journals.values() for e in es if e.correlation_id == "s0-t3")
    msgs = entry.body["messages"]
    asst = next(m for m in msgs if m["role"] == "assistant")
    asst["content"] = "something else"
    atoms = openai_atoms([{"role": "system", "content": SYSTEM}, *msgs])
    entry.reply.digest = digest(atoms)
    v = judge(r)
    assert v.status is Status.FAIL
    assert [(e["session_id"], e["turn"]) for e in v.evidence] == [("s0", 3)]
    assert "something else" in v.evidence[0]["first_differing_atom"]["got"]


def test_the_digest_is_recomputed_from_the_body_when_the_reply_has_none() -> None:
    r = synthetic()
    for es in r.journals.values():
        for e in es:
            e.reply = None
    assert judge(r).status is Status.PASS
    bad = synthetic(drop_on_switch=True)
    for es in bad.journals.values():
        for e in es:
            e.reply = None
    assert judge(bad).status is Status.FAIL


def test_single_turn_traffic_or_too_few_turns_is_inconclusive() -> None:
    assert judge(synthetic(turns=1)).status is Status.INCONCLUSIVE
    assert judge(synthetic(sessions=1, turns=3)).status is Status.INCONCLUSIVE


def test_first_break_finds_where_a_conversation_stops_growing() -> None:
    a = [("system", "text", "s"), ("user", "text", "u1"), ("assistant", "text", "a1")]
    assert first_break(a, [*a, ("user", "text", "u2")]) is None
    assert first_break(a, [a[0], ("user", "text", "u2")]) == 1
    assert first_break(a, a[:2]) == 2
    call = ("assistant", "tool_call", ("id1", "f", {"x": 1}))
    assert first_break([call], [("assistant", "tool_call", ("other-id", "f", {"x": 1}))]) is None


@given(st.integers(0, 10_000), st.booleans())
def test_shuffling_records_does_not_change_the_verdict(seed: int, drop: bool) -> None:
    r = synthetic(seed=seed, drop_on_switch=drop)
    before = judge(r)
    rng = random.Random(seed)
    rng.shuffle(r.clients)
    for es in r.journals.values():
        rng.shuffle(es)
    after = judge(r)
    assert (before.status, before.figures) == (after.status, after.figures)


@pytest.mark.parametrize(("mutant", "expected"), [(None, Status.PASS), ("drop_history_on_switch", Status.FAIL)])
def test_real_context_continuity_run(tmp_path: Path, mutant: str | None, expected: Status) -> None:
    # Scale 0.15: 6 s of 5-turn sessions at 6 sessions/s, turns routed 50/50 across OpenAI and Anthropic.
    out = run("context-continuity", RunOptions(scale=0.15, mutant=mutant, out=tmp_path / "run"))
    v = judge(RunRecord.load(out.path))
    assert v.status is expected, (v.summary, v.figures)
