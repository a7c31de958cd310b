"""Judge bodies, headers and SSE streams against the curated documents; every problem raises `ContractViolation`.

`check_response(doc, method, path, status, content_type, body)` picks the documented response (exact status, then
`4XX`/`5XX`), validates JSON bodies with JSON Schema 2020-12 (the dialect of OpenAPI 3.1), and hands SSE bodies
to the stream checks, which read the `x-gatedrill-sse` extension: OpenAI-style streams (`data:` chunks, a
finish_reason per choice, `[DONE]` last, or an error line and nothing after it) and Anthropic-style typed events
(every event name known, `data.type` equal to it, message_start first, block starts/deltas/stops well nested,
message_stop last unless an error event ended the stream).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import orjson
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from gatedrill.harness.sse import SseEvent
from gatedrill.harness.sse import parse_sse as sse_events

from .documents import document, pointer, resolve

SSE_EXTENSION = "x-gatedrill-sse"
ANTHROPIC_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
                         403: "permission_error", 404: "not_found_error", 413: "request_too_large",
                         429: "rate_limit_error", 500: "api_error", 504: "timeout_error", 529: "overloaded_error"}


class ContractViolation(AssertionError):
    """A response, body or stream that does not conform to its document; the message says where and how."""


@dataclass
class StreamSummary:
    """What a conforming stream carried: text per choice (or content block), finish reasons, how it ended."""

    events: int = 0
    text: dict[int, str] = field(default_factory=dict)
    finish: dict[int, str] = field(default_factory=dict)
    done: bool = False
    error: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None


def parse_sse(body: bytes | str) -> list[SseEvent]:
    """The events of an SSE body that carry data (harness.sse's parser); a cut last event is a violation."""
    if isinstance(body, bytes):
        body.decode("utf-8", errors="strict")  # a stream that is not UTF-8 fails here, before any event is judged
    events, pending = sse_events(body)
    cut = [e for e in sse_events(pending + b"\n\n")[0] if e.has_data] if pending.strip() else []
    if cut:
        last = cut[-1].data.split("\n")[-1]
        raise ContractViolation(f"stream ends inside an event (no blank line after data {last[:80]!r})")
    return [e for e in events if e.has_data]


@functools.cache
def _registry(doc_name: str) -> Registry:
    resource: Resource[Any] = DRAFT202012.create_resource(document(doc_name))
    return Registry().with_resource(f"urn:gatedrill:{doc_name}", resource)


@functools.cache
def _validator(doc_name: str, ref: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"urn:gatedrill:{doc_name}{ref}"}, registry=_registry(doc_name))


