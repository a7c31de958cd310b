"""Who served each client request: the load's client records joined with their upstream attempts (warm-up excluded).

The gateway's claim (`x-gatedrill-upstream`, the client record's `upstream`) is taken when it names an upstream
that has a successful attempt for the request; otherwise the last successful journal attempt decides.
"""

from __future__ import annotations

from ..record import WARM_UP, ClientRecord, JournalEntry, RunRecord


def load_attempts(record: RunRecord) -> dict[str, list[JournalEntry]]:
    """Upstream attempts per correlation id, in arrival order (warm-up excluded)."""
    return {cid: a for cid, a in record.journal_by_correlation().items() if cid != WARM_UP}


def serving_attempt(client: ClientRecord, attempts: list[JournalEntry]) -> JournalEntry | None:
    """The attempt whose answer the client got: on the claimed upstream if any, else the last successful one."""
    ok = [a for a in attempts if a.ok]
    if client.upstream:
        on_claimed = [a for a in ok if a.upstream == client.upstream]
        if on_claimed:
            return on_claimed[-1]
    return ok[-1] if ok else None


def served_upstream(client: ClientRecord, attempts: list[JournalEntry]) -> str | None:
    """The upstream that served a successful client request (None for failed requests)."""
    if not (200 <= client.status < 300) or client.error_class:
        return None
    if client.upstream:
        return client.upstream
    a = serving_attempt(client, attempts)
    return None if a is None else a.upstream
