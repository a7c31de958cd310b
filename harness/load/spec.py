"""The load a scenario drives through the gateway: an arrival schedule (open model) or a fixed concurrency
(closed model), and the mix of requests each arrival sends."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gatedrill.fakes.distributions import Distribution, Fixed


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Constant(_Strict):
    """Evenly spaced arrivals at `rate` per second."""

    profile: Literal["constant"]
    rate: float = Field(gt=0)


class Poisson(_Strict):
    """Exponential gaps with mean 1/rate (seeded)."""

    profile: Literal["poisson"]
    rate: float = Field(gt=0)


class Ramp(_Strict):
    """Rate rising (or falling) linearly from `from_rate` to `to_rate` over the run; Poisson arrivals."""

    profile: Literal["ramp"]
    from_rate: float = Field(ge=0)
    to_rate: float = Field(ge=0)


class Step(_Strict):
    rate: float = Field(ge=0)
    duration_s: float = Field(gt=0)


class Steps(_Strict):
    """Piecewise-constant rates, in order; the last step holds until the end."""

    profile: Literal["steps"]
    steps: list[Step] = Field(min_length=1)


class Spike(_Strict):
    """`base_rate`, jumping to `spike_rate` from `at_s` for `duration_s`."""

    profile: Literal["spike"]
    base_rate: float = Field(ge=0)
    spike_rate: float = Field(gt=0)
    at_s: float = Field(ge=0)
    duration_s: float = Field(gt=0)


class Soak(_Strict):
    """A long constant Poisson load; the same as poisson, named for intent."""

    profile: Literal["soak"]
    rate: float = Field(gt=0)


Arrivals = Annotated[Constant | Poisson | Ramp | Steps | Spike | Soak, Field(discriminator="profile")]


class RequestMix(_Strict):
    """What each arrival sends. A session of N turns resends the full history it received, as clients do."""

    model: str = Field(default="drill", min_length=1, description="the model name requests ask the gateway for")
    turns: int = Field(default=1, ge=1, description="turns per session; 1 = single-shot requests")
    think_time_ms: Distribution = Fixed(value=0)
    stream_share: float = Field(default=0.0, ge=0, le=1)
    prompt_tokens: Distribution = Fixed(value=40)
    near_window_share: float = Field(default=0.0, ge=0, le=1, description="share of prompts sized near a window")
    near_window_tokens: int | None = Field(default=None, ge=1, description="the window those prompts approach")
    tools_share: float = Field(default=0.0, ge=0, le=1)
    max_tokens: int | None = Field(default=64, ge=1)
    system_prompt: str | None = "You are a helpful assistant."

    @model_validator(mode="after")
    def _near(self) -> RequestMix:
        if self.near_window_share > 0 and self.near_window_tokens is None:
            raise ValueError("near_window_share needs near_window_tokens (the window to approach)")
        return self


class LoadSpec(_Strict):
    mode: Literal["open", "closed"] = "open"
    arrivals: Arrivals | None = None
    concurrency: int | None = Field(default=None, ge=1, description="closed model: sessions in flight")
    mix: RequestMix = RequestMix()
    max_requests: int = Field(default=100_000, ge=1, description="hard bound on requests sent")
    max_in_flight: int = Field(default=1024, ge=1, description="open model: most sessions in flight at once; an "
                               "arrival that finds them all busy waits, and its lateness counts in its latency")
    request_timeout_s: float = Field(default=30, gt=0)
    control_share: float = Field(default=0.1, ge=0, lt=1, description="open model: the seeded share of arrivals "
                                 "also sent, identically and at the same time, straight to a control fake "
                                 "(bypassing the gateway); `overhead` judges the gateway against it. 0: no control")

    @model_validator(mode="after")
    def _shape(self) -> LoadSpec:
        if self.mode == "open" and self.arrivals is None:
            raise ValueError("open load needs `arrivals` (e.g. {profile: poisson, rate: 50})")
        if self.mode == "closed" and self.concurrency is None:
            raise ValueError("closed load needs `concurrency`")
        return self