def check_schema(doc_name: str, ref: str, instance: Any, what: str = "body") -> None:
    """Validate `instance` against the schema at local reference `ref` (e.g. `#/components/schemas/Message`)."""
    errors = sorted(_validator(doc_name, ref).iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{what} does not conform to {doc_name}.yaml {ref}:"]
        for err in errors[:5]:
            where = "/".join(str(p) for p in err.absolute_path) or "(root)"
            lines.append(f"  at {where}: {err.message[:300]}")
        raise ContractViolation("\n".join(lines))


def media(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def response_media(doc_name: str, method: str, path: str, status: int, content_type: str | None) -> tuple[str, dict]:
    """(JSON pointer, media object) of the documented response; ContractViolation when it is not documented."""
    doc = document(doc_name)
    op_ref = f"#/paths/{path.replace('~', '~0').replace('/', '~1')}/{method.lower()}"
    try:
        op = pointer(doc, op_ref)
    except KeyError:
        raise ContractViolation(f"{method.upper()} {path} is not in {doc_name}.yaml") from None
    responses = op["responses"]
    key = next((k for k in (str(status), f"{str(status)[0]}XX", "default") if k in responses), None)
    if key is None:
        raise ContractViolation(f"{method.upper()} {path}: status {status} is not documented "
                                f"(documented: {', '.join(responses)})")
    resp = responses[key]
    resp_ref = resp.get("$ref", f"{op_ref}/responses/{key}")
    resp = resolve(doc, resp)
    kind = media(content_type)
    content = resp.get("content") or {}
    if kind not in content:
        raise ContractViolation(f"{method.upper()} {path} {status}: content type {content_type!r} is not documented "
                                f"(documented: {', '.join(content) or 'none'})")
    return f"{resp_ref}/content/{kind.replace('/', '~1')}", content[kind]


def check_response(doc_name: str, method: str, path: str, status: int, content_type: str | None,
                   body: bytes, headers: dict[str, str] | None = None) -> StreamSummary | Any:
    """Judge one whole response; returns the parsed JSON body, or the summary of a stream."""
    ref, media_obj = response_media(doc_name, method, path, status, content_type)
    if headers is not None:
        check_headers(doc_name, method, path, status, headers)
    if SSE_EXTENSION in media_obj:
        return check_stream(doc_name, media_obj[SSE_EXTENSION], parse_sse(body))
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ContractViolation(f"{method.upper()} {path} {status}: body is not JSON ({exc}): {body[:200]!r}") from None
    check_schema(doc_name, f"{ref}/schema", parsed, f"{method.upper()} {path} {status} body")
    return parsed


def check_headers(doc_name: str, method: str, path: str, status: int, headers: dict[str, str]) -> None:
    """Required documented headers are present, and every documented header present matches its schema."""
    doc = document(doc_name)
    op = pointer(doc, f"#/paths/{path.replace('/', '~1')}/{method.lower()}")
    key = next((k for k in (str(status), f"{str(status)[0]}XX", "default") if k in op["responses"]), None)
    if key is None:
        return
    lowered = {k.lower(): v for k, v in headers.items()}
    for name, spec in (resolve(doc, op["responses"][key]).get("headers") or {}).items():
        spec = resolve(doc, spec)
        value = lowered.get(name.lower())
        if value is None:
            if spec.get("required"):
                raise ContractViolation(f"{method.upper()} {path} {status}: required header {name!r} is missing")
            continue
        errors = list(Draft202012Validator(spec.get("schema") or {}).iter_errors(value))
        if errors:
            raise ContractViolation(f"{method.upper()} {path} {status}: header {name}: {value!r}: {errors[0].message}")


def _ref_of(node: dict[str, Any]) -> str:
    return str(node["$ref"])


def check_stream(doc_name: str, sse: dict[str, Any], events: list[SseEvent]) -> StreamSummary:
    if "events" in sse:
        return check_typed_stream(doc_name, sse, events)
    return check_data_stream(doc_name, sse, events)


def check_data_stream(doc_name: str, sse: dict[str, Any], events: list[SseEvent]) -> StreamSummary:
    """OpenAI style: every `data:` is a chunk until `[DONE]`, or one error envelope that ends the stream."""
    out = StreamSummary()
    seen: set[int] = set()
    for i, ev in enumerate(events):
        out.events += 1
        if out.done or out.error is not None:
            raise ContractViolation(f"stream event {i} comes after the stream ended: {ev.data[:120]!r}")
        if ev.data == sse["done"]:
            missing = sorted(seen - set(out.finish))
            if missing:
                raise ContractViolation(f"{sse['done']} arrived but choices {missing} never got a finish_reason")
            if not out.finish:
                raise ContractViolation(f"{sse['done']} arrived without any chunk carrying a finish_reason")
            out.done = True
            continue
        try:
            obj = orjson.loads(ev.data)
        except orjson.JSONDecodeError:
            raise ContractViolation(f"stream event {i} is not JSON: {ev.data[:120]!r}") from None
        if isinstance(obj, dict) and "error" in obj:
            check_schema(doc_name, _ref_of(sse["error"]), obj, f"stream event {i} (error)")
            out.error = obj["error"]
            continue
        check_schema(doc_name, _ref_of(sse["data"]), obj, f"stream event {i}")
        if obj.get("usage"):
            out.usage = obj["usage"]
        for choice in obj["choices"]:
            idx = choice["index"]
            if idx in out.finish:
                raise ContractViolation(f"stream event {i}: choice {idx} continues after its finish_reason")
            seen.add(idx)
            content = choice["delta"].get("content")
            if content:
                out.text[idx] = out.text.get(idx, "") + content
            if choice.get("finish_reason"):
                out.finish[idx] = choice["finish_reason"]
    if not out.done and out.error is None:
        raise ContractViolation(f"stream ended without {sse['done']} or an error event "
                                f"({out.events} events; finish reasons {out.finish or 'none'})")
    return out


def check_typed_stream(doc_name: str, sse: dict[str, Any], events: list[SseEvent]) -> StreamSummary:
    """Anthropic style: named events in order, blocks opened, filled and closed by index."""
    out = StreamSummary()
    schemas: dict[str, Any] = sse["events"]
    open_blocks: set[int] = set()
    closed: set[int] = set()
    for i, ev in enumerate(events):
        out.events += 1
        if out.done or out.error is not None:
            raise ContractViolation(f"stream event {i} ({ev.event}) comes after the stream ended")
        if ev.event not in schemas:
            raise ContractViolation(f"stream event {i}: unknown event type {ev.event!r} (known: {', '.join(schemas)})")
        try:
            obj = orjson.loads(ev.data)
        except orjson.JSONDecodeError:
            raise ContractViolation(f"stream event {i} ({ev.event}) is not JSON: {ev.data[:120]!r}") from None
        check_schema(doc_name, _ref_of(schemas[ev.event]), obj, f"stream event {i} ({ev.event})")
        if obj.get("type") != ev.event:
            raise ContractViolation(f"stream event {i}: event {ev.event!r} carries data of type {obj.get('type')!r}")
        if i == 0 and ev.event != sse["first"]:
            raise ContractViolation(f"stream starts with {ev.event!r}, not {sse['first']!r}")
        if ev.event == "error":
            out.error = obj["error"]
        elif ev.event == "content_block_start":
            idx = obj["index"]
            if idx in open_blocks or idx in closed:
                raise ContractViolation(f"stream event {i}: content block {idx} started twice")
            open_blocks.add(idx)
        elif ev.event == "content_block_delta":
            idx = obj["index"]
            if idx not in open_blocks:
                raise ContractViolation(f"stream event {i}: delta for content block {idx}, which is not open")
            text = obj["delta"].get("text")
            if text:
                out.text[idx] = out.text.get(idx, "") + text
        elif ev.event == "content_block_stop":
            idx = obj["index"]
            if idx not in open_blocks:
                raise ContractViolation(f"stream event {i}: stop for content block {idx}, which is not open")
            open_blocks.discard(idx)
            closed.add(idx)
        elif ev.event == "message_delta":
            if open_blocks:
                raise ContractViolation(f"stream event {i}: message_delta while blocks {sorted(open_blocks)} are open")
            reason = obj["delta"].get("stop_reason")
            if reason:
                out.finish[0] = reason
            out.usage = obj["usage"]
        elif ev.event == sse["last"]:
            if 0 not in out.finish:
                raise ContractViolation(f"stream event {i}: {ev.event} without a message_delta stop_reason before it")
            out.done = True
    if not out.done and out.error is None:
        raise ContractViolation(f"stream ended without {sse['last']} or an error event ({out.events} events)")
    return out


def anthropic_error_type_matches(status: int, body: dict[str, Any]) -> None:
    """The documented status-to-type map (DESIGN.md section 4), which a schema cannot express."""
    expected = ANTHROPIC_ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
    got = (body.get("error") or {}).get("type")
    if got != expected:
        raise ContractViolation(f"Anthropic error status {status} carries type {got!r}; expected {expected!r}")
