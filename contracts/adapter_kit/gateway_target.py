"""Gateways reached over HTTP: any OpenAI-compatible base URL whose upstream is a fake we hold, and the
reference gateway (in-process, routing to one fake) as a ready target.

The gateway's own retries would hide how it maps errors, so the reference gateway is configured with one
attempt and no fallbacks; for other gateways, configure the same before pointing the kit at them.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Any

import httpx
import orjson

from gatedrill.fakes import Fake, FakeServer
from gatedrill.fakes.errors import ConfigError
from gatedrill.harness.sse import sse_data

from .outcome import Outcome, reassemble
from .target import Target


class HttpGatewayTarget(Target):
    """An OpenAI-compatible gateway at `base_url` (ending in /v1) whose upstream is `fake`."""

    def __init__(self, base_url: str, fake: Fake, provider: str, request_model: str, name: str = "gateway",
                 api_key: str = "sk-gatedrill", headers: dict[str, str] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.fake = fake
        self.provider = provider
        self.request_model = request_model
        self.name = name
        self.headers = headers or {"authorization": f"Bearer {api_key}"}
        self._client: httpx.Client | None = None

    def start(self) -> None:
        self._client = httpx.Client(timeout=30)

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def send(self, request: dict[str, Any]) -> Outcome:
        assert self._client is not None, "start the target first"
        r = self._client.post(self.base_url + "/chat/completions", content=orjson.dumps(request),
                              headers={**self.headers, "content-type": "application/json"})
        headers = {k.lower(): v for k, v in r.headers.items()}
        if r.status_code != 200:
            try:
                parsed: Any = r.json()
            except ValueError:
                parsed = r.text
            return Outcome(r.status_code, headers=headers, error=r.text, error_body=parsed)
        if request.get("stream"):
            data = sse_data(r.text)
            chunks = [c for c in data if "error" not in c]
            errors = [c["error"] for c in data if "error" in c]
            done = r.text.rstrip().endswith("data: [DONE]")
            return Outcome(200, reassemble(chunks), chunks, headers, done=done,
                           stream_error=errors[0] if errors else None)
        return Outcome(200, r.json(), headers=headers)


class ReferenceGatewayTarget(HttpGatewayTarget):
    """gatedrill's reference gateway in a background thread, routing every request to one fake server."""

    def __init__(self, provider: str, mutant: str | None = None) -> None:
        from gatedrill.harness.intent import MUTANTS

        if mutant is not None and mutant not in MUTANTS:
            raise ConfigError(f"unknown mutant {mutant!r}; choose one of: {', '.join(MUTANTS)}")
        self._server = FakeServer(provider=provider)
        super().__init__("", self._server.fake, provider, "drill", name="reference" + (f"[{mutant}]" if mutant else ""))
        self.mutant = mutant
        self._gateway: Any = None

    def start(self) -> None:
        from gatedrill.harness.reference import ReferenceGateway

        self._server.start()
        try:
            self._gateway = ReferenceGateway({
                "intent": {"targets": [{"upstream": "up", "model": self.upstream_model}], "retry": {"attempts": 1}},
                "upstreams": [{"name": "up", "provider": self.provider, "base_url": self._server.url}],
                "mutant": self.mutant,
            }).start()
        except BaseException:
            self._server.stop()
            raise
        self.base_url = self._gateway.base_url
        super().start()

    def reset(self) -> None:
        """Also forget the gateway's circuit breakers: a 429 example must not cool down the next example."""
        super().reset()
        if self._gateway is not None:
            from gatedrill.harness.reference.breaker import Breaker

            router = self._gateway.gateway.router
            router.breakers = {name: Breaker() for name in router.breakers}

    def stop(self) -> None:
        super().stop()
        if self._gateway is not None:
            self._gateway.stop()
            self._gateway = None
        self._server.stop()


class ProcessGatewayTarget(HttpGatewayTarget):
    """A gateway gatedrill knows how to start (`harness.gateways`: litellm proxy, portkey, reference, ...) as a
    child process in front of one fake, with one attempt per request and no cooldown. State the gateway keeps
    between requests (a cooldown it imposes anyway) is outside the kit's reset."""

    def __init__(self, gateway: str, provider: str) -> None:
        self._server = FakeServer(provider=provider)
        super().__init__("", self._server.fake, provider, "drill", name=f"gateway:{gateway}")
        self.gateway = gateway
        self._stack: contextlib.ExitStack | None = None

    def start(self) -> None:
        from gatedrill.harness.gateways import get_adapter
        from gatedrill.harness.intent import UpstreamEndpoint
        from gatedrill.harness.processes import Processes
        from gatedrill.harness.scenario import Scenario

        with contextlib.ExitStack() as stack:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gatedrill-adapter-kit-")))
            stack.enter_context(self._server)
            model = self.upstream_model
            scenario = Scenario.model_validate({
                "name": "adapter-kit", "duration_s": 1,
                "upstreams": {"up": {"provider": self.provider, "models": [{"id": model}]}},
                "gateway": {"kind": self.gateway, "routing": {
                    "targets": [{"upstream": "up", "model": model}], "retry": {"attempts": 1},
                    "cooldown": {"enabled": False}}},
                "load": {"mode": "closed", "concurrency": 1}})
            endpoint = UpstreamEndpoint.model_validate({"name": "up", "provider": self.provider,
                                                        "base_url": self._server.url})
            procs = stack.enter_context(Processes(workdir))
            running = get_adapter(scenario.gateway).start(procs, scenario, [endpoint], workdir)
            self.base_url = running.url.rstrip("/").removesuffix("/v1") + "/v1"
            self.headers = running.client_headers()
            self._stack = stack.pop_all()
        super().start()

    def stop(self) -> None:
        super().stop()
        if self._stack is not None:
            self._stack.close()
            self._stack = None
