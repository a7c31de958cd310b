"""The contract between the provider-neutral core and one provider's wire format.

A dialect parses requests into neutral objects and renders neutral replies, errors and faults into its
provider's exact bytes. It holds no state: the core (`fakes.fake.Fake`, which a dialect sees only as `FakeView`)
owns behaviour, faults, limits and the journal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote

from ..ids import unique_ids
from ..plan import ApiError, HttpRequest, Plan

if TYPE_CHECKING:
    from ..config import FakeConfig, ModelSpec
    from ..content import Reply
    from ..conversation import ChatRequest
    from ..faults import HttpError, StreamError
    from ..ratelimit import Decision


NO_PARAMS: Mapping[str, str] = {}


class FakeView(Protocol):
    """What a dialect may read of the fake serving it: its settings, its tokenizer and its start time. Narrow on
    purpose, so wire-format code cannot reach into the core's state (faults, limits, journal) or import it."""

    @property
    def config(self) -> FakeConfig: ...

    @property
    def started_wall(self) -> float: ...

    @property
    def count(self) -> Callable[[str], int]: ...

    def count_prompt(self, chat: ChatRequest) -> int: ...


@dataclass(slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


@dataclass(slots=True)
class Rendered:
    """A rendered reply: for streams, events as (offset s, bytes, is_content); else one body."""

    status: int
    headers: list[tuple[str, str]]
    events: list[tuple[float, bytes, bool]]
    stream: bool


INJECTED_RPM = 500  # the limits an injected 429 reports: requests used up, tokens untouched
INJECTED_TPM = 200_000


def injected_decision(wait: float) -> Decision:
    """The limiter state an injected 429 stands for, so its headers come from the same code as a real one."""
    import time

    from ..ratelimit import Bucket, Decision

    now = time.monotonic()
    return Decision(False, "requests", wait, Bucket(INJECTED_RPM, 0.0, now),
                    Bucket(INJECTED_TPM, float(INJECTED_TPM), now), 1)


class Dialect:
    """Base class: subclasses fill in every method for their provider."""

    name = "base"
    chat_endpoints: frozenset[str] = frozenset()
    tool_id_prefix = "call_"  # how this provider names tool calls in replies
    routes: dict[tuple[str, str], str] = {}  # (method, path) -> endpoint
    prefix_routes: list[tuple[str, str, str]] = []  # (method, path prefix, endpoint): the rest is the `id`

    def __init__(self) -> None:
        self._ids = unique_ids()

    def new_request_id(self) -> str:
        return "req_" + next(self._ids)

    def route(self, method: str, path: str) -> tuple[str, dict[str, str]]:
        """(endpoint, path params) for a request, or the provider's 405 (known path) or 404."""
        ep = self.routes.get((method, path))
        if ep is not None:
            return ep, {}
        for m, prefix, name in self.prefix_routes:
            if method == m and path.startswith(prefix) and len(path) > len(prefix):
                return name, {"id": unquote(path[len(prefix):])}  # /v1/models/ft%3Agpt-4o names ft:gpt-4o
        known = {p for (_, p) in self.routes} | {p.rstrip("/") for _, p, _ in self.prefix_routes}
        raise self.no_route(method, path, path in known or any(path.startswith(p) for _, p, _ in self.prefix_routes))

    def route_request(self, req: HttpRequest) -> tuple[str, dict[str, str]]:
        """(endpoint, params) for the whole request. Dialects whose routes live in an encoded path or the query
        string (Gemini's `:method` and `?alt=sse`, Azure's `?api-version=`, Bedrock's model ids) override it and
        put what they read into params."""
        return self.route(req.method, req.path)

    def no_route(self, method: str, path: str, path_known: bool) -> ApiError:
        """The provider's error for an unknown path (404) or a known path with the wrong method (405)."""
        raise NotImplementedError

    def authenticate(self, endpoint: str, headers: dict[str, str], api_keys: list[str] | None,
                     params: Mapping[str, str] = NO_PARAMS) -> None:
        raise NotImplementedError

    def invalid_json(self, detail: str) -> ApiError:
        raise NotImplementedError

    def invalid_content_type(self, content_type: str) -> ApiError:
        raise NotImplementedError

    def too_large(self, size: int, limit: int) -> ApiError:
        raise NotImplementedError

    def parse_chat(self, endpoint: str, body: Any, params: Mapping[str, str] = NO_PARAMS) -> ChatRequest:
        raise NotImplementedError

    def marker_text(self, body: dict[str, Any]) -> str | None:
        raise NotImplementedError

    def not_chat_model(self, endpoint: str, model: str) -> ApiError:
        """A model that exists but does not chat (an embedding model) asked for a chat completion."""
        raise NotImplementedError

    def max_tokens_too_large(self, model: ModelSpec, requested: int) -> ApiError:
        """`max_tokens` above what the model can produce."""
        raise NotImplementedError

    def unknown_model(self, model: str) -> ApiError:
        raise NotImplementedError

    def context_error(self, model: ModelSpec, prompt_tokens: int, completion_tokens: int) -> ApiError:
        raise NotImplementedError

    def rate_limit_error(self, model: ModelSpec, decision: Decision) -> ApiError:
        raise NotImplementedError

    def ratelimit_headers(self, model: ModelSpec, decision: Decision | None) -> list[tuple[str, str]]:
        """Rate-limit headers for a reply; `decision` is None when the model has no configured limits."""
        raise NotImplementedError

    def fault_error(self, fault: HttpError, model: str | None) -> ApiError:
        raise NotImplementedError

    def render_error(self, endpoint: str | None, err: ApiError, request_id: str) -> Plan:
        raise NotImplementedError

    def render_reply(self, endpoint: str, req: ChatRequest, reply: Reply, usage: Usage,
                     offsets: list[float], end_offset: float, request_id: str) -> Rendered:
        raise NotImplementedError

    def stream_error_event(self, endpoint: str, fault: StreamError, request_id: str, sent: int) -> bytes:
        """The provider's mid-stream error event; `sent` is how many events went before it."""
        raise NotImplementedError

    def prompt_filtered(self, endpoint: str, req: ChatRequest, usage: Usage, request_id: str) -> Plan | None:
        """The provider's answer to a prompt its content filter blocks: raise its error, or return a plan for
        a provider that answers 200 (Gemini's promptFeedback). None: reply with an empty filtered completion."""
        return None

    def malformed_event(self, endpoint: str) -> bytes:
        return b'data: {"id": "broken", "choices": [{"delta": {"content": "\xff\n\n'

    def handle_other(self, endpoint: str, params: dict[str, str], body: Any, fake: FakeView, request_id: str) -> Plan:
        raise NotImplementedError

