"""error_mapping: upstream errors reach clients the way the OpenAI contract says. When a request's final upstream
attempt failed and nothing served it: a 429 stays a 429 with `retry-after` (never a 500); a context-length error
becomes a 400; a 5xx or Anthropic's 529 becomes a 500, 502, 503 or 504 (statuses the OpenAI API uses; 529 is not
one); and the body is OpenAI's envelope. The gateway's own 429s (nothing was tried, e.g. every upstream cooling down)
must carry `retry-after` too, or clients cannot know when to come back.

The load generator records whose envelope an error body was (`error_dialect`: openai, anthropic or other), so an
Anthropic envelope passed straight through to an OpenAI client is caught even though it has an `error.message`.
Records written before that field existed fall back to: a JSON body from which an `error.message` was read.
"""

from __future__ import annotations

import re
from typing import Any

from ..check_params import ErrorMappingParams
from ..record import ClientRecord, JournalEntry, RunRecord
from .registry import check
from .verdict import MAX_EVIDENCE, Status, Verdict, inconclusive

NAME = "error_mapping"
_CONTEXT = re.compile(r"maximum context length|prompt is too long|context_length_exceeded|context window", re.I)
OPENAI_SERVER_STATUSES = frozenset({500, 502, 503, 504})
_DIALECT = {"anthropic": "Anthropic's error envelope", "other": "not an error envelope"}


def upstream_class(a: JournalEntry) -> str | None:
    """What kind of upstream failure an attempt was: rate_limit, context, server, or None (not a mapped error)."""
    status = a.status
    if status == 429:
        return "rate_limit"
    if status == 400 and _CONTEXT.search(a.error or ""):
        return "context"
    if status is not None and status >= 500:
        return "server"
    return None


def expected_client(kind: str) -> str:
    return {"rate_limit": "429 with retry-after", "context": "400", "server": "5xx"}[kind]


def _client_ok(kind: str, c: ClientRecord, require_retry_after: bool) -> str | None:
    """Why the client's answer breaks the contract for an upstream failure of `kind`, or None when it holds."""
    status = c.status
    if kind == "rate_limit":
        if status != 429:
            return f"upstream 429 became client {status}"
        headers = c.headers
        if require_retry_after and "retry-after" not in headers and "retry-after-ms" not in headers:
            return "client 429 without retry-after"
    elif kind == "context" and status != 400:
        return f"upstream context error became client {status}"
    elif kind == "server" and status not in OPENAI_SERVER_STATUSES:
        return f"upstream {kind} error became client {status}" + (
            f" ({status} is not a status the OpenAI API uses)" if status >= 500 else "")
    return _envelope_problem(c)


def _envelope_problem(c: ClientRecord) -> str | None:
    dialect = c.error_dialect
    if dialect is not None:
        return None if dialect == "openai" else f"client {c.status} body is {_DIALECT[dialect]}, not OpenAI's envelope"
    if "json" not in c.headers.get("content-type", "") or not c.error:
        return f"client {c.status} body is not an OpenAI error envelope"
    return None


def _own_429_problem(c: ClientRecord, require_retry_after: bool) -> str | None:
    """Why the gateway's own 429 (no upstream attempt) breaks the contract, or None."""
    if require_retry_after and "retry-after" not in c.headers and "retry-after-ms" not in c.headers:
        return "the gateway's own 429 without retry-after"
    return _envelope_problem(c)


@check(NAME)
def error_mapping(record: RunRecord, params: ErrorMappingParams) -> Verdict:
    """Upstream 429 -> client 429 with retry-after, context -> 400, 5xx/529 -> 5xx or fallback; OpenAI-shaped."""
    t0 = record.load_start()
    by_cid = record.journal_by_correlation()
    judged: dict[str, int] = {"rate_limit": 0, "context": 0, "server": 0}  # "own_429" once the gateway sent one
    served = 0
    bad: list[dict[str, Any]] = []
    for c in record.load_clients():
        atts = by_cid.get(c.correlation_id, [])
        if not atts:
            if c.status == 429:
                judged["own_429"] = judged.get("own_429", 0) + 1
                why = _own_429_problem(c, params.require_retry_after)
                if why:
                    bad.append({"correlation_id": c.correlation_id, "upstream": None, "upstream_status": None,
                                "client_status": 429, "expected": "429 with retry-after", "why": why,
                                "at_s": round((c.sent_s or c.intended_s) - t0, 3)})
            continue
        final = atts[-1]
        kinds = [k for k in map(upstream_class, atts) if k]
        if not kinds:
            continue
        status = c.status
        if status == 200:
            # Served despite an upstream failure (a retry or a fallback): the contract holds. A mid-stream failure
            # behind a 200 is streaming_integrity's to judge.
            served += 1
            continue
        kind = upstream_class(final)
        if kind is None or status == 0:
            continue  # the last attempt failed another way (reset, timeout), or no HTTP answer: accounting's call
        judged[kind] += 1
        why = _client_ok(kind, c, params.require_retry_after)
        if why:
            bad.append({"correlation_id": c.correlation_id, "upstream": final.upstream,
                        "upstream_status": final.status, "client_status": status,
                        "expected": expected_client(kind), "why": why,
                        "at_s": round((c.sent_s or c.intended_s) - t0, 3)})
    n = sum(judged.values()) + served
    figures: dict[str, Any] = {"judged": judged, "violations": len(bad), "served_despite_failure": served}
    thresholds = {"require_retry_after": params.require_retry_after, "allowed_violations": 0}
    if n < max(1, params.min_errors):
        return inconclusive(NAME, f"only {n} requests met an upstream failure (need {params.min_errors})",
                            sample_size=n, **figures)
    if bad:
        whys = sorted({b["why"] for b in bad})
        return Verdict(NAME, Status.FAIL, f"{len(bad)} of {n} upstream errors mapped wrongly: {'; '.join(whys[:3])}",
                       figures, thresholds, n, bad[:MAX_EVIDENCE])
    return Verdict(NAME, Status.PASS, f"all {n} requests that met an upstream failure were served or mapped as the "
                   "contract says", figures, thresholds, n, [])
