"""Fault specs, the triggers that select them, and the runtime plan that decides per request.

A fault is provider-neutral (an HTTP status, a transport failure, a stream cut); each provider renders it
in its own wire format. Rules are checked in order and the first whose trigger matches applies. A request
can also force a fault with the `x-gatedrill-fault` header: the name of a rule, or an inline fault as JSON.
"""

from __future__ import annotations

import fnmatch
import random
import re
import time
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from .conversation import ChatRequest


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)  # "500" is not a status


class HttpError(_Spec):
    """An HTTP error in the provider's own envelope; type/code/message default per provider and status."""

    kind: Literal["http_error"]
    status: int = Field(ge=400, le=599)
    error_type: str | None = None
    code: str | None = None
    message: str | None = None
    retry_after: float | None = Field(default=None, ge=0, le=86_400,
                                      description="seconds; sets retry-after and retry-after-ms")


class Hang(_Spec):
    """Accept the request and send nothing until the client gives up (or max_seconds pass, then close)."""

    kind: Literal["hang"]
    max_seconds: float = Field(default=600, gt=0, le=86_400)


class Reset(_Spec):
    """Reset the TCP connection (RST) before any response byte."""

    kind: Literal["reset"]


class _AfterChunks(_Spec):
    after_chunks: int = Field(default=3, ge=0, description="content chunks sent before the fault")


class ResetMidStream(_AfterChunks):
    """Send the 200 and some of the body, then reset the connection."""

    kind: Literal["reset_mid_stream"]


class Truncate(_AfterChunks):
    """End the body cleanly but early: no [DONE] / message_stop, or fewer bytes than Content-Length."""

    kind: Literal["truncate"]


class Malformed(_AfterChunks):
    """Emit bytes that are not valid JSON (non-stream) or not valid SSE/JSON (stream)."""

    kind: Literal["malformed"]


class StreamError(_AfterChunks):
    """A provider error event after the 200 (Anthropic `event: error`, OpenAI `data: {"error": ...}`)."""

    kind: Literal["stream_error"]
    status: int = Field(default=529, ge=400, le=599,
                        description="selects the error type, e.g. 529 overloaded, 500 api_error")
    message: str | None = None


class SlowDrip(_Spec):
    """Deliver the response a few bytes at a time, with a pause between writes."""

    kind: Literal["slow_drip"]
    chunk_bytes: int = Field(default=16, ge=1)
    interval_ms: float = Field(default=50, ge=0, le=60_000)


class Delay(_Spec):
    """Add latency before the first byte, on top of the latency model."""

    kind: Literal["delay"]
    ms: float = Field(ge=0, le=3_600_000)


class CloseMidStream(_AfterChunks):
    """Send the 200 and some content, then close the connection (FIN) without the stream's terminator or the
    chunked body's last chunk: the client sees a body that stops, not a reset."""

    kind: Literal["close_mid_stream"]


class ErrorOnlyStream(_Spec):
    """A 200 stream whose only message is the provider's error event (no start, no content, no end)."""

    kind: Literal["error_only_stream"]
    status: int = Field(default=529, description="selects the error type, as for stream_error")
    message: str | None = None


class Stall(_Spec):
    """Send no bytes for `seconds`, then carry on: before the status line and headers (`after_chunks` unset),
    or after the headers and `after_chunks` content chunks (0: after the headers and any event before content)."""

    kind: Literal["stall"]
    seconds: float = Field(gt=0)
    after_chunks: int | None = Field(default=None, ge=0)


class ContentFilter(_AfterChunks):
    """The provider's content filter: `prompt` blocks the request as the provider does (Azure 400
    content_filter, Gemini 200 promptFeedback.blockReason, ...); `completion` stops the reply after
    `after_chunks` chunks with the provider's content-filter stop reason."""

    kind: Literal["content_filter"]
    stage: Literal["prompt", "completion"] = "prompt"


Fault = Annotated[
    HttpError | Hang | Reset | ResetMidStream | Truncate | Malformed | StreamError | SlowDrip | Delay
    | CloseMidStream | ErrorOnlyStream | Stall | ContentFilter,
    Field(discriminator="kind"),
]
FAULT_ADAPTER: TypeAdapter[Fault] = TypeAdapter(Fault)


