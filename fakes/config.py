"""The one configuration schema for a fake, used by YAML files, the CLI, the control API and Python callers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .distributions import Distribution, Fixed, Uniform
from .errors import ConfigError
from .faults import Fault, FaultRule

Provider = Literal["openai", "anthropic", "gemini", "azure", "bedrock"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)  # numbers are numbers, never "500"


class ModelSpec(_Model):
    """A model a fake serves, with its context window and optional rate limits."""

    id: str = Field(min_length=1)
    context_window: int = Field(default=128_000, ge=1)
    max_output_tokens: int = Field(default=16_384, ge=1, description="a larger max_tokens gets the provider's 400")
    kind: Literal["chat", "embedding"] | None = Field(default=None, description=(
        "embedding models answer only /v1/embeddings; defaults to embedding when the id contains 'embedding'"))

    @model_validator(mode="before")
    @classmethod
    def _known_output_limit(cls, data: Any) -> Any:
        """A model the providers document keeps its real output limit when the config names only its id (Claude
        Haiku 4.5 answers up to 64,000 tokens, not the generic 16,384)."""
        if isinstance(data, dict) and "max_output_tokens" not in data:
            known = {m["id"]: m["max_output_tokens"] for models in _DEFAULT_MODELS.values() for m in models}
            if data.get("id") in known:
                return {**data, "max_output_tokens": known[data["id"]]}
        return data

    @model_validator(mode="after")
    def _kind(self) -> ModelSpec:
        if self.kind is None:
            self.kind = "embedding" if "embedding" in self.id else "chat"
        return self
    rpm: int | None = Field(default=None, ge=1, description="requests per minute")
    tpm: int | None = Field(default=None, ge=1, description="tokens per minute, counted as prompt + max_tokens")


class Match(_Model):
    """Conditions for a scripted rule; every one given must hold."""

    model: str | None = Field(default=None, description="glob on the requested model")
    content: str | None = Field(default=None, description="regex searched in the last user message")
    turn: int | None = Field(default=None, ge=1)

    @field_validator("content")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"not a valid regex: {exc}") from None
        return v


class ScriptRule(_Model):
    match: Match = Match()
    reply: str | None = None
    fail: Fault | None = None

    @model_validator(mode="after")
    def _one(self) -> ScriptRule:
        if (self.reply is None) == (self.fail is None):
            raise ValueError("a script rule needs exactly one of `reply` or `fail`")
        return self


class ReplySpec(_Model):
    """What the fake answers. `script` falls back to `seeded` when no rule matches."""

    mode: Literal["seeded", "echo", "script", "witness"] = "seeded"
    rules: list[ScriptRule] = Field(default_factory=list)
    output_tokens: Distribution = Uniform(dist="uniform", low=8, high=32)
    tool_calls: bool = Field(default=True, description="answer tool-enabled requests with a tool call first")


class LatencySpec(_Model):
    """Time to first token and inter-token latency, in milliseconds."""

    ttft_ms: Distribution = Fixed(value=0)
    itl_ms: Distribution = Fixed(value=0)


class JournalSpec(_Model):
    max_entries: int = Field(default=10_000, ge=1, description="entries kept in memory; older ones spill or drop")
    max_bytes: int = Field(default=64 * 2**20, ge=1024, description="request bytes kept in memory")
    path: str | None = Field(default=None, description="append every entry to this JSONL file")


class HttpLimits(_Model):
    """Limits of the fake's HTTP server, at the values production servers use (nginx, h11/uvicorn, Node), so a
    gateway's slow or oversized client traffic meets what a real provider edge would do."""

    max_header_bytes: int = Field(default=32 * 1024, ge=1024, description=(
        "request line plus headers; over it: 431 and close (nginx: 4 x 8k buffers; h11 and Node: 16k)"))
    max_headers: int = Field(default=100, ge=8, description="header fields per request; over it: 431 (Apache: 100)")
    header_timeout_s: float = Field(default=60, gt=0, le=3600, description=(
        "a request's head must arrive within this; else 408 and close (nginx client_header_timeout)"))
    body_timeout_s: float = Field(default=60, gt=0, le=3600, description=(
        "longest pause between two reads of a body; else 408 and close (nginx client_body_timeout)"))
    keepalive_timeout_s: float = Field(default=75, gt=0, le=3600, description=(
        "an idle keep-alive connection is closed after this (nginx keepalive_timeout)"))
    linger_s: float = Field(default=5, ge=0, le=60, description=(
        "after an error answer that closes the connection, unread request bytes are drained this long so the "
        "client reads the answer instead of a reset (nginx lingering_timeout)"))
    offload_body_bytes: int = Field(default=1 << 20, ge=1, description=(
        "requests with a larger body are parsed and tokenized off the event loop, so streams stay on time"))


