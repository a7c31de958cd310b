"""The curated documents are well formed, agree with the official SDK types they cite, and the validators built on
them catch every kind of broken body and stream (each mutation of a real, conforming fake stream is rejected)."""

from __future__ import annotations

import typing
from typing import Any

import httpx
import orjson
import pytest
from jsonschema import Draft202012Validator

from gatedrill.contracts.documents import DOCUMENTS, document, pointer
from gatedrill.contracts.validate import ContractViolation, check_response, check_schema, parse_sse
from gatedrill.fakes import FakeServer


def _walk(node: Any) -> typing.Iterator[Any]:
    stack = [node]
    while stack:
        cur = stack.pop()
        yield cur
        if isinstance(cur, dict):
            stack.extend(cur.values())
        elif isinstance(cur, list):
            stack.extend(cur)


@pytest.mark.parametrize("name", DOCUMENTS)
def test_documents_are_self_contained_openapi_3_1_with_valid_schemas(name: str) -> None:
    doc = document(name)
    assert doc["openapi"] == "3.1.0"
    for node in _walk(doc):
        if isinstance(node, dict) and isinstance(node.get("$ref"), str):
            assert node["$ref"].startswith("#/"), node["$ref"]
            pointer(doc, node["$ref"])  # resolves
    for schema in doc["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    import schemathesis

    ops = [r.ok() for r in schemathesis.openapi.from_dict(doc).get_all_operations()]
    assert ops


def _required(model: Any) -> set[str]:
    return {name for name, f in model.model_fields.items() if f.is_required()}


@pytest.mark.parametrize(("doc", "schema", "sdk", "stricter"), [
    ("openai", "ChatCompletion", "openai.types.chat:ChatCompletion", set()),
    ("openai", "ChatCompletionChunk", "openai.types.chat:ChatCompletionChunk", set()),
    ("openai", "Model", "openai.types:Model", set()),
    ("openai", "Usage", "openai.types:CompletionUsage", set()),
    # the SDK defaults them to None, but the API always sends both keys (null while streaming): DESIGN.md section 4
    ("anthropic", "Message", "anthropic.types:Message", {"stop_reason", "stop_sequence"}),
    ("anthropic", "Usage", "anthropic.types:Usage", set()),
    ("anthropic", "ModelInfo", "anthropic.types:ModelInfo", set()),
    ("anthropic", "MessageDeltaEvent", "anthropic.types:RawMessageDeltaEvent", set()),
    ("anthropic", "ContentBlockStartEvent", "anthropic.types:RawContentBlockStartEvent", set()),
])
def test_required_fields_match_the_official_sdk_types(doc: str, schema: str, sdk: str, stricter: set[str]) -> None:
    import importlib

    module, _, cls = sdk.partition(":")
    model = getattr(importlib.import_module(module), cls)
    assert set(document(doc)["components"]["schemas"][schema].get("required", [])) == _required(model) | stricter


def test_the_anthropic_document_names_every_sdk_stream_event_type() -> None:
    from anthropic.types import RawMessageStreamEvent

    union = typing.get_args(RawMessageStreamEvent)[0]
    sdk_types = {typing.get_args(m.model_fields["type"].annotation)[0] for m in typing.get_args(union)}
    media = document("anthropic")["paths"]["/v1/messages"]["post"]["responses"]["200"]["content"]
    documented = set(media["text/event-stream"]["x-gatedrill-sse"]["events"])
    assert sdk_types <= documented
    assert documented - sdk_types == {"ping", "error"}  # documented in the streaming guide, not in the union


@pytest.fixture(scope="module")
def streams() -> dict[str, bytes]:
    """One real stream of each dialect, from the fakes (which conform: tests/test_contract_fakes.py)."""
    with FakeServer(provider="openai") as o, FakeServer(provider="anthropic") as a:
        chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": True,
                "stream_options": {"include_usage": True}}
        msg = {"model": "claude-haiku-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}],
               "stream": True}
        return {
            "openai": httpx.post(o.url + "/v1/chat/completions", json=chat,
                                 headers={"authorization": "Bearer k"}).content,
            "anthropic": httpx.post(a.url + "/v1/messages", json=msg,
                                    headers={"x-api-key": "k", "anthropic-version": "2023-06-01"}).content,
        }


def _events(body: bytes) -> list[bytes]:
    return [e + b"\n\n" for e in body.split(b"\n\n") if e]


def _judge(doc: str, body: bytes) -> Any:
    path = "/v1/chat/completions" if doc in ("openai", "gateway") else "/v1/messages"
    return check_response(doc, "post", path, 200, "text/event-stream", body)


def test_real_streams_conform(streams: dict[str, bytes]) -> None:
    out = _judge("openai", streams["openai"])
    assert out.done and out.finish == {0: "stop"} and out.usage and out.text[0]
    assert _judge("gateway", streams["openai"]).text == out.text
    out = _judge("anthropic", streams["anthropic"])
    assert out.done and out.finish == {0: "end_turn"} and out.text[0]


