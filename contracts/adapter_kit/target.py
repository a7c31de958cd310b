"""`Target`: an adapter under test, wired to the fake upstream it must reach, behind one `send` call.

The kit hands a target unified (OpenAI chat) requests and reads two things back: the target's `Outcome`
and the fake's journal (what arrived upstream, and what the fake answered). Subclasses say how a request
reaches the adapter: in-process (LiteLLM as a library, a Python adapter) or over HTTP (a gateway).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from gatedrill.fakes import Entry, Fake

from .outcome import Outcome

UPSTREAM_MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5"}
CHAT_ENDPOINTS = {"openai": "chat", "anthropic": "messages"}


class Target:
    """Base class: set `name`, `provider`, `fake`; implement `send` (and `start`/`stop` when needed)."""

    name = "adapter"
    provider = "openai"
    request_model: str = ""  # the model name the adapter's callers use
    fake: Fake

    @property
    def label(self) -> str:
        return f"{self.name}/{self.provider}"

    @property
    def upstream_model(self) -> str:
        return UPSTREAM_MODELS[self.provider]

    def start(self) -> None:
        """Start what the target needs (interception, servers)."""

    def stop(self) -> None:
        """Stop whatever `start` started; called on success, failure and Ctrl-C."""

    def send(self, request: dict[str, Any]) -> Outcome:
        raise NotImplementedError

    def reset(self) -> None:
        """Before each example: an empty journal and no faults."""
        self.fake.clear_faults()
        self.fake.reset()

    def upstream_entries(self) -> list[Entry]:
        """Chat requests that reached the fake since the last reset."""
        endpoint = CHAT_ENDPOINTS[self.provider]
        return [e for e in self.fake.entries() if e.endpoint == endpoint]

    def __enter__(self) -> Target:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