_DEFAULT_MODELS: dict[str, list[dict[str, Any]]] = {
    "openai": [
        {"id": "gpt-4o-mini", "context_window": 128_000, "max_output_tokens": 16_384},
        {"id": "gpt-4o", "context_window": 128_000, "max_output_tokens": 16_384},
        {"id": "text-embedding-3-small", "context_window": 8_191, "max_output_tokens": 1},
    ],
    "anthropic": [
        {"id": "claude-sonnet-4-5", "context_window": 200_000, "max_output_tokens": 64_000},
        {"id": "claude-haiku-4-5", "context_window": 200_000, "max_output_tokens": 64_000},
    ],
    "gemini": [
        {"id": "gemini-2.5-flash", "context_window": 1_048_576, "max_output_tokens": 65_536},
        {"id": "gemini-2.5-pro", "context_window": 1_048_576, "max_output_tokens": 65_536},
    ],
    "azure": [  # deployment names; the fake names each deployment after its model
        {"id": "gpt-4o-mini", "context_window": 128_000, "max_output_tokens": 16_384},
        {"id": "gpt-4o", "context_window": 128_000, "max_output_tokens": 16_384},
    ],
    "bedrock": [
        {"id": "anthropic.claude-3-5-haiku-20241022-v1:0", "context_window": 200_000, "max_output_tokens": 8_192},
        {"id": "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "context_window": 200_000,
         "max_output_tokens": 64_000},
        {"id": "amazon.nova-lite-v1:0", "context_window": 300_000, "max_output_tokens": 5_120},
    ],
}

_DEFAULT_BODY_LIMIT = {"openai": 32 * 2**20, "anthropic": 32 * 2**20, "gemini": 20 * 2**20, "azure": 32 * 2**20,
                       "bedrock": 20 * 2**20}


FIXED_AT_START = ("name", "provider", "host", "port", "journal", "control_token", "http", "workers")
"""A running fake's settings a patch cannot change: its identity, its sockets and its journal's storage."""


class FakeConfig(_Model):
    """One fake upstream provider: identity, models, reply behaviour, latency, faults and journal."""

    name: str = Field(default="", description="defaults to the provider name")
    provider: Provider = "openai"
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535, description="0 picks a free port")
    workers: int = Field(default=1, ge=1, le=64, description=(
        "processes serving this fake on one port (SO_REUSEPORT), sharing one journal, control plane, fault counters "
        "and rate limits; 1 serves it in the starting process (docs/fakes.md, 'Several worker processes')"))
    seed: int = 0
    models: list[ModelSpec] = Field(default_factory=list)
    reply: ReplySpec = ReplySpec()
    latency: LatencySpec = LatencySpec()
    faults: list[FaultRule] = Field(default_factory=list)
    tokenizer: Literal["approx", "cl100k"] = "approx"
    api_keys: list[str] | None = Field(default=None, description="accepted keys; None accepts any non-empty key")
    max_body_bytes: int | None = Field(default=None, ge=1, description="defaults to the provider's limit")
    control_token: str | None = Field(default=None, min_length=8, description=(
        "when set, the control API (except health) answers only requests with header "
        "x-gatedrill-control-token: TOKEN; the default (None) relies on the loopback bind"))
    journal: JournalSpec = JournalSpec()
    http: HttpLimits = HttpLimits()

    @model_validator(mode="after")
    def _defaults(self) -> FakeConfig:
        if not self.name:
            self.name = self.provider
        if not self.models:
            self.models = [ModelSpec(**m) for m in _DEFAULT_MODELS[self.provider]]
        if self.max_body_bytes is None:
            self.max_body_bytes = _DEFAULT_BODY_LIMIT[self.provider]
        ids = [m.id for m in self.models]
        if len(set(ids)) != len(ids):
            raise ValueError("model ids must be unique")
        return self

    def model(self, model_id: str) -> ModelSpec | None:
        for m in self.models:
            if m.id == model_id:
                return m
        return None


class FakesFile(_Model):
    """A YAML file that starts several named fakes, each on its own port."""

    fakes: list[FakeConfig]

    @model_validator(mode="after")
    def _unique(self) -> FakesFile:
        names = [f.name for f in self.fakes]
        if len(set(names)) != len(names):
            raise ValueError("fake names must be unique")
        return self


def format_validation_error(exc: ValidationError, source: str = "") -> str:
    """One readable line per problem: where (key path) and what is expected."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; unknown keys are errors, not ignored)"
        lines.append(f"{source}{': ' if source else ''}{loc}: {msg}")
    return "\n".join(lines)


def load_fakes_file(path: str | Path) -> list[FakeConfig]:
    """Load fakes from YAML: either a single fake mapping or {fakes: [...]}."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such file") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping with `fakes:` or one fake's settings")
    try:
        if "fakes" in data:
            return FakesFile.model_validate(data).fakes
        return [FakeConfig.model_validate(data)]
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(p))) from None


def with_overrides(config: FakeConfig, overrides: dict[str, Any]) -> FakeConfig:
    """`config` with top-level settings replaced (a merge patch), validated again; ConfigError if that breaks it."""
    if not overrides:
        return config
    try:
        return FakeConfig.model_validate(merge_patch(config.model_dump(mode="json"), overrides))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge, null deletes, anything else replaces.

    One exception: an object naming its variant (`dist:` or `kind:`) replaces the old value whole, so
    switching a latency from fixed to uniform leaves no stale `value` behind.
    """
    if not isinstance(patch, dict) or "dist" in patch or "kind" in patch:
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result
