"""The keep-alive race at a gateway reload, told apart from the gateway's other failures.

A gateway that reloads gracefully retires its old worker, and the old worker closes the kept-alive client connections
it no longer serves: nginx after the response in flight (which already said `Connection: keep-alive`), uvicorn
(LiteLLM under gunicorn) at once for every connection between requests. A client that sends its next request on such
a connection just before the close reaches it loses that request: the connection ends (FIN or RST) before any byte of
a response, and the gateway never forwarded it. HTTP/1.1 allows a server to close an idle persistent connection at
any time (RFC 9112 section 9.5) and leaves the retry to the client, which must not repeat a POST on its own unless it
knows it was not processed (section 9.3.1): clients that retry on a stale kept-alive connection (curl, the official
OpenAI and Anthropic SDKs) never see it; a client that does not, does.

Such a request is recognised by its record alone (`lost_to_keepalive_close`); it is counted as the reload's only
within `reload_windows`, the seconds from just before a weight change was sent to just after it was applied.
"""

from __future__ import annotations

from ..record import ClientRecord, JournalEntry, RunRecord
from .weight_periods import weight_changes

CAUSE = "keepalive_closed"


def lost_to_keepalive_close(client: ClientRecord, attempts: list[JournalEntry]) -> bool:
    """Sent on a reused kept-alive connection that ended before any response, and never forwarded upstream."""
    return (client.reused and client.status == 0 and client.error_class == "connection_closed"
            and not attempts)


def reload_windows(record: RunRecord, margin_s: float) -> list[tuple[float, float]]:
    """(start, end) epoch seconds per applied weight change: from `margin_s` before it was sent (requests already
    queued on a connection are closed with it) to `margin_s` after it was applied (the old worker drains)."""
    t0 = record.load_start()
    out = []
    for ev in weight_changes(record):
        sent = t0 + ev.sent_s if ev.sent_s is not None else ev.applied_at(t0)
        out.append((sent - margin_s, ev.applied_at(t0) + margin_s))
    return out


def at_a_reload(client: ClientRecord, windows: list[tuple[float, float]]) -> bool:
    sent = client.sent_s or client.intended_s
    return any(start <= sent < end for start, end in windows)
