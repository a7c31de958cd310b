"""The console's buttons and forms as typed requests, and the timeline action each one becomes.

A button never has a control path of its own: every request turns into the scenario's own `TimelineAction`
(set_faults, clear_faults, patch, set_weights, mark) and goes through `TimelineRunner.submit`, so what a person did
is recorded, judged and exported exactly as a scripted action would be.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from gatedrill.fakes.errors import ConfigError
from gatedrill.fakes.faults import FaultRule

from ..scenario import ClearFaults, Mark, MarkName, PatchUpstream, SetFaults, SetWeights, TimelineAction

RULE_PREFIX = "gameday-"  # fault rules set from the console are named gameday-KIND (journal entries carry it)


class _Form(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=200)


class _FaultForm(_Form):
    upstream: str
    probability: float = Field(default=1.0, gt=0, le=1, description="share of requests the fault hits")


class ErrorRate(_FaultForm):
    kind: Literal["error_rate"]
    status: int = Field(default=500, ge=400, le=599)


class Latency(_FaultForm):
    kind: Literal["latency"]
    ms: float = Field(default=2000, ge=0, le=600_000, description="added before the first byte")


class HangForm(_FaultForm):
    kind: Literal["hang"]
    seconds: float = Field(default=60, gt=0, le=3600, description="the longest a request hangs before closing")


class StreamBreak(_FaultForm):
    kind: Literal["stream_break"]
    how: Literal["reset_mid_stream", "close_mid_stream", "truncate", "stream_error"] = "reset_mid_stream"
    after_chunks: int = Field(default=3, ge=0, le=1000)


class RateLimit(_FaultForm):
    kind: Literal["rate_limit"]
    retry_after: float = Field(default=5, ge=0, le=3600, description="seconds the 429 tells the gateway to wait")


class Clear(_Form):
    kind: Literal["clear"]
    upstream: str


class Patch(_Form):
    kind: Literal["patch"]
    upstream: str
    patch: dict[str, Any] = Field(description="a JSON merge patch of the fake's settings")


class Weights(_Form):
    kind: Literal["weights"]
    weights: dict[str, float] = Field(min_length=1)


class MarkForm(_Form):
    kind: Literal["mark"]
    mark: MarkName


ConsoleAction = Annotated[ErrorRate | Latency | HangForm | StreamBreak | RateLimit | Clear | Patch | Weights
                          | MarkForm, Field(discriminator="kind")]
_ADAPTER: TypeAdapter[ConsoleAction] = TypeAdapter(ConsoleAction)
FAULT_KINDS = ("error_rate", "latency", "hang", "stream_break", "rate_limit")


def _fault(form: _FaultForm) -> dict[str, Any]:
    if isinstance(form, ErrorRate):
        return {"kind": "http_error", "status": form.status}
    if isinstance(form, Latency):
        return {"kind": "delay", "ms": form.ms}
    if isinstance(form, HangForm):
        return {"kind": "hang", "max_seconds": form.seconds}
    if isinstance(form, StreamBreak):
        return {"kind": form.how, "after_chunks": form.after_chunks}
    if isinstance(form, RateLimit):
        return {"kind": "http_error", "status": 429, "retry_after": form.retry_after}
    raise AssertionError(form)  # pragma: no cover - every fault form is above


def timeline_action(data: Any, upstreams: list[str]) -> TimelineAction:
    """The timeline action a console request asks for (at_s 0: `submit` sets it). Raises ConfigError with one line
    that says what is wrong (unknown upstream, a value out of range, a bad patch)."""
    try:
        form = _ADAPTER.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{where + ': ' if where else ''}{first['msg']}") from None
    named = [form.upstream] if isinstance(form, _FaultForm | Clear | Patch) else list(getattr(form, "weights", {}))
    unknown = [n for n in named if n not in upstreams]
    if unknown:
        raise ConfigError(f"unknown upstream {unknown[0]!r}; this session has {', '.join(upstreams)}")
    note = form.note or None
    if isinstance(form, _FaultForm):
        when = {} if form.probability >= 1 else {"probability": form.probability}
        try:
            rule = FaultRule.model_validate({"name": RULE_PREFIX + form.kind, "fault": _fault(form), "when": when},
                                            strict=False)
        except ValidationError as exc:
            raise ConfigError(f"fault: {exc.errors()[0]['msg']}") from None
        return SetFaults(at_s=0, action="set_faults", upstream=form.upstream, faults=[rule], note=note)
    if isinstance(form, Clear):
        return ClearFaults(at_s=0, action="clear_faults", upstream=form.upstream, note=note)
    if isinstance(form, Patch):
        return PatchUpstream(at_s=0, action="patch", upstream=form.upstream, patch=form.patch, note=note)
    if isinstance(form, Weights):
        return SetWeights(at_s=0, action="set_weights", weights=form.weights, note=note)
    return Mark(at_s=0, action="mark", mark=form.mark, note=note)
