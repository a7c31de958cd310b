"""Spec-driven fuzzing of a fake: Schemathesis generates requests from an OpenAPI document (positive: valid per
the spec; negative: invalid) and each answer is judged.

- crash: no HTTP answer at all (refused, reset); hang: no answer within the timeout;
- server_error: a 5xx (the fuzzer never injects a fault, so every 5xx is the fake's own);
- spec_violation: a 2xx whose JSON body breaks the documented schema, a valid request rejected (4xx), or an
  invalid one accepted (2xx), unless `quirks.documented_quirk` explains it.

Positive requests name a model the fake serves (a random model name only earns a 404). Generation is the slow
part (about 5 to 40 ms a case), so bulk runs split the budget across processes (`bench/fuzz.py --workers`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..gateway_suite.runner import _integral_floats_to_ints
from .quirks import documented_quirk
from .tally import Finding, FuzzTally

TIMEOUT_S = 10.0
BATCH = 50  # cases generated per Hypothesis run before moving on to the next operation and mode
CHAT_OPERATIONS = ("POST /chat/completions", "POST /responses", "POST /embeddings", "POST /v1/messages",
                   "POST /v1/messages/count_tokens", "POST /v1/chat/completions", "POST /v1/embeddings")


@dataclass
class SpecTarget:
    """One document against one fake: `base_url` is where the document's paths start."""

    name: str  # e.g. "openai-official"
    document: dict[str, Any]
    base_url: str
    headers: dict[str, str]
    models: dict[str, str]  # operation label -> a model the fake serves for it


def _operations(target: SpecTarget) -> list[Any]:
    import schemathesis
    from schemathesis.core.result import Ok

    config = schemathesis.Config.from_dict({"request-timeout": TIMEOUT_S, "max-stream-events": 100_000})
    schema = schemathesis.openapi.from_dict(target.document, config=config)
    return [r.ok() for r in schema.get_all_operations() if isinstance(r, Ok)]


def _cases(op: Any, mode: Any, seed: int, n: int) -> list[Any] | None:
    """Up to `n` cases from one Hypothesis run (fewer when the operation has little to vary); None when this
    seed reached a part of the schema Schemathesis cannot generate for (e.g. some `not`s in negative mode)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed

    out: list[Any] = []

    def keep(case: Any) -> None:
        out.append(case)

    test = settings(max_examples=n, deadline=None, database=None, phases=[Phase.generate],
                    suppress_health_check=list(HealthCheck))(given(case=op.as_strategy(generation_mode=mode))(keep))
    try:
        hseed(seed)(test)()
    except Exception as exc:  # Unsatisfiable: nothing to negate (no parameters)
        if type(exc).__name__ == "UnsupportedSchema" or "UnsupportedSchema" in repr(exc):
            return out or None
        if type(exc).__name__ != "Unsatisfiable":
            raise
    return out


def _schedule(target: SpecTarget, seed: int) -> Iterator[tuple[Any, Any, list[Any]]]:
    """Batches of cases, round robin over operations and modes, for as long as asked."""
    from schemathesis import GenerationMode

    ops = _operations(target)
    pairs = [(op, mode) for op in ops for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
    exhausted: set[int] = set()
    unsupported: dict[int, int] = {}
    round_no = 0
    while len(exhausted) < len(pairs):
        for i, (op, mode) in enumerate(pairs):
            if i in exhausted:
                continue
            cases = _cases(op, mode, seed * 1_000_003 + round_no * 7919 + i, BATCH)
            if cases is None:  # try other seeds, but not forever
                unsupported[i] = unsupported.get(i, 0) + 1
                if unsupported[i] >= 5:
                    exhausted.add(i)
                continue
            if not cases:
                exhausted.add(i)
                continue
            yield op, mode, cases
        round_no += 1


def _shown(case: Any) -> str:
    body = case.body if case.body is not None else ""
    text = json.dumps(body, default=str)[:300] if not isinstance(body, str | bytes) else repr(body)[:300]
    return f"{case.method} {case.formatted_path} {text}"


def fuzz_spec(target: SpecTarget, requests: int, seed: int, tally: FuzzTally, deadline: float | None = None) -> None:
    """Send `requests` generated cases (or until `deadline`, monotonic); findings land in `tally`."""
    import requests as http
    from schemathesis import GenerationMode
    from schemathesis.checks import CHECKS, load_all_checks
    from schemathesis.errors import FailureGroup

    load_all_checks()
    schema_checks = [CHECKS.get_one("response_schema_conformance")]
    part = f"spec:{target.name}"
    sent = 0
    session = http.Session()
    for op, mode, cases in _schedule(target, seed):
        label, positive = op.label, mode is GenerationMode.POSITIVE
        for case in cases:
            if sent >= requests or (deadline is not None and time.monotonic() > deadline):
                return
            model = target.models.get(label)
            if positive and isinstance(case.body, dict):
                # JSON Schema counts 5.0 as an integer; the APIs (and the fakes) reject it, and every SDK sends 5
                case.body = _integral_floats_to_ints(case.body)
                if model and "model" in case.body:
                    case.body = {**case.body, "model": model}
            sent += 1
            try:
                resp = case.call(base_url=target.base_url, headers=target.headers, timeout=TIMEOUT_S,
                                 session=session)
            except http.Timeout:
                tally.sent(part, "timeout")
                tally.found(Finding("hang", f"{label}: no answer within {TIMEOUT_S:g} s", _shown(case)))
                continue
            except http.RequestException as exc:
                tally.sent(part, "no answer")
                tally.found(Finding("crash", f"{label}: {type(exc).__name__}", _shown(case), str(exc)[:300]))
                session = http.Session()
                continue
            status = resp.status_code
            tally.sent(part, status)
            if status >= 500:
                tally.found(Finding("server_error", f"{label}: {status}", _shown(case), resp.text[:300]))
                continue
            problem = full = ""
            if positive and 400 <= status < 500:
                problem = f"valid request rejected ({status}): {_error_text(resp)}"
                full = f"valid request rejected ({status}): {_error_text(resp, None)}"
            elif not positive and status < 300:
                problem = "invalid request accepted"
            elif status < 300 and _content_type(resp).startswith("application/json"):
                try:
                    case.validate_response(resp, checks=schema_checks, headers=target.headers)
                except (AssertionError, FailureGroup) as exc:
                    failures = list(getattr(exc, "exceptions", [exc]))
                    problem = "response breaks the schema: " + "; ".join(
                        str(getattr(f, "title", type(f).__name__)) for f in failures)
            if problem:
                quirk = documented_quirk(target.name, label, full or problem, case.body)
                kind = "quirk" if quirk else "spec_violation"
                tally.found(Finding(kind, f"{label}: {quirk or problem}", _shown(case), resp.text[:300]))


def _content_type(resp: Any) -> str:
    value = resp.headers.get("content-type") or resp.headers.get("Content-Type") or ""
    return str(value[0] if isinstance(value, list) and value else value)


def _error_text(resp: Any, limit: int | None = 90) -> str:
    """The error's param and the start of its message: one signature per distinct rejection. Quirks are matched
    on the whole message (`limit=None`): a long generated key can push the words a quirk names past the cut."""
    try:
        err = resp.json().get("error") or {}
    except (ValueError, AttributeError):
        return resp.text[:80]
    message = str(err.get("message") or "")
    return f"{err.get('param') or '-'}: {message if limit is None else message[:limit]}"
