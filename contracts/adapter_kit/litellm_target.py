"""LiteLLM used as a library (`litellm.completion`), answered in-process by a fake through `fakes.intercept`.

LiteLLM is optional for users (`pip install 'gatedrill[litellm]'`); importing it is deferred to `start`.
Retries are off (`num_retries=0`, `max_retries=0`) so the kit sees each upstream answer as LiteLLM maps it.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from gatedrill.fakes import Fake
from gatedrill.fakes.errors import ConfigError
from gatedrill.fakes.interception import Interception

from .outcome import Outcome, reassemble
from .target import Target


class LiteLLMTarget(Target):
    """`litellm.completion`, or with `use_async` `litellm.acompletion` (run to completion per request)."""

    name = "litellm"

    def __init__(self, provider: str, fake: Fake | None = None, use_async: bool = False) -> None:
        self.provider = provider
        self.use_async = use_async
        if use_async:
            self.name = "litellm-async"
        self.fake = fake or Fake(provider=provider)
        self.request_model = f"{provider}/{self.upstream_model}"
        self._interception: Interception | None = None
        self._litellm: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def version(self) -> str:
        from importlib.metadata import version

        return version("litellm")

    def start(self) -> None:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # never fetch the cost map from GitHub
        try:
            import litellm
        except ImportError:
            raise ConfigError("the litellm adapter needs LiteLLM: pip install 'gatedrill[litellm]'") from None
        litellm.suppress_debug_info = True
        self._litellm = litellm
        self._interception = Interception(self.fake).start()
        if self.use_async:
            self._loop = asyncio.new_event_loop()

    def stop(self) -> None:
        if self._loop is not None:  # cancel what LiteLLM left running (its logging worker), then close
            loop, self._loop = self._loop, None
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
        if self._interception is not None:
            self._interception.stop()
            self._interception = None

    def send(self, request: dict[str, Any]) -> Outcome:
        import openai

        litellm = self._litellm
        params = {k: v for k, v in request.items() if k not in ("model", "messages")}
        kwargs = {"model": self.request_model, "messages": request["messages"], "api_key": "sk-gatedrill",
                  "num_retries": 0, "max_retries": 0, "timeout": 30, **params}
        try:
            if self._loop is not None:  # one loop for the target's life: LiteLLM's logging worker is bound to it
                return self._loop.run_until_complete(self._send_async(litellm, kwargs, bool(request.get("stream"))))
            response = litellm.completion(**kwargs)
            if request.get("stream"):
                chunks = [c.model_dump() for c in response]
                return Outcome(200, reassemble(chunks), chunks)
            return Outcome(200, response.model_dump())
        except openai.OpenAIError as exc:  # every litellm exception derives from openai's
            return Outcome(int(getattr(exc, "status_code", 0) or 0), headers=_headers(exc),
                           error=f"{type(exc).__name__}: {exc}")


    @staticmethod
    async def _send_async(litellm: Any, kwargs: dict[str, Any], stream: bool) -> Outcome:
        response = await litellm.acompletion(**kwargs)
        if stream:
            chunks = [c.model_dump() async for c in response]
            return Outcome(200, reassemble(chunks), chunks)
        return Outcome(200, response.model_dump())


def _headers(exc: Any) -> dict[str, str]:
    """The upstream headers LiteLLM kept on the exception (its own copy first, then the httpx response's)."""
    for source in (getattr(exc, "litellm_response_headers", None), getattr(getattr(exc, "response", None),
                                                                          "headers", None)):
        if source:
            return {str(k).lower(): str(v) for k, v in dict(source).items()}
    return {}
