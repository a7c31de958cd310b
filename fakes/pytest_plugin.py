"""pytest fixtures for fakes (registered as the `gatedrill` pytest11 plugin): servers and interception.

Every fixture is function-scoped and owns what it starts: servers listen on an ephemeral 127.0.0.1 port
and stop at teardown, so tests stay independent under pytest-xdist (`-n auto`). Imports are deferred to
the fixtures, because pytest loads this plugin in every session of an environment that has gatedrill.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .config import FakeConfig
    from .interception import Interception
    from .server import FakeServer

    FakeFactory = Callable[..., FakeServer]


def _serve(provider: str) -> Iterator[FakeServer]:
    from .server import FakeServer

    with FakeServer(provider=provider, host="127.0.0.1", port=0) as server:
        yield server


@pytest.fixture
def fake_openai() -> Iterator[FakeServer]:
    """A fresh OpenAI fake over HTTP; point an SDK at `fake_openai.base_url`."""
    yield from _serve("openai")


@pytest.fixture
def fake_anthropic() -> Iterator[FakeServer]:
    """A fresh Anthropic fake over HTTP; point an SDK at `fake_anthropic.base_url`."""
    yield from _serve("anthropic")


@pytest.fixture
def fake_factory() -> Iterator[FakeFactory]:
    """Start fakes from a `FakeConfig`, a dict or keyword overrides; all are stopped at teardown.

    >>> def test_slow(fake_factory):
    ...     srv = fake_factory(provider="openai", latency={"ttft_ms": 200})
    """
    from .server import FakeServer

    started: list[FakeServer] = []

    def start(config: FakeConfig | dict[str, Any] | None = None, **overrides: Any) -> FakeServer:
        server = FakeServer(config, **overrides).start()
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in reversed(started):
            server.stop()


@pytest.fixture
def intercepted_providers() -> Iterator[Interception]:
    """Requests from in-process httpx/httpx2 clients to api.openai.com and api.anthropic.com are answered
    by fresh fakes (`intercepted_providers.fakes["openai"]`, `["anthropic"]`); other hosts pass through."""
    from .interception import intercept

    with intercept("openai", "anthropic") as interception:
        yield interception
