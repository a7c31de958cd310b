"""Who served each client request: the load's client records joined with their upstream attempts (warm-up excluded).

The gateway's claim (`x-gatedrill-upstream`, the client record's `upstream`) is taken when it names an upstream
that has a successful attempt for the request; otherwise the last successful journal attempt decides.
"""

from __future__ import annotations

from typing import Any

from ..record import RunRecord

WARM_UP = "warm-up"
EVIDENCE_CAP = 20

Attempt = dict[str, Any]


def load_clients(record: RunRecord) -> list[dict[str, Any]]:
    """Client records of the load (the runner's warm-up request excluded)."""
    return [c for c in record.clients if c.get("correlation_id") != WARM_UP]


def load_attempts(record: RunRecord) -> dict[str, list[Attempt]]:
    """Upstream attempts per correlation id, in arrival order (warm-up excluded)."""
    return {cid: a for cid, a in record.journal_by_correlation().items() if cid != WARM_UP}


def attempt_ok(a: Attempt) -> bool:
    status = a.get("status")
    return isinstance(status, int) and 200 <= status < 300 and a.get("outcome") in (None, "complete")


def serving_attempt(client: dict[str, Any], attempts: list[Attempt]) -> Attempt | None:
    """The attempt whose answer the client got: on the claimed upstream if any, else the last successful one."""
    ok = [a for a in attempts if attempt_ok(a)]
    claimed = client.get("upstream")
    if claimed:
        on_claimed = [a for a in ok if a["upstream"] == claimed]
        if on_claimed:
            return on_claimed[-1]
    return ok[-1] if ok else None


def served_upstream(client: dict[str, Any], attempts: list[Attempt]) -> str | None:
    """The upstream that served a successful client request (None for failed requests)."""
    status = client.get("status") or 0
    if not (200 <= status < 300) or client.get("error_class"):
        return None
    claimed = client.get("upstream")
    if claimed:
        return str(claimed)
    a = serving_attempt(client, attempts)
    return None if a is None else str(a["upstream"])


def capped(items: list[dict[str, Any]], cap: int = EVIDENCE_CAP) -> list[dict[str, Any]]:
    """Evidence lists stay readable: the first `cap` items, plus a note of how many were left out."""
    if len(items) <= cap:
        return items
    return [*items[:cap], {"more": len(items) - cap}]