def _chunk(ev: bytes) -> dict[str, Any]:
    return dict(orjson.loads(ev.split(b"data: ", 1)[1]))


def _data(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


OPENAI_BREAKS = {
    "no [DONE]": lambda evs: evs[:-1],
    "no finish_reason before [DONE]": lambda evs: [e for e in evs if b'"finish_reason":"' not in e],
    "a chunk after [DONE]": lambda evs: [*evs, evs[1]],
    "a chunk after the error": lambda evs: [evs[0], _data({"error": {"message": "x", "type": "t", "param": None,
                                                                      "code": None}}), evs[1]],
    "a chunk of the wrong object": lambda evs: [evs[0], _data({**_chunk(evs[1]), "object": "chat.completion"}),
                                                *evs[2:]],
    "a choice without delta": lambda evs: [evs[0], _data({**_chunk(evs[1]), "choices": [{"index": 0}]}), *evs[2:]],
    "content after the finish": lambda evs: [*evs[:-1], evs[1], evs[-1]],
    "an error without its fields": lambda evs: [evs[0], _data({"error": {"message": "x"}})],
    "not JSON": lambda evs: [evs[0], b"data: {nope\n\n", *evs[1:]],
    "a cut event": lambda evs: [*evs[:-1], evs[-1][:-2]],
}


@pytest.mark.parametrize("break_", OPENAI_BREAKS)
def test_broken_openai_streams_are_rejected(streams: dict[str, bytes], break_: str) -> None:
    broken = b"".join(OPENAI_BREAKS[break_](_events(streams["openai"])))
    for doc in ("openai", "gateway"):
        with pytest.raises(ContractViolation):
            _judge(doc, broken)


def _named(name: str, obj: Any) -> bytes:
    return b"event: " + name.encode() + b"\n" + _data(obj)


ANTHROPIC_BREAKS = {
    "no message_stop": lambda evs: evs[:-1],
    "not starting with message_start": lambda evs: evs[1:],
    "a delta before its block starts": lambda evs: [evs[0], *[e for e in evs[1:] if b"content_block_start" not in e]],
    "a block never stopped": lambda evs: [e for e in evs if b"content_block_stop" not in e],
    "an event named unlike its type": lambda evs: [evs[0], evs[1].replace(b"event: content_block_start",
                                                                           b"event: content_block_stop"), *evs[2:]],
    "an unknown event": lambda evs: [evs[0], _named("surprise", {"type": "surprise"}), *evs[1:]],
    "an event after message_stop": lambda evs: [*evs, evs[-1]],
    "a wrong error type": lambda evs: [evs[0], _named("error", {"type": "error", "error": {"type": "oops",
                                                                                          "message": "x"}})],
    "message_stop without a stop reason": lambda evs: [e for e in evs if b"message_delta" not in e],
}


@pytest.mark.parametrize("break_", ANTHROPIC_BREAKS)
def test_broken_anthropic_streams_are_rejected(streams: dict[str, bytes], break_: str) -> None:
    with pytest.raises(ContractViolation):
        _judge("anthropic", b"".join(ANTHROPIC_BREAKS[break_](_events(streams["anthropic"]))))


def test_responses_are_judged_by_status_content_type_and_headers() -> None:
    envelope = orjson.dumps({"error": {"message": "slow down", "type": "requests", "param": None,
                                       "code": "rate_limit_exceeded"}})
    check_response("gateway", "post", "/v1/chat/completions", 429, "application/json", envelope,
                   {"retry-after": "7"})
    with pytest.raises(ContractViolation, match="required header 'retry-after'"):
        check_response("gateway", "post", "/v1/chat/completions", 429, "application/json", envelope, {})
    with pytest.raises(ContractViolation, match="status 418 is not documented"):
        check_response("gateway", "post", "/v1/chat/completions", 418, "application/json", envelope)
    with pytest.raises(ContractViolation, match="content type 'text/html' is not documented"):
        check_response("gateway", "post", "/v1/chat/completions", 502, "text/html", b"<h1>bad gateway</h1>")
    check_response("gateway", "post", "/v1/chat/completions", 503, "application/json", envelope)  # 5XX range
    with pytest.raises(ContractViolation, match="at error: 'param' is a required property"):
        check_schema("openai", "#/components/schemas/ErrorEnvelope", {"error": {"message": "x", "type": "t",
                                                                                "code": None}})


def test_sse_parsing_follows_the_event_stream_rules() -> None:
    events = parse_sse(b": comment\r\nevent: a\r\ndata: one\r\ndata: two\r\n\r\ndata:three\n\n")
    assert [(e.event, e.data) for e in events] == [("a", "one\ntwo"), (None, "three")]
