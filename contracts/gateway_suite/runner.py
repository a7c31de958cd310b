"""Runs the gateway contract suite: Schemathesis over contracts/openapi/gateway.yaml (positive and negative cases per
operation, the built-in checks plus ours), then the probes (429 passthrough, stateful conversations).

Generation is bounded (`max_examples` per operation and mode) and so is the whole run (`budget_s`: once spent,
remaining examples are skipped and shrinking stops). Each distinct failure is kept once, as the smallest failing
request Hypothesis found, rendered as a curl line with credentials redacted.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from gatedrill.fakes import make_marker
from gatedrill.fakes.errors import GatedrillError

from ..documents import document
from .checks import one_upstream_call_per_request, openai_error_envelope, sse_stream_conformance, stream_reassembly
from .probes import (
    broken_stream_surfaces,
    context_window_respected,
    conversation_continuity,
    rate_limit_passthrough,
)
from .results import Finding, Part, SuiteResult
from .target import SuiteTarget

BUILTIN_CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
                  "response_schema_conformance", "negative_data_rejection", "positive_data_acceptance")
PARTS = ("positive", "negative", "rate_limit", "broken_stream", "context_window", "stateful")
REQUEST_TIMEOUT_S = 15.0
SENSITIVE_MARKERS = ["authorization", "api-key", "api_key", "apikey", "secret", "password", "passwd", "credential",
                     "cookie"]


@dataclass
class SuiteOptions:
    max_examples: int = 25  # per operation and generation mode
    budget_s: float = 75.0  # the whole run; shrinking and remaining examples stop when it is spent
    sessions: int = 6  # stateful conversations
    turns: int = 3
    seed: int = 0
    parts: tuple[str, ...] = PARTS
    stop: threading.Event | None = None  # set (e.g. by a signal handler) to end the run at the next request


def _check_stop(opts: SuiteOptions) -> None:
    """A KeyboardInterrupt raised by a signal handler can land where Python ignores it (a gc callback); the event
    makes the next request raise it again, from ordinary code."""
    if opts.stop is not None and opts.stop.is_set():
        raise KeyboardInterrupt


def served_model(target: SuiteTarget, client: httpx.Client) -> str:
    """The first model GET /v1/models lists: the only model name generated requests may use."""
    try:
        r = client.get(target.url + "/v1/models", headers=target.headers)
        models = [m["id"] for m in r.json()["data"]]
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise GatedrillError(f"the gateway at {target.url} did not list its models on GET /v1/models "
                             f"({type(exc).__name__}: {exc}); the suite needs one model name to send") from None
    if not models:
        raise GatedrillError(f"the gateway at {target.url} lists no models on GET /v1/models")
    return str(models[0])


def contract_documents(model: str) -> dict[str, dict[str, Any]]:
    """(positive, negative) views of the gateway document with `model` pinned; the negative view swaps each request
    body for its `x-gatedrill-reject` schema, what a gateway must reject by itself."""
    doc = document("gateway")
    schemas = doc["components"]["schemas"]
    for name in ("GatewayChatRequest", "GatewayEmbeddingRequest", "ChatRequestEnvelope", "EmbeddingRequestEnvelope"):
        schemas[name]["properties"]["model"] = {"const": model}
    negative = copy.deepcopy(doc)
    for item in negative["paths"].values():
        for op in item.values():
            media = ((op.get("requestBody") or {}).get("content") or {}).get("application/json")
            if media and "x-gatedrill-reject" in media:
                media["schema"] = media["x-gatedrill-reject"]
    return {"positive": doc, "negative": negative}


def _integral_floats_to_ints(value: Any) -> Any:
    """JSON Schema counts 5.0 as an integer; OpenAI (and the fakes) reject it, and every SDK sends 5."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral_floats_to_ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral_floats_to_ints(v) for v in value]
    return value


def _schemathesis_parts(target: SuiteTarget, model: str, opts: SuiteOptions, deadline: float) -> list[Part]:
    import schemathesis
    from schemathesis import GenerationMode
    from schemathesis.checks import CHECKS, load_all_checks
    from schemathesis.core.result import Ok

    load_all_checks()
    checks = [CHECKS.get_one(name) for name in BUILTIN_CHECKS]
    checks += [openai_error_envelope, sse_stream_conformance, stream_reassembly(target),
               one_upstream_call_per_request(target)]
    config = schemathesis.Config.from_dict({
        "max-stream-events": 100_000, "request-timeout": REQUEST_TIMEOUT_S,
        # credentials stay redacted in curl lines, but `max_tokens` is a parameter, not a secret
        "output": {"sanitization": {"sensitive-markers": SENSITIVE_MARKERS}},
    })
    parts: list[Part] = []
    counter = iter(range(1, 10**9))
    for mode_name, doc in contract_documents(model).items():
        if mode_name not in opts.parts:
            continue
        schema = schemathesis.openapi.from_dict(doc, config=config)
        for result in schema.get_all_operations():
            if not isinstance(result, Ok):
                raise GatedrillError(f"contracts/openapi/gateway.yaml has an invalid operation: {result.err()}")
            op = result.ok()
            part = Part(f"{op.label} [{mode_name}]")
            if op.label in target.skip_operations:
                part.skipped = f"{target.name} does not serve {op.label}"
            else:
                _run_operation(part, op, GenerationMode(mode_name), checks, target, opts, deadline, counter)
            parts.append(part)
    return parts


