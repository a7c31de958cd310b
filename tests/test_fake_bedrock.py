"""The Bedrock Converse fake, seen through the official `boto3` `bedrock-runtime` client (unchanged,
endpoint_url on 127.0.0.1) and raw HTTP.

botocore decodes the event stream and checks both CRCs of every message, so a stream it reads is framed
right. Each test pins one behaviour: Converse and ConverseStream shapes and event order, tool use, the
x-amzn-ErrorType errors and the botocore exception classes they map to, exceptions inside a 200 stream,
the context error, count-tokens, SigV4 presence (not its signature), model ids that need encoding, and the
journal.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.eventstream import ChecksumMismatch
from botocore.exceptions import ClientError, EventStreamError

from gatedrill.fakes import FakeServer

MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
AKID = "AKIAGATEDRILLTEST01"
USER = [{"role": "user", "content": [{"text": "Tell me something."}]}]
TOOLS = {"tools": [{"toolSpec": {"name": "get_weather", "description": "Current weather for a city.",
                                 "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}},
                                                          "required": ["city"]}}}}]}


@pytest.fixture(scope="module")
def srv() -> Iterator[FakeServer]:
    with FakeServer(provider="bedrock") as server:
        yield server


@pytest.fixture()
def fresh(srv: FakeServer) -> FakeServer:
    srv.reset()
    srv.clear_faults()
    return srv


def client(server: FakeServer, akid: str = AKID, fault: dict[str, Any] | None = None) -> Any:
    """boto3 as users build it, retries off; a fault rides on a header added before signing."""
    c = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=server.url,
                     aws_access_key_id=akid, aws_secret_access_key="secret",
                     config=Config(retries={"max_attempts": 1, "mode": "standard"}))
    if fault is not None:
        def add(request: Any, **_: Any) -> None:
            request.headers["x-gatedrill-fault"] = json.dumps(fault)
        c.meta.events.register("before-sign.bedrock-runtime.*", add)
    return c


def events(response: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [next(iter(e.items())) for e in response["stream"]]


# -- replies -------------------------------------------------------------------------------------------------


def test_converse_reply_has_message_stop_reason_usage_and_metrics(fresh: FakeServer) -> None:
    r = client(fresh).converse(modelId=MODEL, messages=USER)
    assert r["output"]["message"]["role"] == "assistant" and r["output"]["message"]["content"][0]["text"]
    assert r["stopReason"] == "end_turn"
    u = r["usage"]
    assert u["inputTokens"] > 0 and u["totalTokens"] == u["inputTokens"] + u["outputTokens"]
    assert "latencyMs" in r["metrics"] and r["ResponseMetadata"]["RequestId"]


def test_stream_events_come_in_bedrocks_order_and_reassemble_to_the_converse_text(fresh: FakeServer) -> None:
    c = client(fresh)
    full = c.converse(modelId=MODEL, messages=USER)["output"]["message"]["content"][0]["text"]
    evs = events(c.converse_stream(modelId=MODEL, messages=USER))
    names = [n for n, _ in evs]
    assert names[0] == "messageStart" and names[-3:] == ["contentBlockStop", "messageStop", "metadata"]
    assert set(names[1:-3]) == {"contentBlockDelta"}
    assert "".join(p["delta"]["text"] for n, p in evs if n == "contentBlockDelta") == full
    assert evs[-2][1] == {"stopReason": "end_turn"}
    assert evs[-1][1]["usage"]["outputTokens"] > 0 and "latencyMs" in evs[-1][1]["metrics"]


def test_tool_use_reply_then_tool_result_turn_gets_text(fresh: FakeServer) -> None:
    c = client(fresh)
    first = c.converse(modelId=MODEL, messages=USER, toolConfig=TOOLS)
    assert first["stopReason"] == "tool_use"
    use = first["output"]["message"]["content"][0]["toolUse"]
    assert use["toolUseId"].startswith("tooluse_") and use["name"] == "get_weather" and "city" in use["input"]
    history = [*USER, first["output"]["message"],
               {"role": "user", "content": [{"toolResult": {"toolUseId": use["toolUseId"],
                                                            "content": [{"json": {"sky": "clear"}}]}}]}]
    second = c.converse(modelId=MODEL, messages=history, toolConfig=TOOLS)
    assert second["stopReason"] == "end_turn" and second["output"]["message"]["content"][0]["text"]


def test_streamed_tool_use_starts_a_block_then_streams_input_json(fresh: FakeServer) -> None:
    evs = events(client(fresh).converse_stream(modelId=MODEL, messages=USER, toolConfig=TOOLS))
    start = next(p for n, p in evs if n == "contentBlockStart")
    assert start["start"]["toolUse"]["name"] == "get_weather" and start["contentBlockIndex"] == 0
    args = "".join(p["delta"]["toolUse"]["input"] for n, p in evs if n == "contentBlockDelta")
    assert "city" in json.loads(args)
    assert next(p for n, p in evs if n == "messageStop") == {"stopReason": "tool_use"}


def test_model_ids_that_need_encoding_reach_the_fake_decoded() -> None:
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    with FakeServer(provider="bedrock", models=[{"id": arn}]) as s:
        assert client(s).converse(modelId=arn, messages=USER)["stopReason"] == "end_turn"
        assert s.entries()[0].model == arn


# -- errors --------------------------------------------------------------------------------------------------


def test_rate_limiter_429_is_throttling_exception_without_retry_headers() -> None:
    with FakeServer(provider="bedrock", models=[{"id": MODEL, "rpm": 1}]) as s:
        c = client(s)
        c.converse(modelId=MODEL, messages=USER)
        with pytest.raises(c.exceptions.ThrottlingException) as info:
            c.converse(modelId=MODEL, messages=USER)
    err = info.value.response
    assert err["Error"] == {"Message": "Too many requests, please wait before trying again.",
                            "Code": "ThrottlingException"}
    headers = err["ResponseMetadata"]["HTTPHeaders"]
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert headers["x-amzn-errortype"].startswith("ThrottlingException:")
    assert not any(k.startswith(("retry-after", "x-ratelimit")) for k in headers)


@pytest.mark.parametrize(("status", "exception"), [(429, "ThrottlingException"), (503, "ServiceUnavailableException"),
                                                   (500, "InternalServerException"), (424, "ModelErrorException"),
                                                   (408, "ModelTimeoutException")])
def test_injected_errors_raise_the_modeled_botocore_exception(fresh: FakeServer, status: int, exception: str) -> None:
    c = client(fresh, fault={"kind": "http_error", "status": status})
    with pytest.raises(getattr(c.exceptions, exception)) as info:
        c.converse(modelId=MODEL, messages=USER)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert info.value.response["Error"]["Message"]


def test_context_overflow_is_validation_exception_input_too_long() -> None:
    with FakeServer(provider="bedrock", models=[{"id": MODEL, "context_window": 20}]) as s:
        c = client(s)
        with pytest.raises(c.exceptions.ValidationException) as info:
            c.converse(modelId=MODEL, messages=[{"role": "user", "content": [{"text": "word " * 40}]}])
    assert info.value.response["Error"]["Message"] == "Input is too long for requested model."


def test_unknown_model_is_validation_exception(fresh: FakeServer) -> None:
    c = client(fresh)
    with pytest.raises(c.exceptions.ValidationException) as info:
        c.converse(modelId="nope.model-v1:0", messages=USER)
    assert info.value.response["Error"]["Message"] == "The provided model identifier is invalid."


def test_conversation_must_start_with_a_user_message(fresh: FakeServer) -> None:
    c = client(fresh)
    with pytest.raises(c.exceptions.ValidationException) as info:
        c.converse(modelId=MODEL, messages=[{"role": "assistant", "content": [{"text": "hi"}]}])
    assert info.value.response["Error"]["Message"].startswith("A conversation must start with a user message.")


def test_exception_inside_a_200_stream_raises_event_stream_error_after_the_deltas(fresh: FakeServer) -> None:
    r = client(fresh, fault={"kind": "stream_error", "after_chunks": 3, "status": 424}).converse_stream(
        modelId=MODEL, messages=USER)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    seen: list[str] = []
    with pytest.raises(EventStreamError) as info:
        for e in r["stream"]:
            seen.append(next(iter(e)))
    assert seen == ["messageStart"] + ["contentBlockDelta"] * 3
    assert info.value.response["Error"]["Code"] == "modelStreamErrorException"


@pytest.mark.parametrize(("status", "code"), [(429, "throttlingException"), (503, "serviceUnavailableException"),
                                              (500, "internalServerException"), (400, "validationException")])
def test_stream_exception_types_follow_the_status(fresh: FakeServer, status: int, code: str) -> None:
    r = client(fresh, fault={"kind": "error_only_stream", "status": status}).converse_stream(
        modelId=MODEL, messages=USER)
    with pytest.raises(EventStreamError) as info:
        list(r["stream"])
    assert info.value.response["Error"]["Code"] == code


def test_corrupted_frame_fails_botocores_checksum(fresh: FakeServer) -> None:
    r = client(fresh, fault={"kind": "malformed", "after_chunks": 1}).converse_stream(modelId=MODEL, messages=USER)
    with pytest.raises(ChecksumMismatch):
        list(r["stream"])


# -- count-tokens, auth, journal -----------------------------------------------------------------------------


def test_count_tokens_matches_the_converse_input_tokens(fresh: FakeServer) -> None:
    c = client(fresh)
    n = c.count_tokens(modelId=MODEL, input={"converse": {"messages": USER}})["inputTokens"]
    assert n == c.converse(modelId=MODEL, messages=USER)["usage"]["inputTokens"]


def test_absent_authorization_is_missing_authentication_token(fresh: FakeServer) -> None:
    r = httpx.post(f"{fresh.url}/model/{MODEL}/converse", json={"messages": USER}, timeout=10)
    assert r.status_code == 403 and r.json() == {"message": "Missing Authentication Token"}
    assert r.headers["x-amzn-errortype"].startswith("MissingAuthenticationTokenException")


def test_malformed_sigv4_is_rejected_but_any_well_formed_signature_passes(fresh: FakeServer) -> None:
    bad = httpx.post(f"{fresh.url}/model/{MODEL}/converse", json={"messages": USER}, timeout=10,
                     headers={"authorization": "AWS4-HMAC-SHA256 garbage", "x-amz-date": "20250101T000000Z"})
    assert bad.status_code == 403 and bad.headers["x-amzn-errortype"].startswith("IncompleteSignatureException")
    forged = ("AWS4-HMAC-SHA256 Credential=AKIAFORGEDFORGED01/20250101/us-east-1/bedrock/aws4_request, "
              "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64)
    ok = httpx.post(f"{fresh.url}/model/{MODEL}/converse", json={"messages": USER}, timeout=10,
                    headers={"authorization": forged, "x-amz-date": "20250101T000000Z"})
    assert ok.status_code == 200  # the fake checks the signature's form, never its value


def test_configured_keys_reject_other_access_key_ids() -> None:
    with FakeServer(provider="bedrock", api_keys=[AKID]) as s:
        assert client(s).converse(modelId=MODEL, messages=USER)["stopReason"] == "end_turn"
        with pytest.raises(ClientError) as info:
            client(s, akid="AKIAOTHEROTHER0001").converse(modelId=MODEL, messages=USER)
    assert info.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_journal_has_one_entry_per_call_with_authorization_redacted(fresh: FakeServer) -> None:
    c = client(fresh)
    c.converse(modelId=MODEL, messages=USER)
    list(c.converse_stream(modelId=MODEL, messages=USER)["stream"])
    entries = fresh.entries()
    assert [(e.endpoint, e.model, e.stream, e.status) for e in entries] == [
        ("converse", MODEL, False, 200), ("converse_stream", MODEL, True, 200)]
    assert entries[0].headers["authorization"] == "[redacted]"