class Trigger(_Spec):
    """When a rule fires. Every condition given must hold; none given means every request."""

    probability: float | None = Field(default=None, ge=0, le=1)
    first_n: int | None = Field(default=None, ge=1, description="the first N matching requests, then recover")
    every_nth: int | None = Field(default=None, ge=1)
    start_s: float | None = Field(default=None, ge=0, description="seconds after the rule was installed")
    end_s: float | None = Field(default=None, gt=0)
    model: str | None = Field(default=None, description="glob on the requested model")
    content: str | None = Field(default=None, description="regex searched in the last user message")
    turn: int | None = Field(default=None, ge=1)
    header_only: bool = Field(default=False, description="fire only when x-gatedrill-fault names this rule")

    @model_validator(mode="after")
    def _check(self) -> Trigger:
        if self.start_s is not None and self.end_s is not None and self.end_s <= self.start_s:
            raise ValueError("end_s must be after start_s")
        if self.content is not None:
            try:
                re.compile(self.content)
            except re.error as exc:
                raise ValueError(f"content is not a valid regex: {exc}") from None
        return self


class FaultRule(_Spec):
    name: str | None = None
    fault: Fault
    when: Trigger = Trigger()


@dataclass(slots=True)
class _Armed:
    rule: FaultRule
    installed: float
    pattern: re.Pattern[str] | None
    seen: int = 0


class FaultPlan:
    """Runtime state of a list of fault rules: install times, match counters, a seeded coin."""

    def __init__(self, rules: list[FaultRule], seed: int, installed: float | None = None) -> None:
        now = time.monotonic() if installed is None else installed
        self._armed = [
            _Armed(r, now, re.compile(r.when.content) if r.when.content else None) for r in rules
        ]
        self._by_name = {r.name: r for r in rules if r.name}
        self._rng = random.Random(seed ^ 0x5EED_FA17)

    def __bool__(self) -> bool:
        return bool(self._armed)

    def choose(self, req: ChatRequest | None, model: str | None, forced: str | None) -> tuple[str | None, Fault | None]:
        """Return (rule name or kind, fault) for this request, or (None, None)."""
        if forced:
            rule = self._by_name.get(forced)
            if rule is not None:
                return forced, rule.fault
            fault = parse_inline_fault(forced)
            if fault is not None:
                return fault.kind, fault
        if not self._armed:
            return None, None
        now = time.monotonic()
        for i, armed in enumerate(self._armed):
            w = armed.rule.when
            if w.header_only:
                continue
            if w.start_s is not None and now - armed.installed < w.start_s:
                continue
            if w.end_s is not None and now - armed.installed >= w.end_s:
                continue
            if w.model is not None and not fnmatch.fnmatchcase(model or "", w.model):
                continue
            if armed.pattern is not None and (req is None or not armed.pattern.search(req.last_user_text)):
                continue
            if w.turn is not None and (req is None or req.turn != w.turn):
                continue
            seen = self._seen(i)
            if w.first_n is not None and seen > w.first_n:
                continue
            if w.every_nth is not None and seen % w.every_nth:
                continue
            if w.probability is not None and self._coin() >= w.probability:
                continue
            return armed.rule.name or armed.rule.fault.kind, armed.rule.fault
        return None, None

    def _seen(self, i: int) -> int:
        """Count one more request matching rule `i` and return its count (here: this process's own counter; a fake
        served by several processes counts in shared memory, `fakes.workers`)."""
        armed = self._armed[i]
        armed.seen += 1
        return armed.seen

    def _coin(self) -> float:
        """The next draw of the plan's seeded coin, shared by every rule in the order requests reach them."""
        return self._rng.random()


def parse_inline_fault(text: str) -> Fault | None:
    """An inline fault from the x-gatedrill-fault header, or None if it is not valid JSON for one."""
    if not text.startswith("{"):
        return None
    try:
        return FAULT_ADAPTER.validate_json(text)
    except ValueError:
        return None
