"""The gateway contract suite against real gateways in front of the fakes: LiteLLM 1.106.2, Portkey 1.15.2, nginx,
HAProxy.

What it measured, pinned so an upgrade that changes it is noticed. LiteLLM: generated chat requests (JSON and SSE),
models, conversations across an OpenAI and an Anthropic upstream and over-window prompts meet the contract; three
findings always remain: a JSON body that is not an object (`[]`) gets a text/plain 500, an upstream 429 reaches the
client without `retry-after`, and a stream broken mid-way ends in an error event (or a 500) whose error object does
not conform (`"type": null`); a fourth appears
when its random routing sends a `temperature` above 1 to Anthropic unclamped (a 400 for a valid OpenAI request).
Portkey: an upstream 429 becomes a 500, and an Anthropic upstream's mid-stream error becomes a chunk with
`finish_reason: "api_error"` and no index; it also sends Anthropic no default max_tokens (a 400 for requests without
one) and answers some malformed bodies with a 500 outside the OpenAI envelope.
"""

from __future__ import annotations

import importlib.util
import re
import shutil

import pytest
from needs import need

from gatedrill.contracts.gateway_suite import SuiteOptions, run_suite, start_target

pytestmark = pytest.mark.timeout(240)


def test_litellm_meets_the_contract_but_for_known_findings() -> None:
    installed = shutil.which("litellm") is not None and importlib.util.find_spec("litellm.proxy") is not None
    need(installed, "the LiteLLM proxy is not installed (pip install 'gatedrill[litellm]')")
    with start_target("litellm") as target:
        result = run_suite(target, SuiteOptions(max_examples=12, sessions=3, budget_s=90))
    by_part = {p.name: p for p in result.parts}
    failed = {name for name, p in by_part.items() if p.findings}
    always = {"POST /v1/chat/completions [negative]", "rate_limit_passthrough", "broken_stream_surfaces"}
    positive = "POST /v1/chat/completions [positive]"
    assert always <= failed <= always | {positive}, "\n".join(result.summary_lines())
    for f in by_part[positive].findings:  # only when its shuffle sent a temperature above 1 to Anthropic
        assert "temperature: Input should be less than or equal to 1" in f.message, f.message
    negative = by_part["POST /v1/chat/completions [negative]"].findings
    # LiteLLM answers a JSON body that is not an object (Hypothesis finds `[]` or `null`) with a plain-text 500
    assert any("Server error" in f.checks and re.search(r"-d ('\[\]'|null) ", f.curl or "") for f in negative), \
        "\n".join(result.summary_lines())
    assert all("without a usable retry-after" in f.message for f in by_part["rate_limit_passthrough"].findings)
    broken = by_part["broken_stream_surfaces"].findings  # its error events and 500s carry `"type": null`
    assert broken and all("Error" in f.message and "conform" in f.message for f in broken), \
        "\n".join(result.summary_lines())
    assert by_part[positive].cases >= (1 if by_part[positive].findings else 12)  # a failure ends generation early


def test_portkey_runs_the_contract_suite_and_turns_an_upstream_429_into_a_500() -> None:
    """`--gateway portkey` works the same way; Portkey 1.15.2 answers an upstream 429 with a 500 (a TypeError)."""
    need(shutil.which("node") is not None and shutil.which("npm") is not None,
                "the Portkey gateway needs node and npm (apt-get install nodejs npm)")
    with start_target("portkey") as target:
        result = run_suite(target, SuiteOptions(parts=("rate_limit", "broken_stream", "stateful", "context_window"),
                                                sessions=3))
    by_part = {p.name: p for p in result.parts}
    assert not by_part["conversation_continuity (stateful)"].findings, "\n".join(result.summary_lines())
    assert not by_part["context_window_respected"].findings, "\n".join(result.summary_lines())
    findings = by_part["rate_limit_passthrough"].findings
    assert findings and all("the client got 500" in f.message for f in findings)
    for f in by_part["broken_stream_surfaces"].findings:  # when its random choice was the Anthropic upstream
        assert "'api_error' is not valid" in f.message, f.message


def test_nginx_relaying_the_openai_fake_meets_the_contract() -> None:
    """nginx relays bytes to the OpenAI upstream only (the adapter leaves Anthropic out), so what the client sees is
    the fake's own answers: the contract holds end to end, probes included."""
    from gatedrill.fakes.errors import ConfigError
    from gatedrill.harness.gateways.nginx import find_js_module

    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    try:
        find_js_module()
        njs = True
    except ConfigError:
        njs = False
    need(nginx is not None and njs, "nginx and its njs module are not installed "
                                           "(apt-get install -y nginx libnginx-mod-http-js)")
    with start_target("nginx") as target:
        result = run_suite(target, SuiteOptions(max_examples=10, sessions=3))
    assert result.ok, "\n".join(result.summary_lines())
    ran = {p.name for p in result.parts if p.cases}
    assert ran >= {"POST /v1/chat/completions [positive]", "rate_limit_passthrough", "broken_stream_surfaces",
                   "context_window_respected", "conversation_continuity (stateful)"}


def test_haproxy_relaying_the_openai_fake_meets_the_contract() -> None:
    """HAProxy relays bytes to the OpenAI upstream only (the adapter leaves Anthropic out), with the body's model
    rewritten by Lua: what the client sees is the fake's own answers, so the contract holds end to end."""
    haproxy = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
    need(haproxy is not None, "haproxy is not installed (apt-get install -y haproxy)")
    with start_target("haproxy") as target:
        result = run_suite(target, SuiteOptions(max_examples=10, sessions=3))
    assert result.ok, "\n".join(result.summary_lines())
    ran = {p.name for p in result.parts if p.cases}
    assert ran >= {"POST /v1/chat/completions [positive]", "rate_limit_passthrough", "broken_stream_surfaces",
                   "context_window_respected", "conversation_continuity (stateful)"}
