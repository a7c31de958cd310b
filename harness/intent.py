"""The routing intent a scenario declares for the gateway under test, independent of any gateway's syntax.

The reference gateway executes it directly; adapters for real gateways (LiteLLM, Portkey, nginx) translate
it into their own configuration and report what they cannot express.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Mutant = Literal[
    "ignore_weights",  # routes uniformly whatever the weights say
    "never_cooldown",  # keeps sending to a failing upstream
    "drop_history_on_switch",  # sends only the last user turn when a session changes upstream
    "truncate_over_window",  # silently cuts prompts to fit instead of falling back
    "rate_limit_to_500",  # turns an upstream 429 into a client 500
    "lose_stream_tail",  # drops the last chunks and the finish of a stream, ends it cleanly
    "retry_storm",  # retries immediately, ignoring retry-after and backoff
    "duplicate_requests",  # sends every request upstream twice
    # bugs real gateways shipped (the public report each is modelled on is in harness/reference/mutants.py)
    "retry_after_dropped",  # relays an upstream 429 without its retry-after
    "cooling_429_without_retry_after",  # its own "all upstreams cooling" 429/503 says nothing of when to return
    "no_attempt_timeout",  # never times an attempt out: a silent upstream holds the request
    "empty_tool_turn",  # sends an assistant tool-call turn to Anthropic as empty content, without tools
    "stream_break_as_clean_end",  # ends a stream the upstream broke with finish_reason stop and [DONE]
    "readmit_without_probe",  # after a cooldown, full traffic returns at once (no half-open probe)
    "drop_system_prompt",  # forgets to hoist system messages into Anthropic's `system`
    "fallback_ignored",  # never tries the declared fallbacks
    "commit_on_first_byte",  # commits to a stream before any content, so a pre-content break is not failed over
    "stay_failed_over",  # never probes an upstream its breaker took out, so traffic never returns
    "stringify_tool_args",  # sends tool-call arguments to Gemini/Bedrock as a JSON string, not an object
    "duplicate_stream_chunk",  # sends one content chunk of every stream twice
    "drop_streamed_tool_args",  # drops streamed tool-call argument fragments after a call's opening chunk
    "stop_for_tool_calls",  # ends a Gemini stream that called a tool with finish_reason stop
    "slow_path",  # waits 100 ms on every request before relaying it (a blocking call on the hot path)
    "ignore_failures_after_reload",  # counts no breaker failure for 5 s after a weight change: late rollback
    "restart_streams_on_reload",  # a weight change replays open streams on the new route, splicing the replies
    "cooldown_on_first_failure",  # its breaker opens on the first failure, not after the declared threshold
]
MUTANTS: tuple[str, ...] = Mutant.__args__  # type: ignore[attr-defined]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Target(_Strict):
    """One weighted destination: an upstream (a fake's name) and the model to ask it for."""

    upstream: str
    model: str
    weight: float = Field(default=1.0, ge=0)


class RetryPolicy(_Strict):
    attempts: int = Field(default=2, ge=1, description="attempts per target, the first included")
    backoff_ms: float = Field(default=100, ge=0, description="wait before a retry when no retry-after is given")
    honor_retry_after: bool = True
    max_retry_after_s: float = Field(default=5.0, ge=0, description="longer waits go to the next target instead")
    retry_on: list[int] = Field(default_factory=lambda: [408, 429, 500, 502, 503, 504, 529])


class CooldownPolicy(_Strict):
    """A circuit breaker per upstream: after `failures` failures within `window_s` it is out for `cooldown_s`,
    then one probe request decides whether it comes back."""

    enabled: bool = True
    failures: int = Field(default=3, ge=1)
    window_s: float = Field(default=10, gt=0)
    cooldown_s: float = Field(default=5, gt=0)


class RoutingIntent(_Strict):
    targets: list[Target] = Field(min_length=1)
    sticky: Literal["none", "session"] = Field(default="none", description="keep a session on one target")
    fallbacks: list[str] = Field(default_factory=list, description="upstreams to try, in order, when a target fails")
    retry: RetryPolicy = RetryPolicy()
    cooldown: CooldownPolicy = CooldownPolicy()
    context_window_fallbacks: dict[str, str] = Field(
        default_factory=dict, description="upstream -> upstream with a larger window, for prompts that do not fit")
    allow_truncation: bool = Field(default=False, description="may the gateway cut prompts that do not fit?")
    timeout_s: float = Field(default=30, gt=0, description="per upstream attempt")
    public_model: str = Field(default="drill", description="the model name clients send to the gateway")

    def upstream_weights(self) -> dict[str, float]:
        """Each target upstream's weight (summed over its targets): what a timeline set_weights updates."""
        out: dict[str, float] = {}
        for t in self.targets:
            out[t.upstream] = out.get(t.upstream, 0.0) + t.weight
        return out

    @model_validator(mode="after")
    def _weights(self) -> RoutingIntent:
        if sum(t.weight for t in self.targets) <= 0:
            raise ValueError("at least one target needs a weight above 0")
        return self

    def upstreams(self) -> set[str]:
        names = {t.upstream for t in self.targets} | set(self.fallbacks)
        names |= set(self.context_window_fallbacks) | set(self.context_window_fallbacks.values())
        return names


class UpstreamEndpoint(_Strict):
    """Where a gateway reaches one upstream (a running fake), and what it knows about its models."""

    name: str
    provider: Literal["openai", "anthropic", "gemini", "azure", "bedrock"]
    base_url: str = Field(description="origin, e.g. http://127.0.0.1:PORT (no /v1)")
    api_key: str = "sk-gatedrill"
    context_windows: dict[str, int] = Field(default_factory=dict, description="model -> window, for pre-call checks")


PHASED_CHECKS = frozenset({"rollback"})  # checks that judge each fault window on its own


class Limitation(BaseModel):
    """One intent the gateway cannot express (an adapter's finding, or what the owner of a url gateway declares).
    Checks named in `checks` are judged as expected to fail (XFAIL). With `phases`, only the fault windows whose
    timeline note is listed are: the check judges every other window as usual, so one missing capability does not
    hide the rest of a drill."""

    model_config = ConfigDict(extra="forbid")

    feature: str = Field(description='e.g. "cooldown", "sticky", "honor_retry_after", "context_window_fallbacks"')
    reason: str = Field(description="one line: why, on this gateway")
    checks: list[str] = Field(description="checks whose verdict it affects")
    phases: list[str] = Field(default_factory=list, description=(
        "fault windows it is confined to, by their timeline `note` (rollback only); empty: the whole check"))

    @model_validator(mode="after")
    def _phased(self) -> Limitation:
        other = sorted(set(self.checks) - PHASED_CHECKS)
        if self.phases and other:
            raise ValueError(f"limitation {self.feature!r}: `phases` apply to {', '.join(sorted(PHASED_CHECKS))} "
                             f"only, not {', '.join(other)}")
        return self

    def line(self) -> str:
        where = f" in {', '.join(repr(p) for p in self.phases)}" if self.phases else ""
        return f"{self.feature}: {self.reason}" + (f" (affects {', '.join(self.checks)}{where})" if self.checks
                                                   else "")

    def covers(self, check: str, phase: str | None = None) -> bool:
        """Does it predict a failure of `check` (in the fault window noted `phase`, for a phased check)?"""
        if check not in self.checks:
            return False
        return not self.phases or (phase is not None and phase in self.phases)

    @classmethod
    def parse(cls, text: str) -> Limitation:
        """`FEATURE=CHECK[,CHECK...][@PHASE]`, as `--limitation` takes it."""
        feature, eq, rest = text.partition("=")
        checks, _, phase = rest.partition("@")
        names = [c.strip() for c in checks.split(",") if c.strip()]
        if not eq or not feature.strip() or not names:
            raise ValueError(f"--limitation {text!r}: expected FEATURE=CHECK[,CHECK...][@PHASE], e.g. "
                             "attempt_timeout=rollback@primary hangs")
        return cls(feature=feature.strip(), reason="declared with --limitation", checks=names,
                   phases=[phase.strip()] if phase.strip() else [])
