"""The LiteLLM adapter's deployments for the Gemini, Azure OpenAI and Bedrock fakes work: LiteLLM (as a library,
with exactly the `litellm_params` the adapter writes into the proxy config) reaches each fake, plain and streamed.
The full proxy runs these providers in the cross-provider-tools drill."""

from __future__ import annotations

import os

import pytest

from gatedrill.fakes import FakeServer
from gatedrill.harness.gateways.litellm import _deployment
from gatedrill.harness.intent import UpstreamEndpoint

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
MODELS = {"gemini": "gemini-2.5-flash", "azure": "gpt-4o-mini", "bedrock": "anthropic.claude-3-5-haiku-20241022-v1:0"}


@pytest.mark.parametrize("provider", list(MODELS))
@pytest.mark.parametrize("stream", [False, True])
def test_adapter_params_reach_the_fake(provider: str, stream: bool) -> None:
    import litellm

    with FakeServer(provider=provider) as srv:
        ep = UpstreamEndpoint(name="up", provider=provider, base_url=srv.url)
        params = dict(_deployment(ep, "drill", MODELS[provider], "up")["litellm_params"])
        r = litellm.completion(messages=[{"role": "user", "content": "hi"}], stream=stream, num_retries=0,
                               **params)
        text = "".join(c.choices[0].delta.content or "" for c in r if c.choices) if stream else \
            r.choices[0].message.content
        entries = srv.entries()
    assert text and entries[-1].reply is not None and text == entries[-1].reply["choices"][0]["text"]
    assert [(e.status, e.stream) for e in entries] == [(200, stream)]
