"""The reference gateway's deliberate bugs (mutants), as small hooks on its normal path.

Each hook is the identity for the correct gateway. A mutant changes exactly one, the way a real gateway
gets it wrong, so that each bug is caught by the checks that judge that property and by no other:

- `ignore_weights`: every target with a weight gets an equal share (a shuffle that forgot the weights);
- `never_cooldown`: the circuit breaker never opens;
- `drop_history_on_switch`: when a session moves to another upstream, only the system prompt and the last
  user turn are sent (a per-upstream conversation cache that starts empty);
- `truncate_over_window`: a prompt that does not fit is cut (oldest turns first) instead of falling back;
- `rate_limit_to_500`: an upstream 429 reaches the client as a 500, without retry-after;
- `lose_stream_tail`: the last content chunk and the finish chunk are dropped, and the stream still ends
  with `[DONE]`, as if complete;
- `retry_storm`: retries go out at once, ignoring retry-after and backoff, and three times as many;
- `duplicate_requests`: every upstream attempt is sent twice; the copy's answer is thrown away;
- `slow_path`: every request waits `SLOW_PATH_S` before it is relayed (a release that put a blocking call on the
  hot path): overhead grows, nothing else changes.
"""

from __future__ import annotations

from typing import Any

from ..intent import CooldownPolicy, Target
from .errors import ClientError
from .streams import OutEvent
from .tokens import prompt_tokens

SLOW_PATH_S = 0.1


class Hooks:
    """The hooks, configured for one mutant (or none)."""

    def __init__(self, mutant: str | None) -> None:
        self.mutant = mutant

    def weights(self, targets: list[Target]) -> list[float]:
        if self.mutant == "ignore_weights":
            return [1.0 if t.weight > 0 else 0.0 for t in targets]
        return [t.weight for t in targets]

    def cooldown(self, policy: CooldownPolicy) -> CooldownPolicy:
        if self.mutant == "never_cooldown":
            return policy.model_copy(update={"enabled": False})
        return policy

    def history(self, messages: list[dict[str, Any]], switched: bool) -> list[dict[str, Any]]:
        if self.mutant != "drop_history_on_switch" or not switched:
            return messages
        last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=0)
        system = [m for m in messages[:last_user] if m.get("role") in ("system", "developer")]
        return system + messages[last_user:]

    @property
    def truncates(self) -> bool:
        return self.mutant == "truncate_over_window"

    def client_error(self, err: ClientError) -> ClientError:
        if self.mutant == "rate_limit_to_500" and err.status == 429:
            return ClientError(500, "Internal server error", "server_error", None)
        return err

    def retry_wait(self, wait: float | None) -> float | None:
        """Seconds before a retry on the same upstream; None means do not retry there."""
        return 0.0 if self.mutant == "retry_storm" else wait

    def attempts(self, attempts: int) -> int:
        return attempts * 3 if self.mutant == "retry_storm" else attempts

    @property
    def duplicates(self) -> bool:
        return self.mutant == "duplicate_requests"

    @property
    def added_delay_s(self) -> float:
        return SLOW_PATH_S if self.mutant == "slow_path" else 0.0

    def stream_tail(self) -> StreamTail:
        return LoseStreamTail() if self.mutant == "lose_stream_tail" else StreamTail()


class StreamTail:
    """Passes client stream events through unchanged."""

    def feed(self, ev: OutEvent) -> list[bytes]:
        return [ev.data]


class LoseStreamTail(StreamTail):
    """Holds each content chunk back by one; at the finish chunk drops it, the finish and any usage."""

    def __init__(self) -> None:
        self._held: OutEvent | None = None
        self._cut = False

    def feed(self, ev: OutEvent) -> list[bytes]:
        if ev.kind == "done":
            return [ev.data]
        if self._cut:
            return []
        if ev.kind == "finish":
            self._cut, self._held = True, None
            return []
        out = [self._held.data] if self._held is not None else []
        self._held = None
        if ev.kind == "content":
            self._held = ev
        else:
            out.append(ev.data)
        return out


def truncate_to_fit(body: dict[str, Any], budget: int, provider: str) -> list[dict[str, Any]]:
    """The messages cut to fit `budget` prompt tokens: oldest turns first, then the last message's text."""
    messages = list(body.get("messages") or [])
    system = [m for m in messages if m.get("role") in ("system", "developer")]
    rest = [m for m in messages if m.get("role") not in ("system", "developer")]

    def size(msgs: list[dict[str, Any]]) -> int:
        return prompt_tokens({**body, "messages": system + msgs}, provider)

    while len(rest) > 1 and (size(rest) > budget or rest[0].get("role") != "user"):
        rest.pop(0)
    if rest and size(rest) > budget and isinstance(rest[-1].get("content"), str):
        text = rest[-1]["content"]
        lo, hi = 0, len(text)
        while lo < hi:  # the longest tail of the text that fits
            mid = (lo + hi + 1) // 2
            if size([*rest[:-1], {**rest[-1], "content": text[-mid:]}]) <= budget:
                lo = mid
            else:
                hi = mid - 1
        rest[-1] = {**rest[-1], "content": text[len(text) - lo:] or "."}
    return system + rest