def _run_operation(part: Part, op: Any, mode: Any, checks: list[Any], target: SuiteTarget, opts: SuiteOptions,
                   deadline: float, counter: Any) -> None:
    """Hypothesis drives Schemathesis cases for one operation and mode; distinct failures land in `part`."""
    import requests
    from hypothesis import HealthCheck, Phase, given, seed, settings
    from schemathesis import GenerationMode
    from schemathesis.errors import FailureGroup

    found: dict[tuple[str, ...], Finding] = {}
    positive = mode is GenerationMode.POSITIVE
    t0 = time.monotonic()

    def run_case(case: Any) -> None:
        _check_stop(opts)
        if time.monotonic() > deadline:
            return  # the budget is spent: pass quietly, which also ends shrinking
        cid = f"contract-{opts.seed}-{next(counter)}"
        if positive and isinstance(case.body, dict):
            # the marker in `user` joins the fakes' journal when a gateway drops our headers (LiteLLM does)
            case.body = {**_integral_floats_to_ints(case.body), "user": make_marker(cid)}
        headers = {**target.headers, "x-gatedrill-correlation-id": cid}
        try:
            response = case.call(base_url=target.url, headers=headers, timeout=REQUEST_TIMEOUT_S)
        except requests.RequestException as exc:  # no answer (refused, reset, timed out) is a finding too
            message = f"no HTTP answer: {type(exc).__name__}: {exc}"
            found[("no answer",)] = Finding(part.name, ["no answer"], message,
                                            case.as_curl_command(headers=headers, base_url=target.url))
            raise AssertionError(message) from None
        part.cases += 1
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except (AssertionError, FailureGroup) as exc:
            failures = list(getattr(exc, "exceptions", [exc]))
            names = sorted({str(getattr(f, "title", type(f).__name__)) for f in failures})
            message = "\n".join(f"{getattr(f, 'title', 'check failed')}: {getattr(f, 'message', f)}".strip()
                                 for f in failures)
            message += f"\n[{response.status_code}] {response.content[:300].decode(errors='replace')}"
            # later failures of the same kind are Hypothesis' shrunk, smaller requests: keep the last
            found[tuple(names)] = Finding(part.name, names, message,
                                          case.as_curl_command(headers=headers, base_url=target.url))
            raise AssertionError(message) from None  # an Exception, so Hypothesis shrinks it

    test = given(case=op.as_strategy(generation_mode=mode))(run_case)
    phases = [Phase.explicit, Phase.generate, Phase.shrink]
    test = settings(max_examples=opts.max_examples, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck), phases=phases)(test)
    try:
        seed(opts.seed)(test)()
    except (Exception, FailureGroup) as exc:  # findings are in `found`; anything else is the suite's own failure
        kind = type(exc).__name__
        if kind == "Unsatisfiable" and not part.cases:
            part.skipped = "no request to negate (no parameters or body)"
        elif not found and kind not in ("Flaky", "FlakyFailure"):
            part.findings.append(Finding(part.name, ["suite error"], f"{kind}: {exc}"))
    part.findings.extend(found.values())
    if not part.cases and not part.findings and not part.skipped:
        part.skipped = "the time budget was spent before this part"
    part.seconds = time.monotonic() - t0


def _guarded(name: str, probe: Callable[[], Part]) -> Part:
    """A probe whose gateway gave no HTTP answer (refused, reset, timed out) reports it as its finding."""
    try:
        return probe()
    except httpx.HTTPError as exc:
        return Part(name, findings=[Finding(name, ["no answer"], f"no HTTP answer: {type(exc).__name__}: {exc}")])


def run_suite(target: SuiteTarget, opts: SuiteOptions | None = None) -> SuiteResult:
    """Run the parts `opts.parts` names against a started target; never raises for a gateway's failures."""
    opts = opts or SuiteOptions()
    unknown = sorted(set(opts.parts) - set(PARTS))
    if unknown:
        raise GatedrillError(f"unknown suite parts {unknown}; choose from {', '.join(PARTS)}")
    t0 = time.monotonic()
    deadline = t0 + opts.budget_s
    result = SuiteResult(gateway=target.name)
    with httpx.Client(timeout=REQUEST_TIMEOUT_S * 2) as client:
        model = served_model(target, client)
        result.parts += _schemathesis_parts(target, model, opts, deadline)
        probes: dict[str, tuple[str, Callable[[], Part]]] = {
            "rate_limit": ("rate_limit_passthrough", lambda: rate_limit_passthrough(target, model, client)),
            "broken_stream": ("broken_stream_surfaces", lambda: broken_stream_surfaces(target, model, client)),
            "context_window": ("context_window_respected", lambda: context_window_respected(target, model, client)),
            "stateful": ("conversation_continuity (stateful)", lambda: conversation_continuity(
                target, model, client, opts.sessions, opts.turns, opts.seed)),
        }
        for key, (name, probe) in probes.items():
            _check_stop(opts)
            if key in opts.parts:
                result.parts.append(_guarded(name, probe))
    result.seconds = time.monotonic() - t0
    return result
