"""context_continuity: does every later turn of a conversation reach its upstream with the whole history the client
sent (system prompt, user and assistant turns, tool calls and results), unaltered, whichever provider serves it?

For each client request with turn > 1 (warm-up excluded) the serving attempt is its last journal entry with status
200. The client's `sent_digest` (`fakes.conversation.digest` of the messages it sent) must equal the digest the fake
computed for what it received (`reply.digest`; recomputed from the journalled body when the reply has none).

The client record holds only the digest and the message count, not the history itself. On a mismatch the evidence
rebuilds the atoms the upstream received (by that upstream's provider dialect) and compares them with the atoms
received for the latest earlier turn of the same session that did arrive intact: a conversation only grows, so that
turn is a prefix of this one, and the first atom that breaks the prefix is named. It also reports the received atom
count and the turn they amount to against the client's turn.
"""

from __future__ import annotations

from typing import Any

from gatedrill.fakes.conversation import Atom, anthropic_atoms, digest, openai_atoms, turn_of

from ..check_params import ContextContinuityParams
from ..record import ClientRecord, JournalEntry, RunRecord
from .registry import check
from .served import load_attempts
from .verdict import Status, Verdict, capped, inconclusive

NAME = "context_continuity"
PAYLOAD_CHARS = 80



def received_atoms(record: RunRecord, entry: JournalEntry) -> list[Atom] | None:
    """The conversation an upstream received, as atoms in its provider's dialect; None if the body is unusable."""
    body = entry.body  # the wire's own JSON
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return None
    spec = record.scenario.upstreams.get(entry.upstream)
    provider = spec.provider if spec is not None else entry.fake
    try:
        if provider == "anthropic" or entry.endpoint == "messages":
            return anthropic_atoms(body.get("system"), body["messages"])
        return openai_atoms(body["messages"])
    except (KeyError, TypeError, AttributeError):
        return None


def canonical(atom: Atom) -> tuple[Any, ...]:
    """An atom as the digest sees it: tool-call and tool-result ids left out (providers rename them)."""
    role, kind, payload = atom
    if kind == "tool_call":
        return role, kind, payload[1], payload[2]
    if kind == "tool_result":
        return role, kind, payload[1]
    return role, kind, payload


def first_break(reference: list[Atom], got: list[Atom]) -> int | None:
    """The first index where `got` stops extending `reference` (None when `reference` is a prefix of `got`)."""
    for i, ref in enumerate(reference):
        if i >= len(got) or canonical(ref) != canonical(got[i]):
            return i
    return None


def _show(atom: Atom | None) -> str | None:
    if atom is None:
        return None
    text = repr(canonical(atom))
    return text if len(text) <= PAYLOAD_CHARS else text[: PAYLOAD_CHARS - 1] + "…"


def got_digest(entry: JournalEntry, atoms: list[Atom] | None) -> str | None:
    if entry.reply is not None and entry.reply.digest:
        return entry.reply.digest
    return digest(atoms) if atoms is not None else None


@check(NAME)
def context_continuity(record: RunRecord, params: ContextContinuityParams) -> Verdict:
    """Later turns reach their upstream with the client's exact history (digests match), across provider switches."""
    clients = record.load_clients()
    attempts = load_attempts(record)
    sessions: dict[str, list[ClientRecord]] = {}
    for c in clients:
        sessions.setdefault(c.session_id, []).append(c)
    if not any(c.turn > 1 for c in clients):
        return inconclusive(NAME, "no multi-turn sessions in the record (no client request with turn > 1)")

    judged, matched, unserved, switched = 0, 0, 0, 0
    bad_sessions: set[str] = set()
    evidence: list[dict[str, Any]] = []
    for sid in sorted(sessions):
        turns = sorted(sessions[sid], key=lambda c: (c.turn, c.sent_s or 0.0))
        intact: list[Atom] | None = None  # atoms received for the latest turn that arrived intact
        last_upstream: str | None = None
        for c in turns:
            served = [a for a in attempts.get(c.correlation_id, []) if a.status == 200]
            if not served:
                if c.turn > 1:
                    unserved += 1
                continue
            entry = served[-1]
            atoms = received_atoms(record, entry)
            got = got_digest(entry, atoms)
            expected = c.sent_digest
            ok = bool(expected) and got == expected
            if c.turn > 1:
                judged += 1
                switched += int(last_upstream is not None and entry.upstream != last_upstream)
                if ok:
                    matched += 1
                else:
                    bad_sessions.add(sid)
                    row: dict[str, Any] = {
                        "session_id": sid, "turn": c.turn, "correlation_id": c.correlation_id,
                        "upstream": entry.upstream, "previous_upstream": last_upstream,
                        "expected_digest": expected, "got_digest": got,
                        "client_messages": c.messages,
                        "atoms_received": None if atoms is None else len(atoms),
                        "turn_received": None if atoms is None else turn_of(atoms)}
                    if atoms is not None and intact is not None:
                        i = first_break(intact, atoms)
                        row["first_differing_atom"] = (
                            {"index": len(intact), "note": "earlier turn intact as a prefix; the difference is later"}
                            if i is None else
                            {"index": i, "expected": _show(intact[i]), "got": _show(atoms[i] if i < len(atoms)
                                                                                   else None)})
                    evidence.append(row)
            if ok and atoms is not None:
                intact = atoms
            last_upstream = entry.upstream

    if judged < params.min_turns:
        return inconclusive(NAME, f"only {judged} later turns reached an upstream (need {params.min_turns})",
                            sample_size=judged, unserved_turns=unserved)
    mismatched = judged - matched
    figures = {"later_turns": judged, "matched": matched, "mismatched": mismatched,
               "mismatch_rate": round(mismatched / judged, 5), "sessions": len(sessions),
               "multi_turn_sessions": sum(1 for s in sessions.values() if any(c.turn > 1 for c in s)),
               "sessions_broken": len(bad_sessions), "upstream_switches": switched, "unserved_turns": unserved}
    thresholds = {"max_mismatches": 0, "min_turns": params.min_turns}
    if mismatched:
        summary = (f"{mismatched}/{judged} later turns reached the upstream with a different history "
                   f"({len(bad_sessions)} sessions)")
        return Verdict(NAME, Status.FAIL, summary, figures, thresholds, judged, capped(evidence))
    summary = f"all {judged} later turns arrived with the client's exact history ({switched} upstream switches)"
    return Verdict(NAME, Status.PASS, summary, figures, thresholds, judged, [])
