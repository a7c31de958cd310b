"""A fast subset of the fuzz benchmark (bench/fuzz.py): the whole malformed-HTTP corpus plus seeded mutations,
and spec-generated requests from OpenAI's official OpenAPI document, must never crash a fake, hang it, or get a
5xx it was not asked to inject."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gatedrill.contracts.fake_fuzz import CORPUS, FuzzTally, SpecTarget, fuzz_raw, fuzz_spec, healthy, official_openai
from gatedrill.fakes import FakeServer

OPENAI_MODELS = {"POST /chat/completions": "gpt-4o-mini", "POST /responses": "gpt-4o-mini",
                 "POST /embeddings": "text-embedding-3-small"}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeServer]:
    with FakeServer(provider="openai") as srv:
        yield srv


def _hard(tally: FuzzTally) -> list[str]:
    return [k for k in tally.signatures if k.split(":", 1)[0] in ("crash", "server_error", "hang")]


def test_malformed_http_never_crashes_hangs_or_5xxs(fake: FakeServer) -> None:
    tally = FuzzTally()
    fuzz_raw(fake.port, len(CORPUS) + 400, seed=7, tally=tally, health_every=100)
    assert tally.requests == len(CORPUS) + 400
    assert not _hard(tally), _hard(tally)
    assert healthy(fake.port)


def test_spec_generated_requests_never_crash_hang_or_5xx(fake: FakeServer) -> None:
    tally = FuzzTally()
    target = SpecTarget("openai-official", official_openai(), fake.url + "/v1", {"authorization": "Bearer sk-fuzz"},
                        OPENAI_MODELS)
    fuzz_spec(target, 200, seed=3, tally=tally)
    assert tally.requests == 200
    assert not _hard(tally), _hard(tally)
    assert {p for p in tally.statuses if p.isdigit() and int(p) < 300}, "some generated requests succeeded"
    assert healthy(fake.port)


def test_the_vendored_official_document_keeps_its_licence_and_source() -> None:
    doc = official_openai()
    assert doc["info"]["license"]["name"] == "MIT"
    assert "github.com/openai/openai-openapi" in doc["info"]["x-gatedrill-trimmed-from"]
    assert set(doc["paths"]) == {"/chat/completions", "/responses", "/embeddings", "/models", "/models/{model}"}


@pytest.mark.parametrize("body", [
    {"messages": [{"role": "user", "content": "hi", "k" * 120: 1}], "max_tokens": 10},
    {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 82898892822588048},
], ids=["long-unknown-key", "huge-max-tokens"])
def test_a_quirk_is_matched_on_the_whole_message_not_the_signatures_cut(body: dict[str, object]) -> None:
    """The third full fuzz counted these as spec violations: the words its quirk names came after the 90
    characters a finding's signature keeps."""
    import httpx

    from gatedrill.contracts.fake_fuzz import documented_quirk
    from gatedrill.contracts.fake_fuzz.spec_fuzz import _error_text

    with FakeServer(provider="anthropic") as srv:
        r = httpx.post(srv.url + "/v1/messages", json={"model": "claude-haiku-4-5", **body},
                       headers={"x-api-key": "sk-ant-fuzz", "anthropic-version": "2023-06-01"})
    assert r.status_code == 400
    cut = f"valid request rejected (400): {_error_text(r)}"
    whole = f"valid request rejected (400): {_error_text(r, None)}"
    assert documented_quirk("anthropic-curated", "POST /v1/messages", cut) is None  # what the fuzz matched before
    assert documented_quirk("anthropic-curated", "POST /v1/messages", whole) is not None
